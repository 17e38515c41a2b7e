"""The sections of a failed partition test's pytest report.

In the order a reader needs them: the verdict, the smallest failing piece of
history, the faults around it, nodes that exited, each node's log tail, where
the artifacts are, and the command that replays the test. Long texts are
trimmed here; the artifacts hold everything.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from ..cluster import Cluster
from ..faults import faults_around
from .analysis import Analysis

__all__ = ["MAX_SECTION_LINES", "replay_command", "replay_text", "report_sections"]

MAX_SECTION_LINES = 30


def _trim(lines: Sequence[str], limit: int = MAX_SECTION_LINES) -> str:
    if len(lines) <= limit:
        return "\n".join(lines)
    return "\n".join([*lines[:limit], f"... {len(lines) - limit} more lines in the artifacts"])


def report_sections(analyses: Sequence[tuple[Cluster, Analysis]], *, artifacts: Path | None,
                    replay: str, assertion_shown: bool = True) -> list[tuple[str, str]]:
    """The sections of a failed test's report, in the order a reader needs them.

    When a run's ``assert_cp()``/``assert_ap()`` failed, its message already
    says the verdict, the blamed operations and the faults around them: they
    are not said again, unless pytest does not show that message
    (``assertion_shown=False``: an expected failure), when it is a section.
    """
    sections: list[tuple[str, str]] = []
    for cluster, analysis in analyses:
        suffix = f" ({cluster.workdir.name})" if len(analyses) > 1 else ""
        raised = analysis.run.raised if analysis.run is not None else None
        if raised is not None and not assertion_shown:
            sections.append((f"partition: assertion{suffix}", _trim(raised.splitlines())))
        if any(analysis.counts.values()) and raised is None:
            sections.extend(_findings(analysis, suffix))
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


def _findings(analysis: Analysis, suffix: str) -> list[tuple[str, str]]:
    """The verdict, the smallest failing piece, and the faults around it."""
    sections = [(f"partition: verdict{suffix}", analysis.verdict.sentence)]
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
    return sections


def replay_command(nodeid: str, seed: int, schedule: Path | None = None) -> str:
    """The command line that runs this test again with the same seed (and faults)."""
    command = f"pytest {shlex.quote(nodeid)} --partition-seed={seed}"
    if schedule is not None:
        command += f" --partition-replay={shlex.quote(str(schedule))}"
    return command


def replay_text(nodeid: str, seed: int, schedule: Path | None = None) -> str:
    """The replay command, and what it can and cannot repeat."""
    fixed = ("The seed fixes each worker's operations and the replay the faults"
             if schedule is not None else
             "The seed fixes the fault schedule and each worker's operations")
    return "\n".join([
        replay_command(nodeid, seed, schedule),
        f"{fixed}; neither can fix thread timing, so a timing bug may need several runs:",
        "with pytest-repeat installed, add --count=20 to run the test 20 times.",
    ])
