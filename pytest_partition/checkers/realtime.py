"""Real-time order between operations: the one rule every checker shares.

Operation A *precedes* B when A completed before B was invoked. Times come
from one monotonic clock, and event indexes break ties: in a recorded
:class:`~pytest_partition.history.History` the index order is the time order,
and a Jepsen file without ``:time`` still has its lines in order. Operations
that do not precede each other either way are *concurrent*. An operation with
no end (``info``, or never completed) precedes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..history import History, Operation

__all__ = ["Moment", "call_moment", "concurrent", "operations_of", "precedes", "return_moment"]

Moment = tuple[float, int]
"""A point in the history: (time in ns, event index)."""

FOREVER: Moment = (float("inf"), 0)


def call_moment(op: Operation) -> Moment:
    """When the operation was invoked."""
    return (op.start, op.invoke_index)


def return_moment(op: Operation) -> Moment:
    """When the operation completed; :data:`FOREVER` if it never did (or ``info``)."""
    if op.end is None:
        return FOREVER
    return (op.end, op.complete_index if op.complete_index is not None else op.invoke_index)


def precedes(a: Operation, b: Operation) -> bool:
    """True when ``a`` completed strictly before ``b`` was invoked."""
    return return_moment(a) < call_moment(b)


def concurrent(a: Operation, b: Operation) -> bool:
    """True when neither operation precedes the other."""
    return not precedes(a, b) and not precedes(b, a)


def operations_of(history: History | Iterable[Operation]) -> list[Operation]:
    """The operations of a History (paired events), or a list of operations as given.

    Raises :class:`~pytest_partition.history.HistoryError` for a history that
    cannot be paired, and :class:`TypeError` for anything that is neither.
    """
    if isinstance(history, History):
        return history.operations()
    ops: list[Any] = list(history)
    for op in ops:
        if not isinstance(op, Operation):
            raise TypeError(
                f"expected a History or a list of Operation, got an item {type(op).__name__}"
            )
    return ops
