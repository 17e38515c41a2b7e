"""What a partition test leaves behind: its verdict, report sections, artifacts.

The plugin calls :func:`analyse` once per cluster when a test ends, then
:func:`report_sections` for a failed test's pytest report, :func:`write_artifacts`
for the artifacts folder, and :func:`summary_row` for the terminal summary.
Long texts are trimmed here; the artifacts hold everything.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkers import Verdict, cap_verdict
from .history import Event, History, HistoryError, Operation

if TYPE_CHECKING:
    from .cluster import Cluster
    from .workload import RunResult

__all__ = ["Analysis", "analyse", "artifact_dir_name", "report_sections", "summary_row",
           "write_artifacts"]

MAX_SECTION_LINES = 30
REPORT_TIME_LIMIT = 10.0


@dataclass
class Analysis:
    """The checks of one cluster's history, for reports and artifacts."""

    history: History
    verdict: Verdict
    run: RunResult | None
    culprits: list[Operation] = field(default_factory=list)
    window: list[Operation] = field(default_factory=list)
    piece: str = ""

    @property
    def counts(self) -> dict[str, int]:
        tally = {"ok": 0, "fail": 0, "info": 0}
        for op in self.history.operations():
            if op.f not in ("ping", "state", "role", "stats"):
                tally[op.type] = tally.get(op.type, 0) + 1
        return tally

    def sides(self) -> str:
        """Availability per side of the partitions: ``{A,B} 100% | {C} 0%``, or,
        when a nemesis made many sides, their count and the lowest."""
        avail = self.verdict.details.get("availability")
        sides = [s for s in getattr(avail, "sides", None) or [] if s.tally.ok_share is not None]
        if not sides:
            return "-"
        if len(sides) > 3:
            worst = min(sides, key=lambda side: side.tally.ok_share)
            return f"{len(sides)} sides, lowest {worst.name} {worst.tally.ok_share:.0%}"
        return " | ".join(f"{side.name} {side.tally.ok_share:.0%}" for side in sides)


def analyse(cluster: Cluster) -> Analysis:
    """Check what the cluster recorded: the last run's result, or the whole history."""
    run = cluster.runs[-1] if cluster.runs else None
    lin: Any
    if run is not None:
        history, verdict = run.history, run.verdict
        lin = run.check_linearizable()
    else:
        history = cluster.history.snapshot()
        verdict = cap_verdict(history, time_limit=REPORT_TIME_LIMIT)
        lin = verdict.details.get("linearizable")
    analysis = Analysis(history=history, verdict=verdict, run=run)
    if lin is not None and getattr(lin, "valid", None) is False:
        analysis.culprits = list(lin.culprits)
        analysis.window = list(lin.window)
        analysis.piece = lin.explain()
    elif verdict.valid_ap is False:
        analysis.piece = verdict.explain()
    return analysis


def _trim(lines: Sequence[str], limit: int = MAX_SECTION_LINES) -> str:
    if len(lines) <= limit:
        return "\n".join(lines)
    return "\n".join([*lines[:limit], f"... {len(lines) - limit} more lines in the artifacts"])


def describe_fault(event: Event) -> str:
    """A fault event as one line: time, what, and the spec or node."""
    return f"{event.time / 1e6:9.1f} ms  {fault_words(event)}"


def fault_words(event: Event) -> str:
    """What a fault event did: ``partition A,B|C (A,B|C)``, ``kill n1``."""
    value = event.value
    what = event.f
    if isinstance(value, dict) and "spec" in value:
        resolved = value.get("resolved")
        what += f" {value['spec']}"
        if resolved and resolved != value["spec"]:
            what += f" ({resolved})"
        if value.get("kind", "drop") != "drop":
            what += f" [{value['kind']}]"
    elif event.node:
        what += f" {event.node}"
    elif isinstance(value, dict) and "ms" in value:
        what += f" {value['ms']:g} ms"
    return what


def faults_in_words(history: History) -> str | None:
    """The distinct faults a test applied itself (no heals), or None."""
    undo = {"heal", "resume", "restart"}
    seen = dict.fromkeys(fault_words(e) for e in history.faults()
                         if e.type != "invoke" and e.f not in undo)
    if not seen:
        return None
    words = list(seen)
    return ", ".join(words[:3]) + (f" and {len(words) - 3} more" if len(words) > 3 else "")


def faults_around(history: History, culprits: Sequence[Operation]) -> list[str]:
    """The fault events just before, during and after the blamed operations."""
    faults = history.faults()
    if culprits:
        start = min(op.start for op in culprits)
        end = max(op.end if op.end is not None else op.start for op in culprits)
        chosen = ([e for e in faults if e.time <= start][-2:]
                  + [e for e in faults if start < e.time <= end]
                  + [e for e in faults if e.time > end][:1])
    else:
        chosen = faults[-6:]
    return [describe_fault(event) for event in chosen]


