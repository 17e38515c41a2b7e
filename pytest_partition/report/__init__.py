"""The report layer: what a partition test leaves behind.

- :mod:`.analysis`: the checks of a cluster's history, done once per test;
- :mod:`.sections`: the sections of a failed test's pytest report;
- :mod:`.artifacts`: the artifacts folder (history, timeline, result.json);
- :mod:`.summary`: the terminal summary table;
- :mod:`.timeline`: the self-contained HTML timeline of a history.

``write_timeline(history, "timeline.html", blamed=result.culprits)`` writes one
file with inline CSS and JavaScript that opens from the file system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..run import RunResult
from .analysis import Analysis, analyse
from .artifacts import artifact_dir_name, write_artifacts, write_run_timeline
from .sections import replay_command, replay_text, report_sections
from .summary import summary_lines, summary_row

if TYPE_CHECKING:
    from .timeline import render_timeline, write_timeline

# The run layer does not import the one below it: a run's timeline is drawn
# by the writer this layer gives it.
RunResult.timeline_writer = write_run_timeline

__all__ = ["Analysis", "analyse", "artifact_dir_name", "render_timeline", "replay_command",
           "replay_text", "report_sections", "summary_lines", "summary_row", "write_artifacts",
           "write_run_timeline", "write_timeline"]


def __getattr__(name: str) -> Any:
    # The timeline is imported on first use, so that `python -m
    # pytest_partition.report.timeline` does not find its own module already
    # imported by this package.
    if name in ("render_timeline", "write_timeline"):
        from . import timeline

        return getattr(timeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
