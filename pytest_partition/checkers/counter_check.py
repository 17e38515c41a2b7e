"""``check_counter``: no acknowledged increment lost, nothing counted that never was.

Jepsen's counter checker, for AP counters that are not linearizable by design.
An acknowledged (``ok``) increment must be counted; an ``info`` one (unknown
outcome, or never completed) may be counted or not; a ``fail`` one must not.
So the final value must lie between the bounds reached from ``initial`` by
all ok increments plus any subset of the info ones: the lower bound adds the
negative info deltas, the upper bound the positive ones.

Reads during the run are checked against the bounds at their time: the ok
increments that completed before the read was invoked must be counted, and
any increment invoked before the read completed may be. With
``stale_reads=True`` (an AP replica may not have heard of an increment yet)
a read only has to be explained by *some* of the increments invoked before it
completed: a stale read passes, a phantom one does not.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from ..history import History, Operation, refuse_nan
from .explain import ms, who
from .model_base import INCREMENTS, READS
from .realtime import call_moment, operations_of, return_moment

__all__ = ["CounterResult", "check_counter"]

Number = int | float


@dataclass
class CounterResult:
    """Outcome of :func:`check_counter`.

    ``lower``/``upper``: the final bounds; ``acknowledged``: the sum of ok
    deltas; ``errors``: one sentence per violation (final values first, then
    reads).
    """

    valid: bool
    key: Any
    initial: Number
    lower: Number
    upper: Number
    acknowledged: Number
    increments: int
    unknown: int
    final_values: dict[str, Number | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    reads_checked: int = 0
    has_decrements: bool = False

    def __bool__(self) -> bool:
        return self.valid

    def explain(self, *, max_errors: int = 5) -> str:
        """One line when valid; otherwise the violations in plain words."""
        key = "" if self.key is None else f" {self.key!r}"
        bounds = (f"{self.increments} acknowledged increment(s) totalling "
                  f"{self.acknowledged:+g} and {self.unknown} with an unknown outcome, "
                  f"so the value must lie in [{self.lower:g}, {self.upper:g}]")
        if self.valid:
            return (f"counter{key}: no acknowledged update lost ({bounds}; "
                    f"{len(self.final_values)} final value(s) and {self.reads_checked} "
                    "read(s) agree)")
        lines = [f"counter{key}: {self.errors[0]}", f"  {bounds}"]
        lines.extend(f"  {error}" for error in self.errors[1:max_errors])
        if len(self.errors) > max_errors:
            lines.append(f"  ... and {len(self.errors) - max_errors} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        return {"checker": "counter", "valid": self.valid, "key": self.key,
                "initial": self.initial, "lower": self.lower, "upper": self.upper,
                "acknowledged": self.acknowledged, "increments": self.increments,
                "unknown": self.unknown, "final_values": self.final_values,
                "errors": self.errors, "text": self.explain()}


def check_counter(
    history: History | Iterable[Operation],
    final_values: Mapping[str, Number | None] | Number | None = None,
    key: Any = None,
    *,
    initial: Number = 0,
    stale_reads: bool = False,
) -> CounterResult:
    """Check a counter's final value(s) and its reads against the increments.

    ``final_values``: each node's final value (or one value, or None to check
    only the reads). ``key``: the counter's key; None picks the only key the
    increments use (ValueError if they use several). Increments are ``incr``
    and ``add`` with a numeric delta (None means 1); reads are ``read``/``get``
    (None reads as ``initial``). ``stale_reads``: see the module doc.
    """
    refuse_nan(history)
    ops = operations_of(history)
    key = _the_key(ops, key)
    ops = [op for op in ops if op.key == key]
    bumps = [op for op in ops if op.f in INCREMENTS and op.type != "fail"]
    done = [op for op in bumps if op.type == "ok"]
    maybe = [op for op in bumps if op.type != "ok"]
    acknowledged = sum(_delta(op) for op in done)
    lower = initial + acknowledged + sum(min(0, _delta(op)) for op in maybe)
    upper = initial + acknowledged + sum(max(0, _delta(op)) for op in maybe)
    if final_values is None:
        finals: dict[str, Number | None] = {}
    elif isinstance(final_values, Mapping):
        finals = {str(node): value for node, value in final_values.items()}
    else:
        finals = {"final": final_values}
    result = CounterResult(True, key, initial, lower, upper, acknowledged, len(done), len(maybe),
                           finals, has_decrements=any(_delta(op) < 0 for op in done))
    for node, value in finals.items():
        error = _final_error(node, value, result)
        if error:
            result.errors.append(error)
    _check_reads(ops, [] if stale_reads else done, bumps, result)
    result.valid = not result.errors
    return result


def _the_key(ops: list[Operation], key: Any) -> Any:
    if key is not None:
        return key
    keys = {repr(op.key): op.key for op in ops if op.f in INCREMENTS}
    if len(keys) > 1:
        raise ValueError(
            f"the increments use {len(keys)} keys ({', '.join(sorted(keys))}); pass key="
        )
    return next(iter(keys.values()), None)


def _delta(op: Operation) -> Number:
    delta = 1 if op.value is None else op.value
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise ValueError(f"an increment needs a numeric delta: {op.describe()}")  # noqa: TRY004
    return delta


def _final_error(node: str, value: Any, result: CounterResult) -> str | None:
    where = "" if node == "final" else f" on {node}"
    if value is None:
        value = result.initial
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"final value{where} is {value!r}, not a number"
    if value < result.lower:
        return (f"acknowledged increments are missing: final value{where} is {value:g}, "
                f"expected at least {result.lower:g} ({result.lower - value:g} short)")
    if value > result.upper:
        lost = ("acknowledged decrements are missing" if result.has_decrements
                else "the counter holds more than its increments explain")
        return (f"{lost}: final value{where} is {value:g}, expected at most "
                f"{result.upper:g} ({value - result.upper:g} over)")
    return None


def _check_reads(ops: list[Operation], done: list[Operation], bumps: list[Operation],
                 result: CounterResult) -> None:
    # Prefix sums over increments sorted by completion (the ones that must be
    # counted) and by invocation (the ones that may be): O(n log n) overall.
    by_end = sorted(done, key=return_moment)
    ends = [return_moment(op) for op in by_end]
    done_sum = [0, *accumulate(_delta(op) for op in by_end)]
    done_pos = [0, *accumulate(max(0, _delta(op)) for op in by_end)]
    done_neg = [0, *accumulate(min(0, _delta(op)) for op in by_end)]
    by_start = sorted(bumps, key=call_moment)
    starts = [call_moment(op) for op in by_start]
    all_pos = [0, *accumulate(max(0, _delta(op)) for op in by_start)]
    all_neg = [0, *accumulate(min(0, _delta(op)) for op in by_start)]
    for read in ops:
        if read.f not in READS or read.type != "ok":
            continue
        value = result.initial if read.output is None else read.output
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        result.reads_checked += 1
        must = bisect.bisect_left(ends, call_moment(read))
        may = bisect.bisect_left(starts, return_moment(read))
        counted = result.initial + done_sum[must]
        low = counted + all_neg[may] - done_neg[must]
        high = counted + all_pos[may] - done_pos[must]
        if not low <= value <= high:
            result.errors.append(
                f"read{'' if read.key is None else f' of {read.key!r}'} by {who(read)} "
                f"returned {value:g} at {ms(read.end)}, but the counter could only be "
                f"between {low:g} and {high:g} then"
            )
