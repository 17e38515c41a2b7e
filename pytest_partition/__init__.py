"""pytest-partition: partition fault testing as a pytest plugin."""

from __future__ import annotations

from .history import Event, History, HistoryError, Operation

__all__ = [
    "Event",
    "History",
    "HistoryError",
    "Operation",
]
