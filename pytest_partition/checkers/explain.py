"""Plain-words explanations of a linearizability violation.

The search ends stuck on one operation (the *culprit*) after the longest order
it could find. These helpers turn that into one sentence a user can act on,
for example::

    read of 'x' returned 1 at 12.3 ms, but the value was already 2: write 2
    completed at 10.1 ms (process 3 on n2) and nothing wrote 1 after it

Registers and key-value maps get the story of the value (who wrote what the
read saw, and who overwrote it); counters the story of the total; any other
model a generic sentence built from ``describe_state``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from ..history import Operation
from .model_base import READS, WRITES, freeze, thaw
from .models import CounterModel, RegisterModel
from .realtime import call_moment, precedes, return_moment

__all__ = ["ms", "summarize", "who"]

_NOTHING = object()


def ms(ns: int | None) -> str:
    """A time in ns as milliseconds for people."""
    return "the end" if ns is None else f"{ns / 1e6:.1f} ms"


def who(op: Operation) -> str:
    """``process 3 on n2``."""
    return f"process {op.process}" + (f" on {op.node}" if op.node else "")


def _done(op: Operation) -> str:
    if op.end is None:
        return f"was invoked at {ms(op.start)} and its outcome is unknown"
    return f"completed at {ms(op.end)}"


def _show(value: Hashable) -> str:
    return repr(thaw(value))


def _key(op: Operation) -> str:
    return "" if op.key is None else f" of {op.key!r}"


def _written(op: Operation) -> Any:
    """The value ``op`` sets, or _NOTHING when it sets none or cannot tell."""
    if op.f in WRITES:
        return freeze(op.value)
    if op.f == "cas" and op.output is not False:
        value = op.value
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return freeze(value[1])
    return _NOTHING


def _setting(op: Operation) -> str:
    if op.f == "cas" and isinstance(op.value, (list, tuple)) and len(op.value) == 2:
        return f"cas {op.value[0]!r}->{op.value[1]!r}"
    return f"{op.f} {op.value!r}"


def summarize(
    model: Any,
    culprit: Operation,
    state: Hashable,
    prefix: Sequence[tuple[Operation, Hashable]],
    ops: Sequence[Operation],
) -> str:
    """One sentence: why ``culprit`` has no legal place (see the module doc)."""
    try:
        if isinstance(model, RegisterModel):
            sentence = _register(model, culprit, state, prefix, ops)
            if sentence:
                return sentence
        if isinstance(model, CounterModel):
            return _counter(culprit, state, prefix, ops)
    except Exception:  # noqa: BLE001, S110 - an explanation must never hide the verdict
        pass
    describe = getattr(model, "describe_state", None)
    shown = describe(state) if callable(describe) else repr(state)
    return (
        f"{culprit.f}{_key(culprit)} ({who(culprit)}, {culprit.type} at {ms(culprit.end)}) "
        f"cannot be placed: after the longest legal order found ({len(prefix)} operations) "
        f"the state was {shown}, and no order of the operations concurrent with it "
        "makes its outcome legal"
    )


def _register(
    model: RegisterModel,
    culprit: Operation,
    state: Hashable,
    prefix: Sequence[tuple[Operation, Hashable]],
    ops: Sequence[Operation],
) -> str | None:
    if culprit.f in READS:
        seen = freeze(culprit.output)
        head = f"read{_key(culprit)} returned {_show(seen)} at {ms(culprit.end)}"
    elif culprit.f == "cas" and isinstance(culprit.value, (list, tuple)):
        expected, new = (freeze(v) for v in culprit.value)
        if culprit.output is False:
            return (
                f"cas{_key(culprit)} from {_show(expected)} to {_show(new)} reported no change "
                f"at {ms(culprit.end)}, but the value was {_show(state)} then"
            )
        seen = expected
        head = (f"cas{_key(culprit)} from {_show(expected)} to {_show(new)} succeeded "
                f"at {ms(culprit.end)}")
    elif culprit.f == "incr" and isinstance(culprit.output, (int, float)):
        return (f"incr{_key(culprit)} by {culprit.value!r} returned {culprit.output!r} "
                f"at {ms(culprit.end)}, but the value was {_show(state)} before it")
    else:
        return None

    # Only plain writes make "who wrote this value" a fair question; with
    # increments or appends a value can appear without anyone writing it.
    plain = all(op.f in READS or op.f in WRITES or op.f == "cas" for op in ops)
    writers = [op for op in ops if op is not culprit and _written(op) == seen] if plain else []
    initial = seen == model.init()
    if plain and not initial and not writers:
        return f"{head}, but no operation ever wrote {_show(seen)}"
    if plain and not initial and all(
        return_moment(culprit) < call_moment(op) for op in writers
    ):
        first = min(writers, key=call_moment)
        return (
            f"{head}, but {_show(seen)} was written only later: {_setting(first)} started "
            f"at {ms(first.start)} ({who(first)}), after it had returned"
        )
    # First the state when the culprit was invoked (after the last operation of
    # the order that completed before it), then the state where the search stopped.
    views: list[tuple[Hashable, Sequence[tuple[Operation, Hashable]]]] = []
    before = [i for i, (op, _) in enumerate(prefix) if precedes(op, culprit)]
    if before:
        views.append((prefix[before[-1]][1], prefix[:before[-1] + 1]))
    views.append((state, prefix))
    for value, order in views:
        setter = next((op for op, after in reversed(order)
                       if after == value and _written(op) == value), None)
        if plain and setter is not None and value != seen and all(
            precedes(op, setter) for op in writers
        ):
            proof = ""
            if not precedes(setter, culprit):
                # The write overlaps the culprit: what shows it came first is
                # a read of its value that finished before the culprit began.
                witness = next((op for op in reversed(ops) if op.f in READS
                                and op.type == "ok" and op is not culprit
                                and freeze(op.output) == value and precedes(op, culprit)),
                               None)
                if witness is not None:
                    proof = (f"; a read returned {_show(value)} at {ms(witness.end)} "
                             f"({who(witness)}), before the {culprit.f} began")
            joint = f"{proof}, and" if proof else " and"
            return (
                f"{head}, but the value was already {_show(value)}: {_setting(setter)} "
                f"{_when(setter, culprit)} ({who(setter)}){joint} nothing wrote "
                f"{_show(seen)} after it"
            )
    # The search stopped here. "The value was X then" would suggest the
    # moment of the read, which the setter may overlap or even outlast: say
    # what the order found leaves, and when its setter ran.
    setter = next((op for op, after in reversed(prefix)
                   if after == state and _written(op) == state), None)
    tail = (f"and no order of the operations concurrent with it makes {_show(seen)} "
            "the value")
    if setter is None:
        return f"{head}, but the longest legal order found leaves {_show(state)}, {tail}"
    return (
        f"{head}, but the longest legal order found leaves {_show(state)} "
        f"({_setting(setter)} {_when(setter, culprit)}, {who(setter)}), {tail}"
    )


def _when(op: Operation, culprit: Operation) -> str:
    """When ``op`` ran, said against the culprit's return when they overlap."""
    if op.end is not None and (culprit.end is None or op.end <= culprit.end):
        return f"completed at {ms(op.end)}"
    if op.end is None:
        return f"invoked at {ms(op.start)}, outcome unknown"
    return (f"invoked at {ms(op.start)} and completed at {ms(op.end)}, "
            f"after the {culprit.f} returned")


