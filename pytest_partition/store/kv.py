"""The key-value state machine that the CP store replicates.

``apply(state, command)`` is pure apart from mutating ``state``: the same
commands applied in the same order give the same state and the same results on
every replica, which is what Raft's state-machine safety needs. It never
raises; a command it cannot carry out yields an ``"invalid"`` :class:`ApplyResult`
and leaves ``state`` unchanged, so a rejected command is *deterministically* a
no-op on every replica.

Commands are JSON-ready dicts::

    {"op": "get", "key": k}
    {"op": "put", "key": k, "value": v}
    {"op": "cas", "key": k, "expected": e, "new": n}
    {"op": "incr", "key": k, "delta": d}
    {"op": "delete", "key": k}

Keys are strings or ints (``1`` and ``"1"`` are different keys); values are
any JSON value. Extra fields are ignored. Values are compared with Python's
``==`` (so ``cas`` treats ``1`` and ``1.0`` as equal), the same rule a history
checker written in Python applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["OPS", "ApplyResult", "Key", "apply", "is_read", "validate"]

Key: TypeAlias = str | int
"""The type of a key: a string or an int (never a bool)."""

OPS: tuple[str, ...] = ("get", "put", "cas", "incr", "delete")
"""Every operation a command may name."""

# The fields each op needs besides "op" itself.
_FIELDS: dict[str, tuple[str, ...]] = {
    "get": ("key",),
    "put": ("key", "value"),
    "cas": ("key", "expected", "new"),
    "incr": ("key", "delta"),
    "delete": ("key",),
}


@dataclass(frozen=True)
class ApplyResult:
    """What applying one command gave.

    ``status`` is ``"ok"`` (``value`` is the answer) or ``"invalid"`` (the
    command was rejected, ``reason`` says why, and the state did not change).
    """

    status: str
    value: Any = None
    reason: str = ""


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but True is not a counter value or a key.
    return isinstance(value, int) and not isinstance(value, bool)


def _json_problem(value: object, where: str, depth: int = 0) -> str | None:
    """Why ``value`` would not survive a JSON round trip, or None."""
    if depth > 64:
        return f"{where} is nested too deeply"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}: NaN and infinities are not values"
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _json_problem(item, where, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                return f"{where} has a non-string object key {name!r}"
            problem = _json_problem(item, where, depth + 1)
            if problem:
                return problem
        return None
    return f"{where} is not JSON-serializable ({type(value).__name__})"


def validate(command: object) -> str | None:
    """Why ``command`` is malformed, naming the bad part; None when it is well formed.

    Checks the shape only (op, required fields, key type, JSON values, an int
    ``delta``); whether an ``incr`` fits the current value is decided by
    :func:`apply`.
    """
    if not isinstance(command, Mapping):
        return f"command must be a dict, got {type(command).__name__}"
    if "op" not in command:
        return "missing field 'op'"
    op = command["op"]
    if not isinstance(op, str) or op not in _FIELDS:
        return f"unknown op {op!r} (expected one of {', '.join(OPS)})"
    for name in _FIELDS[op]:
        if name not in command:
            return f"missing field {name!r} for op {op!r}"
    key = command["key"]
    if not (isinstance(key, str) or _is_int(key)):
        return f"field 'key' must be a string or an int, got {type(key).__name__}"
    for name in _FIELDS[op][1:]:
        problem = _json_problem(command[name], f"field {name!r}")
        if problem:
            return problem
    if op == "incr" and not _is_int(command["delta"]):
        return f"field 'delta' must be an int, got {type(command['delta']).__name__}"
    return None


def is_read(command: Mapping[str, Any]) -> bool:
    """True for commands that only read (they never enter the log)."""
    return command.get("op") == "get"


def apply(state: dict[Key, Any], command: Mapping[str, Any]) -> ApplyResult:
    """Apply ``command`` to ``state`` in place and return its result; never raises.

    get -> the value, or None if missing; put -> True; cas -> True and set when
    the current value (None if missing) equals ``expected``, else False;
    incr -> the new int (missing counts as 0); delete -> True if the key
    existed. A malformed command, or an ``incr`` of a non-int value, gives an
    ``"invalid"`` result and leaves ``state`` unchanged.
    """
    problem = validate(command)
    if problem is not None:
        return ApplyResult("invalid", reason=problem)
    op = command["op"]
    key: Key = command["key"]
    if op == "get":
        return ApplyResult("ok", state.get(key))
    if op == "put":
        state[key] = command["value"]
        return ApplyResult("ok", True)
    if op == "cas":
        if state.get(key) == command["expected"]:
            state[key] = command["new"]
            return ApplyResult("ok", True)
        return ApplyResult("ok", False)
    if op == "incr":
        current = state.get(key, 0)
        if not _is_int(current):
            return ApplyResult(
                "invalid",
                reason=f"incr of key {key!r}: current value is not an int "
                f"({type(current).__name__})",
            )
        new = current + command["delta"]
        if not -(2**63) <= new < 2**63:
            # Every replica would then hold a value no reply can carry.
            return ApplyResult(
                "invalid", reason=f"incr of key {key!r}: {new} does not fit in 64 bits"
            )
        state[key] = new
        return ApplyResult("ok", new)
    # op == "delete": validate() admitted nothing else.
    if key in state:
        del state[key]
        return ApplyResult("ok", True)
    return ApplyResult("ok", False)
