"""``cap_verdict(history)``: did the system behave as CP, as AP, or as neither?

The rules, in order:

- **CP** means the history is linearizable (:func:`.linearizable`; a time
  limit reached makes it unknown). Refusing requests is allowed.
- **AP** means: no side of a partition refused (``fail``) more than
  ``1 - threshold`` (default 1%) of the client operations invoked on it while
  the partition was in force, nor left unanswered (``fail`` or ``info``) more
  than the run left unanswered outside partitions plus ``1 - threshold``, by
  more than three standard deviations of the count (so timeouts a loaded
  machine causes everywhere do not read as unavailability; sides that got no
  request are not judged, see :meth:`AvailabilityResult.sides_below`); when
  ``states`` (node -> its final ``state()``) are given, the replicas
  converged (:func:`.converged`); and no acknowledged update was lost:
  counters (keys changed only by ``incr``/``add``) pass :func:`.check_counter`
  (reads may be stale, as on an AP replica, but never count an increment not
  yet invoked), and with ``states`` every other key's final value comes from
  one of its latest writes (:func:`.check_lost_updates`). Divergence or a lost update fails AP even
  without a partition; availability can only be judged when the history holds
  a partition, otherwise AP is unknown.
- The verdict: linearizable -> ``"CP"`` (when it also met the AP rules, the
  partitions did not force a choice and the sentence says so; CP is preferred).
  Not linearizable (or unknown) and AP holds -> ``"AP"``. Not linearizable and
  AP fails -> ``"neither"``. Anything else -> ``"unknown"`` with the reason;
  in particular a history with no partition that is not linearizable cannot be
  called AP from its faults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..history import PLUMBING, History, Operation, refuse_nan
from .availability_check import AvailabilityResult, Side, availability
from .convergence import ConvergenceResult, converged
from .counter_check import CounterResult, check_counter
from .linearizability import LinearizabilityResult, linearizable
from .lost_updates import LostUpdatesResult, check_lost_updates
from .model_base import DELETES, INCREMENTS, READS, ModelLike, freeze

__all__ = ["Verdict", "cap_verdict"]

VerdictName = Literal["CP", "AP", "neither", "unknown"]
Validity = bool | Literal["unknown"]


@dataclass
class Verdict:
    """Outcome of :func:`cap_verdict`.

    ``verdict`` is ``"CP"``, ``"AP"``, ``"neither"`` or ``"unknown"``;
    ``sentence`` says it in one sentence for the report; ``valid_cp`` and
    ``valid_ap`` are True, False or ``"unknown"``; ``details`` holds the
    sub-results by name (``linearizable``, ``availability``, ``convergence``,
    ``counters``, ``lost_updates``). Truth-testing a verdict is an error:
    compare ``verdict.verdict`` instead.
    """

    verdict: VerdictName
    sentence: str
    valid_cp: Validity
    valid_ap: Validity
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """The verdict in a few words, for a table: ``CP``, ``AP``, ``neither``, or
        ``unknown`` with its reason (``unknown: not linearizable, no partition``)."""
        if self.verdict != "unknown":
            return self.verdict
        lin = self.details.get("linearizable")
        if lin is not None and lin.valid is False:
            return "unknown: not linearizable, no partition"
        if lin is not None and lin.valid == "unknown":
            return "unknown: linearizability undecided"
        return "unknown: history unreadable" if "cannot be read" in self.sentence else "unknown"

    def __bool__(self) -> bool:
        raise TypeError("a Verdict has no truth value; compare verdict.verdict to 'CP' or 'AP'")

    def __str__(self) -> str:
        return self.sentence

    def explain(self) -> str:
        """The sentence, then what each sub-check found."""
        parts = [self.sentence]
        for detail in self.details.values():
            items = detail if isinstance(detail, list) else [detail]
            parts.extend(item.explain() for item in items if item is not None)
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        details: dict[str, Any] = {}
        for name, detail in self.details.items():
            if isinstance(detail, list):
                details[name] = [item.to_dict() for item in detail]
            elif detail is not None:
                details[name] = detail.to_dict()
        return {"checker": "cap", "verdict": self.verdict, "sentence": self.sentence,
                "valid_cp": self.valid_cp, "valid_ap": self.valid_ap, "details": details}


def cap_verdict(
    history: History,
    *,
    states: Mapping[str, Mapping[Any, Any]] | None = None,
    model: ModelLike | str | None = None,
    threshold: float = 0.99,
    time_limit: float | None = 30.0,
    linearizability: LinearizabilityResult | None = None,
) -> Verdict:
    """Judge a history by the rules in the module doc.

    ``model``: None picks one from the operations (only increments and reads:
    ``"counter"``; deletes, appends or increments among writes: ``"kv"``;
    otherwise ``"register"``). ``time_limit`` bounds the linearizability search;
    ``linearizability`` is its result when the caller already has it (for the
    same history and model).
    A history holding NaN raises :class:`~pytest_partition.history.HistoryError`
    (a ValueError) naming the event: NaN is not a value.
    """
    history = history.snapshot()  # one consistent view for every sub-check
    refuse_nan(history)  # a wrong argument, not a verdict: raised
    try:
        ops = history.operations()
    except Exception as error:  # noqa: BLE001 - a verdict never crashes
        reason = f"the history cannot be read as operations: {error}"
        return Verdict("unknown", f"unknown: {reason}.", "unknown", "unknown")
    chosen = _pick_model(ops) if model is None else model
    lin = linearizability or linearizable(ops, chosen, time_limit=time_limit)
    avail = availability(history)
    conv = converged(states) if states else None
    counters, lost = _update_checks(ops, states)
    details: dict[str, Any] = {"linearizable": lin, "availability": avail,
                               "convergence": conv, "counters": counters,
                               "lost_updates": lost}
    problems = _ap_problems(avail, conv, counters, lost, threshold)
    if problems:
        valid_ap: Validity = False
    elif not avail.partitioned or avail.worst_side() is None:
        valid_ap = "unknown"
    else:
        valid_ap = True
    name, sentence = _decide(lin, valid_ap, avail, conv, counters, lost, problems, lin.operations)
    return Verdict(name, sentence, lin.valid, valid_ap, details)


def _pick_model(ops: list[Operation]) -> str:
    fs = {op.f for op in ops}
    changes = fs - READS - PLUMBING
    if changes and changes <= INCREMENTS:
        return "counter"
    if changes & (INCREMENTS | DELETES | {"append"}):
        return "kv"
    return "register"


def _update_checks(
    ops: list[Operation], states: Mapping[str, Mapping[Any, Any]] | None
) -> tuple[list[CounterResult], LostUpdatesResult | None]:
    by_key: dict[Any, list[Operation]] = {}
    for op in ops:
        by_key.setdefault(freeze(op.key), []).append(op)
    counters = []
    for key_ops in by_key.values():
        changes = {op.f for op in key_ops} - READS
        if not changes or not changes <= INCREMENTS:
            continue
        key = key_ops[0].key
        finals = None
        if states and key is not None:
            finals = {node: state.get(key) for node, state in states.items()}
        counters.append(check_counter(key_ops, finals, key, stale_reads=True))
    lost = check_lost_updates(ops, states) if states else None
    return counters, lost


def _ap_problems(avail: AvailabilityResult, conv: ConvergenceResult | None,
                 counters: list[CounterResult], lost: LostUpdatesResult | None,
                 threshold: float) -> list[str]:
    against = (f" (against {avail.baseline:.0%} outside partitions)"
               if avail.healthy.total and avail.baseline < 1 else "")
    problems = [f"side {side.name} answered only {_pct(side)} of requests during "
                f"{side.spec}{against}"
                for side in sorted(avail.sides_below(threshold),
                                   key=lambda s: s.tally.ok_share or 0.0)]
    if conv is not None and not conv.valid:
        problems.append(f"the replicas did not converge ({len(conv.diff)} of {conv.keys} "
                        "key(s) differ)")
    problems.extend(result.errors[0] for result in counters if not result.valid)
    if lost is not None and not lost.valid:
        problems.append(lost.errors[0])
    return problems


def _decide(lin: LinearizabilityResult, valid_ap: Validity, avail: AvailabilityResult,
            conv: ConvergenceResult | None, counters: list[CounterResult],
            lost: LostUpdatesResult | None, problems: list[str],
            count: int) -> tuple[VerdictName, str]:
    specs = ", ".join(dict.fromkeys(window.spec for window in avail.windows))
    if lin.valid is True:
        head = f"all {count} operations are linearizable"
        if not avail.partitioned:
            return "CP", (f"CP: {head}; the history holds no partition, so how a "
                          "minority side behaves was not tested.")
        if valid_ap is True:
            return "CP", (f"CP: {head} and {_answered(avail)} during {specs}, so it also "
                          "met the AP rules: these partitions did not force a choice.")
        return "CP", f"CP: {head} and {_minority_story(avail, specs)}."
    if valid_ap is True:
        kept = _kept(conv, counters, lost)
        if lin.valid is False:
            why = f"the history is not linearizable ({lin.explanation}), as an AP system may be"
        else:
            why = f"linearizability could not be decided ({lin.reason})"
        return "AP", f"AP: {_answered(avail)} during {specs}{kept}; {why}."
    if lin.valid is False and valid_ap is False:
        return "neither", (f"neither: the history is not linearizable ({lin.explanation}) "
                           f"and {problems[0]}.")
    if lin.valid is False:
        return "unknown", (f"unknown: the history is not linearizable ({lin.explanation}), "
                           "and it holds no partition (or no request during one), so "
                           "availability under partition could not be judged.")
    tail = f"; and {problems[0]}" if problems else ""
    return "unknown", f"unknown: linearizability could not be decided ({lin.reason}){tail}."


def _pct(side: Side) -> str:
    share = side.tally.ok_share or 0.0
    return "100%" if share == 1 else f"{share:.1%}" if share > 0.99 else f"{share:.0%}"


def _answered(avail: AvailabilityResult) -> str:
    worst = avail.worst_side()
    if worst is None:
        return "no side got a request"
    if (worst.tally.ok_share or 0.0) == 1:
        return "every node answered 100% of requests"
    return f"every side answered at least {_pct(worst)} of requests"


def _minority_story(avail: AvailabilityResult, specs: str) -> str:
    busy = [side for side in avail.sides if side.minority and side.tally.total]
    if not busy:
        return f"no request reached a minority side during {specs}"
    if len(busy) == 1:
        side = busy[0]
        refused = 1 - (side.tally.ok_share or 0.0)
        return (f"the minority side {side.name} refused {refused:.0%} of "
                f"{side.tally.total} request(s) during {side.spec}")
    total = sum(side.tally.total for side in busy)
    refused = 1 - sum(side.tally.ok for side in busy) / total
    return f"the minority sides refused {refused:.0%} of {total} request(s) during {specs}"


def _kept(conv: ConvergenceResult | None, counters: list[CounterResult],
          lost: LostUpdatesResult | None) -> str:
    facts = []
    if conv is not None:
        facts.append("the replicas converged")
    if counters:
        facts.append("no acknowledged increment was lost")
    if lost is not None and lost.keys_checked:
        facts.append("no acknowledged write was lost")
    if not facts:
        return " (replica states were not given, so convergence was not checked)"
    if len(facts) == 1:
        return f" and {facts[0]}"
    return ", " + ", ".join(facts[:-1]) + " and " + facts[-1]