def _counter(
    culprit: Operation, state: Hashable, prefix: Sequence[tuple[Operation, Hashable]],
    ops: Sequence[Operation],
) -> str:
    if culprit.f in READS:
        value = 0 if culprit.output is None else culprit.output
        bumps = [op for op in ops if op.f not in READS]
        must = [op for op in bumps if op.type == "ok" and precedes(op, culprit)]
        counted = {id(op) for op in must}
        may = [op for op in bumps if id(op) not in counted and not precedes(culprit, op)]
        base = sum(_delta(op) for op in must)
        low = base + sum(min(0, _delta(op)) for op in may)
        high = base + sum(max(0, _delta(op)) for op in may)
        head = f"read{_key(culprit)} returned {value!r} at {ms(culprit.end)}"
        if not low <= value <= high:
            return (f"{head}, but the counter could only be between {low!r} and {high!r} "
                    f"then ({len(must)} acknowledged increment(s) completed before the "
                    f"read began, {len(may)} more may have been counted)")
        return (f"{head}, a total that no order of the {len(may)} increment(s) concurrent "
                f"with it produces (the longest legal order found ends at {state!r})")
    delta = _delta(culprit)
    return (
        f"{culprit.f}{_key(culprit)} by {delta!r} returned {culprit.output!r} at "
        f"{ms(culprit.end)}, but the counter was {state!r} before it, so it should have "
        f"returned {state + delta!r}"
    )


def _delta(op: Operation) -> Any:
    return 1 if op.value is None else op.value
