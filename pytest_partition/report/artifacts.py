"""The artifacts folder of a partition test: history, timeline, result.json.

Each cluster of a test keeps its work dir (node logs, data dirs) under the
test's folder; :func:`write_artifacts` adds ``history.jsonl``,
``timeline.html`` and ``result.json`` beside them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cluster import Cluster
from ..history import HistoryError, Operation
from ..run import RunResult
from .analysis import Analysis

__all__ = ["artifact_dir_name", "write_artifacts", "write_run_timeline"]


#: Longest folder name for a test (file systems allow 255 bytes; keep room).
_NAME_CHARS = 100


def artifact_dir_name(nodeid: str) -> str:
    """A folder name for a test id: readable, safe on every file system, unique.

    The test's own name comes first and is kept whole when it fits; its file's
    name follows (folders left out), then a short digest of the whole id,
    since the readable part loses characters (``[A,B|C]`` and ``[A|B,C]``
    both read ``A_B_C``).
    """
    path, _, test = nodeid.partition("::")

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_")

    name, file = safe(test), safe(Path(path).name)
    if not name:
        name, file = file or "test", ""
    name = name[:_NAME_CHARS]
    room = _NAME_CHARS - len(name) - 2
    if file and room >= 8:
        name += "--" + file[:room]
    return f"{name}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


def write_artifacts(directory: Path, cluster: Cluster, analysis: Analysis,
                    meta: dict[str, Any]) -> dict[str, Any]:
    """history.jsonl, timeline.html and result.json next to the node logs."""
    from .timeline import write_timeline  # (on first use: see the package's __getattr__)

    directory.mkdir(parents=True, exist_ok=True)
    cluster.history.save(directory / "history.jsonl")
    files: dict[str, Any] = {"history": "history.jsonl",
                             "logs": [node.log_path.name for node in cluster.nodes.values()]}
    try:
        run = analysis.run
        timeline = write_timeline(
            cluster.history, directory / "timeline.html",
            title=meta.get("test", ""), blamed=analysis.culprits,
            verdict=analysis.verdict.sentence, seed=meta.get("seed"), spec=meta.get("spec"),
            states=run.judged_states if run is not None else None,
            convergence=_convergence_of(run) if run is not None else None)
        files["timeline"] = timeline.name
    except HistoryError as error:  # the history file above still tells everything
        files["timeline_error"] = str(error)
    except Exception as error:  # noqa: BLE001 - a drawing bug must not cost result.json
        files["timeline_error"] = f"{type(error).__name__}: {error}"
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


def write_run_timeline(result: RunResult, blamed: Sequence[Operation]) -> Path:
    """The timeline of one run, ``run-N-timeline.html`` in the cluster's work dir
    (:attr:`RunResult.timeline <pytest_partition.run.RunResult.timeline>`)."""
    from .timeline import write_timeline

    return write_timeline(
        result.history, result.workdir / f"run-{result.number}-timeline.html",
        title=f"{result.workload} run {result.number}", blamed=blamed,
        verdict=result.verdict.sentence, seed=result.seed, spec=result.nemesis,
        states=result.judged_states, convergence=_convergence_of(result))


def _convergence_of(result: RunResult) -> Any:
    """What the timeline shows of convergence: the verdict's check, else the text."""
    found = result.verdict.details.get("convergence")
    return found if found is not None and not found.valid else result.convergence
