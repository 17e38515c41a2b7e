"""The checks of one cluster's history, done once when a test ends.

The plugin calls :func:`analyse` for each cluster of a finished test; the
report sections, the artifacts and the summary row all read the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..checkers import LinearizabilityResult, Verdict, cap_verdict
from ..history import History, Operation
from ..run import RunResult

__all__ = ["REPORT_TIME_LIMIT", "Analysis", "analyse"]

#: Seconds the linearizability check of a test body's history may take.
REPORT_TIME_LIMIT = 10.0


@dataclass
class Analysis:
    """The checks of one cluster's history, for reports and artifacts."""

    history: History
    verdict: Verdict
    run: RunResult | None
    culprits: list[Operation] = field(default_factory=list)
    window: list[Operation] = field(default_factory=list)
    piece: str = ""

    @property
    def counts(self) -> dict[str, int]:
        """Completed client operations by outcome: ok, fail, info."""
        return self.history.counts()

    def label(self) -> str:
        """The verdict for the summary: ``-`` when the test ran no operation, and
        ``(untested)`` after a verdict the run's faults could not have changed."""
        if not any(self.counts.values()):
            return "-"
        label = self.verdict.short
        exposure = self.run.exposure if self.run is not None else None
        if exposure is not None and (
                (label == "CP" and exposure.cp_untested)
                or (label == "AP" and exposure.ap_untested)):
            label += " (untested)"
        return label

    def sides(self) -> str:
        """Availability per side of the partitions: ``{A,B} 100% | {C} 0%``, or,
        when a nemesis made many sides, their count and the lowest."""
        avail = self.verdict.details.get("availability")
        sides = [s for s in getattr(avail, "sides", None) or [] if s.tally.ok_share is not None]
        if not sides:
            return "-"
        if len(sides) > 3:
            worst = min(sides, key=lambda side: side.tally.ok_share)
            return f"{len(sides)} sides, lowest {worst.name} {worst.tally.ok_share:.0%}"
        return " | ".join(f"{side.name} {side.tally.ok_share:.0%}" for side in sides)


def analyse(history: History, run: RunResult | None = None) -> Analysis:
    """Check a cluster's record: its last run's result when it ran one, else
    its whole history (what the test body did)."""
    lin: LinearizabilityResult | None
    try:
        if run is not None:
            history, verdict = run.history, run.verdict
            lin = run.check_linearizable()
        else:
            history = history.snapshot()
            verdict = cap_verdict(history, time_limit=REPORT_TIME_LIMIT)
            lin = verdict.details.get("linearizable")
    except ValueError as error:  # a history no checker can read (a NaN a node returned)
        verdict = Verdict("unknown", f"unknown: the history cannot be checked: {error}",
                          "unknown", "unknown")
        lin = None
    analysis = Analysis(history=history, verdict=verdict, run=run)
    if lin is not None and lin.valid is False:
        analysis.culprits = list(lin.culprits)
        analysis.window = list(lin.window)
        analysis.piece = lin.explain()
    elif verdict.valid_ap is False:
        analysis.piece = verdict.explain()
    return analysis
