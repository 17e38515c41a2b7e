"""``check_lost_updates``: does each register's final value come from a write
that nothing acknowledged came strictly after?

For last-writer-wins replicas sharing one clock (the reference store's AP mode
runs all nodes on one host, with hybrid logical clocks), a write invoked after
another write was acknowledged must win. So after the replicas converge, a
key's value must have been written by some write W (``ok`` or ``info``; a cas
that applied; a delete for None) such that no ``ok`` write of that key was
invoked after W completed. Anything else means an acknowledged write was lost
(or a value appeared from nowhere). Keys changed by ``incr``/``add``/``append``
are left to the counter check. A key a node does not hold reads as None.

This rule is stricter than "replicas agree" and looser than linearizability:
concurrent writes may resolve either way, as LWW allows. Clocks have a
resolution (the reference store's hybrid clock counts milliseconds, and two
nodes that cannot talk order writes of the same millisecond by node name),
so writes less than ``resolution_ms`` apart also count as concurrent.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..history import History, Operation, refuse_nan
from .explain import ms, who
from .model_base import DELETES, INCREMENTS, READS, WRITES, freeze, thaw
from .realtime import call_moment, operations_of, return_moment

__all__ = ["LostUpdatesResult", "check_lost_updates"]

_NOTHING = object()


@dataclass
class LostUpdatesResult:
    """Outcome of :func:`check_lost_updates`; ``errors`` holds one sentence per problem."""

    valid: bool
    keys_checked: int
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.valid

    def explain(self, *, max_errors: int = 5) -> str:
        """One line when valid; otherwise the lost writes."""
        if self.valid:
            return (f"no acknowledged write lost: the final value of each of "
                    f"{self.keys_checked} key(s) comes from one of its latest writes")
        lines = [f"acknowledged writes lost on {len(self.errors)} key/node pair(s):"]
        lines.extend(f"  {error}" for error in self.errors[:max_errors])
        if len(self.errors) > max_errors:
            lines.append(f"  ... and {len(self.errors) - max_errors} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        return {"checker": "lost-updates", "valid": self.valid,
                "keys_checked": self.keys_checked, "errors": self.errors,
                "text": self.explain()}


def _written(op: Operation) -> Any:
    if op.f in WRITES:
        return freeze(op.value)
    if op.f in DELETES:
        return None
    if op.f == "cas" and op.output is not False and isinstance(op.value, (list, tuple)):
        return freeze(op.value[1]) if len(op.value) == 2 else _NOTHING
    return _NOTHING


def check_lost_updates(
    history: History | Iterable[Operation], states: Mapping[str, Mapping[Any, Any]],
    *, resolution_ms: float = 2.0,
) -> LostUpdatesResult:
    """Check every register-like key's final value on every node (see module doc)."""
    refuse_nan(history)
    margin = resolution_ms * 1e6
    by_key: dict[Hashable, list[Operation]] = {}
    for op in operations_of(history):
        if op.type != "fail" and op.key is not None:
            by_key.setdefault(freeze(op.key), []).append(op)
    result = LostUpdatesResult(True, 0)
    for ops in by_key.values():
        if any(op.f in INCREMENTS or op.f == "append" for op in ops):
            continue
        writes = [op for op in ops if op.f not in READS and _written(op) is not _NOTHING]
        if not writes:
            continue
        result.keys_checked += 1
        acknowledged = [op for op in writes if op.type == "ok"]
        latest = max(acknowledged, key=call_moment, default=None)
        allowed = {_written(op) for op in writes
                   if latest is None or not _clearly_before(op, latest, margin)}
        if latest is None:
            allowed.add(None)  # nothing acknowledged: the key may still be unset
        key = ops[0].key
        for node, state in states.items():
            value = _final(state, key)
            if value not in allowed:
                result.errors.append(_story(key, str(node), value, writes, latest))
    result.valid = not result.errors
    return result


def _clearly_before(op: Operation, latest: Operation, margin: float) -> bool:
    """``op`` completed before ``latest`` was invoked, by more than the clock resolution."""
    return return_moment(op) < call_moment(latest) and (
        op.end is not None and op.end + margin < latest.start)


def _final(state: Any, key: Any) -> Hashable:
    try:
        return freeze(state.get(key))
    except (AttributeError, TypeError):  # not a mapping, or an unhashable key
        return None


def _story(key: Any, node: str, value: Hashable, writes: list[Operation],
           latest: Operation | None) -> str:
    shown = repr(thaw(value))
    if value is not None and not any(_written(op) == value for op in writes):
        return f"key {key!r} ends as {shown} on {node}, a value no operation wrote"
    assert latest is not None  # otherwise every written value would be allowed
    if value is None and not any(_written(op) is None for op in writes):
        return (f"key {key!r} is unset on {node}, but {latest.f} {latest.value!r} "
                f"({who(latest)}) was acknowledged at {ms(latest.end)}: that write was lost")
    return (
        f"key {key!r} ends as {shown} on {node}, but {latest.f} {latest.value!r} "
        f"({who(latest)}, ok at {ms(latest.end)}) was invoked after every write of {shown} "
        "had completed: that acknowledged write was lost"
    )
