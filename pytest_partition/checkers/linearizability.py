"""``linearizable(history, model)``: is there one order of the operations, consistent
with real time, that the model accepts?

The history is split into independent sub-histories when the model allows it
(one per key: linearizability is compositional), and each is searched with the
Wing-Gong/Lowe algorithm of :mod:`.wgl`. The keys are searched smallest first
and interleaved a few milliseconds at a time, so a small illegal key ends the
check early even while a large legal one is still being searched (Porcupine
runs them in parallel for the same reason); one illegal key decides the whole.

``fail`` operations did not happen and are left out. ``info`` operations
(unknown outcome) may have taken effect at any point after their invocation,
or never.

The checker never raises for the contents of a history: a time limit reached,
a history that cannot be paired, or a model that raises gives
``valid == "unknown"`` with the reason. Only a wrong argument (an unknown model
name, something that is not a history, a history holding NaN) raises.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator, Hashable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

from ..history import History, Operation, refuse_nan
from .explain import summarize
from .models import ModelLike, resolve_model
from .realtime import concurrent, operations_of
from .wgl import SLICE_STEPS, SearchOutcome, search

__all__ = ["LinearizabilityResult", "PrefixStep", "jsonable", "linearizable"]

Validity = bool | Literal["unknown"]
"""True, False or ``"unknown"``, as in Jepsen."""


class PrefixStep(NamedTuple):
    """One operation of a linearization and the model state right after it."""

    op: Operation
    state: Hashable


@dataclass
class LinearizabilityResult:
    """The outcome of :func:`linearizable`.

    ``valid`` is True, False or ``"unknown"``; ``bool(result)`` is True only
    when it is True. On False: ``key`` is the key whose sub-history is illegal,
    ``culprits`` the operation(s) that could not be placed, ``longest_prefix``
    the longest legal order found (:class:`PrefixStep` items, each with the
    state after it; ``prefix_state`` is the state at its end), ``window`` the
    operations concurrent with the culprit, and ``explanation`` one sentence.
    On ``"unknown"``, ``reason`` says why.
    """

    valid: Validity
    model: str
    operations: int = 0
    keys: int = 0
    key: Any = None
    culprits: list[Operation] = field(default_factory=list)
    longest_prefix: list[PrefixStep] = field(default_factory=list)
    prefix_state: str = ""
    window: list[Operation] = field(default_factory=list)
    explanation: str = ""
    reason: str = ""
    elapsed: float = 0.0
    steps: int = 0

    def __bool__(self) -> bool:
        return self.valid is True

    def explain(self, *, max_ops: int = 8) -> str:
        """The verdict in plain words, with the culprit, its window and the prefix' tail."""
        if self.valid is True:
            return (f"linearizable: all {self.operations} operations ({self.keys} key(s)) "
                    f"have a legal order under the {self.model} model")
        if self.valid == "unknown":
            return f"linearizability unknown: {self.reason}"
        lines = [f"not linearizable: {self.explanation}"]
        for op in self.culprits:
            lines.append(f"  cannot be placed: {op.describe()}")
        if self.window:
            lines.append(f"  concurrent with it ({len(self.window)}):")
            lines.extend(f"    {op.describe()}" for op in self.window[:max_ops])
            if len(self.window) > max_ops:
                lines.append(f"    ... and {len(self.window) - max_ops} more")
        shown = self.longest_prefix[-max_ops:]
        lines.append(
            f"  longest legal order found: {len(self.longest_prefix)} operation(s)"
            + (f", the last {len(shown)}:" if shown else "")
        )
        lines.extend(f"    {step.op.describe()}" for step in shown)
        if self.prefix_state:
            lines.append(f"  state after it: {self.prefix_state}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        return {
            "checker": "linearizable",
            "valid": self.valid,
            "model": self.model,
            "operations": self.operations,
            "keys": self.keys,
            "key": jsonable(self.key),
            "culprits": [jsonable(asdict(op)) for op in self.culprits],
            "window": [jsonable(asdict(op)) for op in self.window],
            "longest_prefix": [
                {"op": jsonable(asdict(step.op)), "state": jsonable(step.state)}
                for step in self.longest_prefix
            ],
            "prefix_state": self.prefix_state,
            "explanation": self.explanation,
            "reason": self.reason,
            "elapsed_s": round(self.elapsed, 6),
            "text": self.explain(),
        }


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, sets as sorted lists and odd objects as repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(item) for item in value), key=repr)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return repr(value)


