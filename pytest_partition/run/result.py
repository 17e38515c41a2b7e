"""What a run recorded, and the checks to apply to it: :class:`RunResult`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..checkers import (
    AvailabilityResult,
    Exposure,
    LinearizabilityResult,
    ModelLike,
    Verdict,
    availability,
    cap_verdict,
    exposure,
    linearizable,
)
from ..errors import NotJudged, UntestedWarning
from ..faults import faults_around
from ..history import History, Operation
from ..schedule import Schedule, ScheduledFault

__all__ = ["FinalReads", "RunResult", "TimelineWriter"]

#: Draws a run's HTML timeline: (result, blamed operations) -> the file written.
TimelineWriter = Callable[["RunResult", Sequence[Operation]], Path]
#: What each node answered to the final read of each key.
FinalReads = dict[str, dict[Any, Any]]


@dataclass
class RunResult:
    """What a run recorded, and the checks to apply to it.

    ``history`` holds the run's events only (its final reads included);
    ``states`` the final ``state()`` of every node after the heal (None if
    the nodes do not serve it); ``convergence`` says why they differ when
    they do; ``final_reads`` what each node answered for each key after the
    heal; ``schedule`` the faults the nemesis applied, exactly.
    """

    #: Draws :attr:`timeline`; importing :mod:`pytest_partition.report` sets it
    #: to that layer's writer (the run layer does not import the layer below it).
    timeline_writer: ClassVar[TimelineWriter | None] = None

    history: History
    workload: str
    seed: int
    nemesis: str | None
    duration: float
    states: dict[str, Any] | None
    convergence: str | None
    workdir: Path
    number: int = 1
    model: ModelLike | str = "kv"
    schedule: list[ScheduledFault] = field(default_factory=list)
    final_reads: FinalReads | None = None
    hold: float = 0.0
    #: The message of the last ``assert_cp()``/``assert_ap()`` that failed (reports
    #: then do not say it a second time), and which one it was (``"cp"``, ``"ap"``).
    raised: str | None = field(default=None, init=False)
    raised_by: str | None = field(default=None, init=False)
    _linearizable: LinearizabilityResult | None = field(default=None, init=False, repr=False)
    _time_limit: float = field(default=0.0, init=False, repr=False)
    _verdict: Verdict | None = field(default=None, init=False, repr=False)
    _exposure: Exposure | None = field(default=None, init=False, repr=False)
    _timeline: Path | None = field(default=None, init=False, repr=False)

    @property
    def counts(self) -> dict[str, int]:
        """Completed client operations by outcome: ok, fail, info."""
        return self.history.counts()

    def check_linearizable(self, time_limit: float | None = 30.0) -> LinearizabilityResult:
        """The linearizability check of the history against the workload's model
        (done once; again when it was undecided and a longer ``time_limit`` is given)."""
        result = self._linearizable
        if result is None or (result.valid == "unknown" and (
                time_limit is None or time_limit > self._time_limit)):
            result = linearizable(self.history, self.model, time_limit=time_limit)
            self._linearizable = result
            self._time_limit = math.inf if time_limit is None else time_limit
        return result

    @property
    def availability(self) -> AvailabilityResult:
        """Share of ok answers per node, and per side of each partition."""
        return availability(self.history)

    @property
    def exposure(self) -> Exposure:
        """What the run's faults put to the test
        (see :func:`~pytest_partition.checkers.exposure`)."""
        if self._exposure is None:
            self._exposure = exposure(self.history)
        return self._exposure

    @property
    def untested(self) -> list[str]:
        """Why a pass of ``assert_cp()`` or ``assert_ap()`` would prove little: one
        reason per property the faults could not have put to the test."""
        reasons = []
        if self.exposure.cp_untested:
            reasons.append(f"CP untested: {self.exposure.cp_untested}")
        if self.exposure.ap_untested:
            reasons.append(f"AP untested: {self.exposure.ap_untested}")
        return reasons

    @property
    def judged_states(self) -> dict[str, Any] | None:
        """Each node's final view, as the AP checks judge it: its ``state()`` (when
        served) overlaid with what a client read of each key after the heal."""
        if self.final_reads is None:
            return self.states
        views: dict[str, Any] = {}
        for node, reads in self.final_reads.items():
            state = (self.states or {}).get(node)
            views[node] = {**(state if isinstance(state, dict) else {}), **reads}
        return views

    @property
    def verdict(self) -> Verdict:
        """CP, AP, neither or unknown, with its one-sentence reason."""
        if self._verdict is None:
            self._verdict = cap_verdict(self.history, states=self.judged_states,
                                        model=self.model,
                                        linearizability=self.check_linearizable())
        return self._verdict

    def save_schedule(self, path: str | Path) -> Path:
        """Write the faults this run applied as a ``schedule.json`` (for
        ``--partition-replay`` or :meth:`Nemesis.replay
        <pytest_partition.nemesis.Nemesis.replay>`)."""
        return Schedule([self.schedule], seed=self.seed).save(path)

    @property
    def timeline(self) -> Path:
        """The self-contained HTML timeline of this run (written on first use).

        It lies in the cluster's work dir (``run-N-timeline.html``), which the
        plugin keeps for failed tests; the operations a failed linearizability
        check blamed are highlighted.
        """
        if self._timeline is None:
            writer = type(self).timeline_writer  # (from the class: a function, not a method)
            if writer is None:
                raise RuntimeError("no timeline writer: import pytest_partition.report (it "
                                   "sets RunResult.timeline_writer)")
            lin = self._linearizable
            blamed = lin.culprits if lin is not None and lin.valid is False else ()
            self._timeline = writer(self, blamed)
        return self._timeline

    def assert_cp(self) -> None:
        """Fail unless the history is linearizable (the minority may refuse).

        A pass whose faults could not have exposed a violation (no request
        reached a minority side, say) warns with :class:`UntestedWarning`.
        """
        __tracebackhide__ = True
        result = self.check_linearizable()
        if result.valid is True:
            self._warn_untested("assert_cp()", self.exposure.cp_untested)
            return
        head = ("CP could not be decided: " + result.explain() if result.valid == "unknown"
                else "not CP: " + result.explain())
        self.raised_by = "cp"
        self.raised = self._report(head, result.culprits)
        raise AssertionError(self.raised)

    def assert_ap(self, *, require_cut: bool = True) -> None:
        """Fail unless every side answered, replicas converged and nothing was lost.

        A run with no cut (or whose cuts got no request on their sides) cannot
        judge availability: that raises :class:`~pytest_partition.NotJudged`
        ("AP not judged: no cut"), an AssertionError a test may catch, or pass
        ``require_cut=False`` to accept it with a warning. A pass in which no
        key was written from two sides of a partition warns with :class:`UntestedWarning`.
        """
        __tracebackhide__ = True
        verdict = self.verdict
        if verdict.valid_ap is True:
            self._warn_untested("assert_ap()", self.exposure.ap_untested)
            return
        if verdict.valid_ap == "unknown":
            # No cut at all, or cuts whose sides got no request: nothing to judge.
            reason = (self.exposure.ap_untested if not self.exposure.windows
                      else "no side of a partition got a request while it was cut")
            if not require_cut:
                warnings.warn(UntestedWarning(f"AP not judged: {reason}"), stacklevel=2)
                return
            self.raised_by = "ap"
            self.raised = self._report(
                f"AP not judged: {reason}; availability under partition needs a cut with "
                "requests on its sides (nemesis='random-halves', say), or pass "
                "require_cut=False to accept a run without one", ())
            raise NotJudged(self.raised)
        head = "not AP: " + "\n".join(_ap_failures(verdict))
        self.raised_by = "ap"
        self.raised = self._report(f"{head}\nverdict: {verdict.sentence}", ())
        raise AssertionError(self.raised)

    def _warn_untested(self, check: str, reason: str | None) -> None:
        """Warn, at the test's call of ``check``, that its pass proves little."""
        if reason:
            warnings.warn(UntestedWarning(f"{check} passed, but {reason} "
                                          f"({self._run_words()})"), stacklevel=3)

    def _run_words(self) -> str:
        return (f"workload {self.workload}, nemesis {self.nemesis or 'none'}, seed {self.seed}")

    def _report(self, head: str, culprits: Any) -> str:
        lines = [head]
        around = faults_around(self.history, list(culprits or ()))
        if around:
            lines.append("faults around it:")
            lines.extend(f"  {line}" for line in around)
        lines.append(f"run: {self._run_words()}, {self.duration:g} s, ops {self.counts}")
        return "\n".join(lines)


def _ap_failures(verdict: Verdict) -> list[str]:
    """What broke the AP rules, most telling first: divergence, losses, refusals."""
    details = verdict.details
    found = []
    convergence = details.get("convergence")
    if convergence is not None and not convergence.valid:
        found.append(convergence.explain())
    for counter in details.get("counters") or []:
        if not counter.valid:
            found.append(counter.explain())
    lost = details.get("lost_updates")
    if lost is not None and not lost.valid:
        found.append(lost.explain())
    avail = details.get("availability")
    if avail is not None and avail.sides_below(0.99):
        found.append(avail.explain())
    return found or [verdict.sentence]
