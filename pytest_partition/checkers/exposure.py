"""``exposure(history)``: could the faults of a history have exposed anything?

A pass means little when the faults could not have caught the property it
asserts. This checker says, from the history alone, what the partitions put
to the test:

- **CP** is put to the test when some operation was invoked on a minority
  side while a partition was in force: that side had to refuse, or it could
  have answered wrongly. (Kills and pauses put it to the test too.)
- **AP**, for lost updates and divergence, when some key was written from
  two sides of one partition: only then can a merge lose a write, or the
  replicas disagree. Availability is judged only for sides that got
  requests, and only when there was a partition at all.

The result names what was missing, in words a test report can print.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from ..history import History
from .availability_check import partition_windows, window_of
from .model_base import READS, freeze

__all__ = ["Exposure", "exposure"]


@dataclass
class Exposure:
    """What a history's faults put to the test; see the module doc."""

    windows: int
    faults: list[str]
    minority_requests: int
    keys_written_on_two_sides: int
    sides_without_requests: list[str] = field(default_factory=list)

    @property
    def cp_untested(self) -> str | None:
        """Why the faults could not have exposed a CP violation, or None."""
        if not self.faults:
            return "the run applied no fault, so nothing was put to the test"
        if self.windows and not self.minority_requests and not (
                set(self.faults) & {"kill", "pause", "restart", "resume"}):
            return ("no operation was invoked on a minority side while a partition was in "
                    "force, so no side had to refuse or could answer wrongly")
        return None

    @property
    def ap_untested(self) -> str | None:
        """Why the faults could not have exposed lost updates or divergence, or None."""
        if not self.windows:
            kinds = ", ".join(sorted(set(self.faults))) or "none"
            return f"no cut: the run's faults ({kinds}) partitioned nothing"
        if not self.keys_written_on_two_sides:
            return ("no key was written from two sides of one partition, so no merge could "
                    "lose a write or leave the replicas apart")
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        return {"checker": "exposure", "windows": self.windows, "faults": self.faults,
                "minority_requests": self.minority_requests,
                "keys_written_on_two_sides": self.keys_written_on_two_sides,
                "sides_without_requests": self.sides_without_requests,
                "cp_untested": self.cp_untested, "ap_untested": self.ap_untested}

    def explain(self) -> str:
        """What was put to the test, in a sentence or two."""
        parts = [f"{self.windows} partition window(s); {self.minority_requests} request(s) "
                 f"on a minority side; {self.keys_written_on_two_sides} key(s) written from "
                 "two sides of one partition"]
        parts.extend(reason for reason in (self.cp_untested, self.ap_untested) if reason)
        return "\n".join(parts)


def exposure(history: History) -> Exposure:
    """Measure what the history's partitions put to the test."""
    history = history.snapshot()
    windows = partition_windows(history)
    starts = [window.first_index for window in windows]
    numbers = {id(window): number for number, window in enumerate(windows)}
    minority = 0
    writers: dict[tuple[int, Hashable], set[int]] = {}  # (window, key) -> sides that wrote
    asked: set[tuple[int, int]] = set()
    for op in history.operations():
        window = window_of(op.invoke_index, windows, starts)
        if window is None or op.node is None:
            continue
        number = numbers[id(window)]
        for position, side in enumerate(window.sides):
            if op.node not in side.nodes:
                continue
            asked.add((number, position))
            if side.minority:
                minority += 1
            if op.f not in READS and op.key is not None:
                writers.setdefault((number, freeze(op.key)), set()).add(position)
            break
    idle = [f"{side.name} during {window.spec}" for number, window in enumerate(windows)
            for position, side in enumerate(window.sides) if (number, position) not in asked]
    faults = [event.f for event in history.faults() if event.type != "invoke"]
    return Exposure(
        windows=len(windows),
        faults=faults,
        minority_requests=minority,
        keys_written_on_two_sides=len({key for (_, key), sides in writers.items()
                                       if len(sides) > 1}),
        sides_without_requests=list(dict.fromkeys(idle)),
    )