def report_sections(analyses: Sequence[tuple[Cluster, Analysis]], *, artifacts: Path | None,
                    replay: str) -> list[tuple[str, str]]:
    """The sections of a failed test's report, in the order a reader needs them."""
    sections: list[tuple[str, str]] = []
    for cluster, analysis in analyses:
        suffix = f" ({cluster.workdir.name})" if len(analyses) > 1 else ""
        sections.append((f"partition: verdict{suffix}", analysis.verdict.sentence))
        if analysis.culprits or analysis.piece:
            lines = []
            if analysis.culprits:
                lines.append("operations that cannot be placed:")
                lines.extend(f"  {op.describe()}" for op in analysis.culprits)
                others = [op for op in analysis.window if op not in analysis.culprits]
                if others:
                    lines.append("concurrent with them:")
                    lines.extend(f"  {op.describe()}" for op in others)
            if analysis.piece:
                lines.append(analysis.piece)
            sections.append((f"partition: smallest failing piece{suffix}", _trim(lines)))
        around = faults_around(analysis.history, analysis.culprits)
        if around:
            sections.append((f"partition: faults around it{suffix}", _trim(around)))
        crashed = [f"node {name} exited on its own with code {node.exit_code} while the "
                   "test ran: calls to it were refused from then on (see its log below)"
                   for name, node in cluster.nodes.items() if node.exit_code is not None]
        if crashed:
            sections.append((f"partition: nodes that exited{suffix}", "\n".join(crashed)))
        for name, node in cluster.nodes.items():
            sections.append((f"partition: log of node {name} (last lines){suffix}",
                             node.log_tail() or "(empty)"))
    if artifacts is not None:
        sections.append(("partition: artifacts", str(artifacts)))
    sections.append(("partition: replay", replay))
    return sections


def replay_command(nodeid: str, seed: int) -> str:
    """The command line that runs this test again with the same seed."""
    return f"pytest {shlex.quote(nodeid)} --partition-seed={seed}"


def artifact_dir_name(nodeid: str) -> str:
    """A folder name for a test id: readable, safe on every file system, unique.

    The readable part loses characters (``[A,B|C]`` and ``[A|B,C]`` both
    read ``A_B_C``), so a short digest of the whole id keeps them apart.
    """
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", nodeid).strip("_")[-100:] or "test"
    return f"{name}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


def write_artifacts(directory: Path, cluster: Cluster, analysis: Analysis,
                    meta: dict[str, Any]) -> dict[str, Any]:
    """history.jsonl, timeline.html and result.json next to the node logs."""
    from .report import write_timeline

    directory.mkdir(parents=True, exist_ok=True)
    cluster.history.save(directory / "history.jsonl")
    files: dict[str, Any] = {"history": "history.jsonl",
                             "logs": [node.log_path.name for node in cluster.nodes.values()]}
    try:
        timeline = write_timeline(
            cluster.history, directory / "timeline.html",
            title=meta.get("test", ""), blamed=analysis.culprits,
            verdict=analysis.verdict.sentence, seed=meta.get("seed"), spec=meta.get("spec"))
        files["timeline"] = timeline.name
    except HistoryError as error:  # the history file above still tells everything
        files["timeline_error"] = str(error)
    result = {
        **meta,
        "counts": analysis.counts,
        "verdict": analysis.verdict.to_dict(),
        "files": files,
    }
    if analysis.run is not None:
        result["run"] = {"workload": analysis.run.workload, "nemesis": analysis.run.nemesis,
                         "duration": analysis.run.duration}
    (directory / "result.json").write_text(json.dumps(result, indent=2, default=repr) + "\n")
    return result


def _faults_column(analysis: Analysis, spec: str | None, nemesis: str | None) -> str:
    """What faults the test really applied: a run's or the marker's nemesis,
    else the faults in its history; a marker's spec never applied says so."""
    if analysis.run is not None and analysis.run.nemesis:
        return analysis.run.nemesis
    applied = faults_in_words(analysis.history)
    if applied:
        return nemesis or applied
    return f"{spec} (not applied)" if spec else "-"


def summary_row(nodeid: str, analysis: Analysis, *, spec: str | None,
                nemesis: str | None) -> dict[str, Any]:
    """One row of the terminal summary (JSON-ready, carried by the report)."""
    counts = analysis.counts
    return {
        "test": nodeid,
        "faults": _faults_column(analysis, spec, nemesis),
        "ops": f"{counts['ok']}/{counts['fail']}/{counts['info']}",
        "sides": analysis.sides(),
        "verdict": analysis.verdict.verdict,
    }
