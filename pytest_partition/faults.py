"""Fault events in words: what a nemesis or a test did to the cluster.

A fault is recorded in the history as a ``nemesis`` event (see
:mod:`pytest_partition.history`); reports and assertion messages describe it
with these helpers, so that every place says ``partition n1|n2,n3`` alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from .history import Event, History, Operation

__all__ = ["UNDO_FAULTS", "describe_fault", "fault_words", "faults_around", "faults_in_words"]

#: The fault events that end an earlier one.
UNDO_FAULTS = frozenset({"heal", "resume", "restart"})


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


def describe_fault(event: Event) -> str:
    """A fault event as one line: time, what, and the spec or node."""
    return f"{event.time / 1e6:9.1f} ms  {fault_words(event)}"


def faults_in_words(history: History) -> str | None:
    """The distinct faults a history records (not their undoing), or None."""
    seen = dict.fromkeys(fault_words(e) for e in history.faults()
                         if e.type != "invoke" and e.f not in UNDO_FAULTS)
    if not seen:
        return None
    words = list(seen)
    return ", ".join(words[:3]) + (f" and {len(words) - 3} more" if len(words) > 3 else "")


def faults_around(history: History, culprits: Sequence[Operation]) -> list[str]:
    """The fault events just before, during and after the blamed operations
    (the last few of the history when nothing is blamed), one line each."""
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
