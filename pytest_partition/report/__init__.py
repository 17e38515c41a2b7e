"""Reports of a recorded history: the self-contained HTML timeline.

``write_timeline(history, "timeline.html", blamed=result.culprits)`` writes one
file with inline CSS and JavaScript that opens from the file system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .timeline import render_timeline, write_timeline

__all__ = ["render_timeline", "write_timeline"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `python -m pytest_partition.report.timeline`
    # does not find its own module already imported by this package.
    if name in __all__:
        from . import timeline

        return getattr(timeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
