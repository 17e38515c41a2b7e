"""What a run recorded, and the checks to apply to it: :class:`RunResult`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..checkers import (
    AvailabilityResult,
    LinearizabilityResult,
    Verdict,
    availability,
    cap_verdict,
    linearizable,
)
from ..faults import faults_around
from ..history import History, Operation
from .workload import MODELS

__all__ = ["RunResult", "TimelineWriter"]

#: Draws a run's HTML timeline: (result, blamed operations) -> the file written.
TimelineWriter = Callable[["RunResult", Sequence[Operation]], Path]


@dataclass
class RunResult:
    """What a run recorded, and the checks to apply to it.

    ``history`` holds the run's events only; ``states`` the final
    ``state()`` of every node after the heal (None if they could not be read);
    ``convergence`` says why they differ when they do.
    """

    #: Draws :attr:`timeline`; the package sets it on import to the report
    #: layer's writer (the run layer does not import the layer below it).
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
    _linearizable: LinearizabilityResult | None = field(default=None, repr=False)
    _verdict: Verdict | None = field(default=None, repr=False)
    _timeline: Path | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        """The checker model of this workload."""
        return MODELS[self.workload]

    @property
    def counts(self) -> dict[str, int]:
        """Completed client operations by outcome: ok, fail, info."""
        return self.history.counts()

    def check_linearizable(self, time_limit: float | None = 30.0) -> LinearizabilityResult:
        """The linearizability check of the history against the workload's model."""
        if self._linearizable is None:
            self._linearizable = linearizable(self.history, self.model, time_limit=time_limit)
        return self._linearizable

    @property
    def availability(self) -> AvailabilityResult:
        """Share of ok answers per node, and per side of each partition."""
        return availability(self.history)

    @property
    def verdict(self) -> Verdict:
        """CP, AP, neither or unknown, with its one-sentence reason."""
        if self._verdict is None:
            self._verdict = cap_verdict(self.history, states=self.states, model=self.model)
        return self._verdict

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
                raise RuntimeError("no timeline writer: import pytest_partition (it sets "
                                   "RunResult.timeline_writer)")
            lin = self._linearizable
            blamed = lin.culprits if lin is not None and lin.valid is False else ()
            self._timeline = writer(self, blamed)
        return self._timeline

    def assert_cp(self) -> None:
        """Fail unless the history is linearizable (the minority may refuse)."""
        result = self.check_linearizable()
        if result.valid is True:
            return
        head = ("CP could not be decided: " + result.explain() if result.valid == "unknown"
                else "not CP: " + result.explain())
        raise AssertionError(self._report(head, result.culprits))

    def assert_ap(self) -> None:
        """Fail unless every side answered, replicas converged and nothing was lost."""
        verdict = self.verdict
        if verdict.valid_ap is True:
            return
        if verdict.valid_ap == "unknown":
            head = ("AP could not be judged: no side of a partition got a request (did the "
                    "run have a nemesis?)")
        else:
            head = "not AP: " + "\n".join(_ap_failures(verdict))
        raise AssertionError(self._report(f"{head}\nverdict: {verdict.sentence}", ()))

    def _report(self, head: str, culprits: Any) -> str:
        lines = [head]
        if self.convergence:
            lines.append(self.convergence)
        around = faults_around(self.history, list(culprits or ()))
        if around:
            lines.append("faults around it:")
            lines.extend(f"  {line}" for line in around)
        lines.append(f"run: workload {self.workload}, nemesis {self.nemesis or 'none'}, "
                     f"seed {self.seed}, {self.duration:g} s, ops {self.counts}")
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
