"""Shrinking a failing fault schedule to the smallest that still fails.

As Hypothesis shrinks a failing example, :class:`Shrinker` tries smaller
schedules and keeps any that still fails: first the faults around the
operation a checker blamed, then fewer faults (delta debugging over the
list), smaller cuts (fewer nodes cut off, one direction instead of two) and
shorter windows. Whether a candidate fails is the caller's question to
answer (``fails(candidate)``), typically by running the test again with that
schedule; since timing bugs are not deterministic, the caller should count a
candidate as failing only when it fails every one of several tries.

The search is pure: it takes the clock and the test as arguments, stays
within a time budget, and reports each candidate tried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from .schedule import Schedule, ScheduledFault, shortened
from .topology import Partition, parse_spec, sides

__all__ = ["Attempt", "Shrinker", "smaller_cuts"]

Numbered = tuple[int, ScheduledFault]


@dataclass(frozen=True)
class Attempt:
    """One candidate tried: what it changed, its size, and whether it still failed."""

    what: str
    faults: int
    failed: bool
    seconds: float

    def line(self) -> str:
        """One progress line: ``shrink: 3 faults (first half): still fails (12.1 s)``."""
        outcome = "still fails" if self.failed else "passes"
        return f"{self.faults} fault(s), {self.what}: {outcome} ({self.seconds:.1f} s)"


class Shrinker:
    """Search for the smallest schedule for which ``fails(schedule)`` holds.

    ``budget`` bounds the search in seconds of ``clock``; a candidate is not
    started when the time left is less than the longest candidate took so far
    (``estimate`` before the first). ``hint`` is when (seconds from the start
    of run ``hint_run``) the blamed operation happened, if a checker blamed one.
    """

    def __init__(self, schedule: Schedule, fails: Callable[[Schedule], bool], *,
                 budget: float, estimate: float = 0.0, hint: float | None = None,
                 hint_run: int = 0, progress: Callable[[Attempt], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.best = schedule
        self._fails = fails
        self._budget = budget
        self._estimate = estimate
        self._hint = hint
        self._hint_run = hint_run
        self._progress = progress
        self._clock = clock
        self._began = clock()
        self._tried: dict[str, bool] = {}
        self.attempts: list[Attempt] = []
        self.out_of_time = False

    def run(self) -> Schedule:
        """Shrink as far as the budget allows; return the smallest failing schedule."""
        self._around_the_hint()
        self._fewer_faults()
        if len(self.best) == 1:
            self._try(self.best.replaced([]), "no fault at all")
        self._smaller_cuts()
        self._shorter_windows()
        return self.best

    # -- the candidates ----------------------------------------------------------------

    def _around_the_hint(self) -> None:
        """The fault in force at the blamed operation, or the last one before it, and
        the one before that: a stale read follows the cut that deposed a leader."""
        if self._hint is None or len(self.best) <= 1:
            return
        faults = [(number, fault) for number, fault in self.best.numbered()
                  if number == self._hint_run and fault.start <= self._hint]
        if not faults:
            return
        last = faults[-1:]
        if self._try(self.best.replaced(last), "only the fault at the blamed operation"):
            return
        if len(faults) >= 2:
            self._try(self.best.replaced(faults[-2:]),
                      "the two faults before the blamed operation")

    def _fewer_faults(self) -> None:
        """Delta debugging (ddmin) over the list of faults."""
        items = self.best.numbered()
        chunks = 2
        while len(items) >= 2 and not self.out_of_time:
            size = -(-len(items) // chunks)
            parts = [items[i:i + size] for i in range(0, len(items), size)]
            reduced = False
            for position, part in enumerate(parts):
                if self._try(self.best.replaced(part),
                             f"part {position + 1} of {len(parts)} of the faults"):
                    items, chunks, reduced = part, 2, True
                    break
            if not reduced and len(parts) > 2:
                for position, part in enumerate(parts):
                    rest = [item for item in items if item not in part]
                    if self._try(self.best.replaced(rest),
                                 f"without part {position + 1} of {len(parts)}"):
                        items, chunks, reduced = rest, max(chunks - 1, 2), True
                        break
            if not reduced:
                if chunks >= len(items):
                    break
                chunks = min(len(items), chunks * 2)
            items = self.best.numbered()

    def _smaller_cuts(self) -> None:
        for index in range(len(self.best)):
            changed = True
            while changed and not self.out_of_time:
                changed = False
                _, fault = self.best.numbered()[index]
                for smaller, what in smaller_cuts(fault):
                    candidate = self._swap(index, smaller)
                    if self._try(candidate, f"fault {index + 1} as {what}"):
                        changed = True
                        break

    def _shorter_windows(self) -> None:
        for index in range(len(self.best)):
            while not self.out_of_time:
                _, fault = self.best.numbered()[index]
                if fault.length <= 0.2:
                    break
                shorter = shortened(fault)
                if not self._try(self._swap(index, shorter),
                                 f"fault {index + 1} for {shorter.length:.2f} s instead of "
                                 f"{fault.length:.2f} s"):
                    break

    def _swap(self, index: int, fault: ScheduledFault) -> Schedule:
        numbered = self.best.numbered()
        numbered[index] = (numbered[index][0], fault)
        return self.best.replaced(numbered)

    # -- trying one ----------------------------------------------------------------------

    def _try(self, candidate: Schedule, what: str) -> bool:
        """Does ``candidate`` still fail? Keeps it as the best when it does."""
        key = json.dumps(candidate.to_dict()["runs"], sort_keys=True)
        if key in self._tried:
            return self._tried[key]
        longest = max([a.seconds for a in self.attempts], default=self._estimate)
        if self._clock() - self._began + longest > self._budget:
            self.out_of_time = True
            return False
        began = self._clock()
        failed = self._fails(candidate)
        attempt = Attempt(what, len(candidate), failed, self._clock() - began)
        self.attempts.append(attempt)
        self._tried[key] = failed
        if self._progress is not None:
            self._progress(attempt)
        if failed:
            self.best = candidate
        return failed


def smaller_cuts(fault: ScheduledFault) -> Iterator[tuple[ScheduledFault, str]]:
    """Partitions that cut less than ``fault`` does: one direction instead of two,
    then fewer nodes on the cut-off side (the smaller one)."""
    if fault.fault != "partition" or fault.spec is None:
        return
    names = sorted(fault.nodes())
    part = parse_spec(fault.spec, names)
    groups = [list(group) for group in part.groups]
    if len(groups) == 2 and set(part.cut) == _between(groups):
        small, big = sorted(groups, key=len)
        for src, dst in ((small, big), (big, small)):
            spec = f"{','.join(src)}->{','.join(dst)}"
            yield replace(fault, spec=spec), f"one way, {spec}"
        if len(small) > 1:
            for node in small:
                kept = [n for n in small if n != node]
                spec = _exact(names, {(a, b) for a in kept for b in [*big, node]}
                              | {(b, a) for a in kept for b in [*big, node]})
                yield replace(fault, spec=spec), f"{spec} ({node} left on the big side)"
        return
    links = sorted(part.cut)
    if len(links) > 1:
        for link in links:
            rest = set(links) - {link}
            spec = _exact(names, rest)
            yield replace(fault, spec=spec), f"{spec} (without {link[0]}->{link[1]})"


def _between(groups: Sequence[Sequence[str]]) -> set[tuple[str, str]]:
    return {(a, b) for i, left in enumerate(groups) for j, right in enumerate(groups)
            if i != j for a in left for b in right}


def _exact(names: list[str], cut: set[tuple[str, str]]) -> str:
    return Partition("", "", frozenset(cut), sides(names, cut)).exact