def linearizable(
    history: History | Iterable[Operation],
    model: ModelLike | str,
    time_limit: float | None = None,
) -> LinearizabilityResult:
    """Check that ``history`` is linearizable under ``model``.

    ``history``: a :class:`~pytest_partition.history.History` or a list of
    :class:`~pytest_partition.history.Operation`. ``model``: a
    :class:`~pytest_partition.checkers.models.Model` (or any object with
    ``init``/``step``) or a built-in name (``"register"``, ``"kv"``,
    ``"counter"``). ``time_limit``: seconds over all keys; when reached the
    result is ``"unknown"``. See the module doc for the rules.

    Raises :class:`~pytest_partition.history.HistoryError` (a ValueError)
    naming the event for a history that holds NaN, which is not a value.
    """
    started = time.monotonic()
    refuse_nan(history)  # a wrong argument, not a finding: raised, not "unknown"
    chosen = resolve_model(model)
    name = str(getattr(chosen, "name", type(chosen).__name__))
    try:
        result = _check(operations_of(history), chosen, name, started, time_limit)
    except Exception as error:  # noqa: BLE001 - Jepsen's rule: a crashed checker is unknown
        result = LinearizabilityResult(
            valid="unknown", model=name,
            reason=f"the checker could not run: {type(error).__name__}: {error}",
        )
    result.elapsed = time.monotonic() - started
    return result


def _check(
    ops: list[Operation], model: Any, name: str, started: float, time_limit: float | None
) -> LinearizabilityResult:
    ignores = getattr(model, "ignores", None)
    considered = [
        op for op in ops
        if op.type != "fail" and not (callable(ignores) and ignores(op))
    ]
    partition = getattr(model, "partition", None)
    parts = partition(considered) if callable(partition) else [considered]
    # A part with no ok operation is legal: none of its operations had to happen.
    parts = sorted((p for p in parts if any(op.type == "ok" for op in p)), key=len)
    result = LinearizabilityResult(valid=True, model=name, operations=len(considered),
                                   keys=len(parts))
    deadline = None if time_limit is None else started + time_limit
    pending: deque[tuple[list[Operation], Generator[None, None, SearchOutcome]]] = deque(
        (part, search(part, model)) for part in parts
    )
    finished = 0
    while pending:
        part, running = pending.popleft()
        try:
            next(running)
        except StopIteration as stop:
            outcome: SearchOutcome = stop.value
            result.steps += outcome.steps
            finished += 1
            if not outcome.legal:
                if outcome.pruned:
                    outcome = _unpruned(part, model, outcome, deadline)
                return _illegal(result, model, part, outcome)
        else:
            pending.append((part, running))
        if deadline is not None and time.monotonic() > deadline:
            for _, running in pending:
                running.close()
            result.valid = "unknown"
            result.reason = (
                f"time limit of {time_limit:g} s reached with {finished} of {len(parts)} "
                f"key(s) checked and no violation found so far"
            )
            return result
    return result


EXPLAIN_STEPS = 500_000
"""Steps the search may spend, once a key is known to be illegal, to find the
culprit without pruning (about half a second)."""


def _unpruned(
    part: list[Operation], model: Any, pruned: SearchOutcome, deadline: float | None
) -> SearchOutcome:
    """The failure as the search finds it without pruning unreachable reads, if affordable.

    The verdict is settled; the question is which operation to blame. The
    pruned search ends a path where some read became unreachable, which may
    be on a path that went wrong earlier; the plain search blames the
    operation at the end of the longest legal order, the one every order
    stumbles on. It gets :data:`EXPLAIN_STEPS` and the time left; if that is
    not enough, the pruned search's culprit stands.
    """
    plain = search(part, model, growth=False)
    spent = 0
    try:
        while True:
            next(plain)
            spent += SLICE_STEPS
            if spent > EXPLAIN_STEPS or (deadline is not None and time.monotonic() > deadline):
                plain.close()
                return pruned
    except StopIteration as stop:
        found: SearchOutcome = stop.value
    if found.legal:  # cannot happen: the verdicts agree (the tests hold them to it)
        return pruned
    found.steps = pruned.steps
    return found


def _illegal(
    result: LinearizabilityResult, model: Any, part: list[Operation], outcome: SearchOutcome
) -> LinearizabilityResult:
    result.valid = False
    culprit = outcome.blocked
    result.key = part[0].key
    result.longest_prefix = [PrefixStep(op, state) for op, state in outcome.prefix]
    describe = getattr(model, "describe_state", None)
    result.prefix_state = describe(outcome.state) if callable(describe) else repr(outcome.state)
    if culprit is None:  # cannot happen with a well-formed list; say so rather than crash
        result.explanation = "no legal order exists, and the search named no culprit"
        return result
    result.culprits = [culprit]
    result.window = [op for op in part if op is not culprit and concurrent(op, culprit)]
    result.explanation = summarize(model, culprit, outcome.state, outcome.prefix, part)
    if result.key is not None and len(str(result.key)) < 40 and repr(result.key) not in (
        result.explanation
    ):
        result.explanation = f"key {result.key!r}: {result.explanation}"
    return result
