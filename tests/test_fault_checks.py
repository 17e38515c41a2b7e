"""Faults and schedules check their arguments when built, not after the run."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from pytest_partition import Cut, Kill, Latency, Nemesis, Pause
from pytest_partition.errors import ArgumentError, ArgumentTypeError
from pytest_partition.nemesis import as_nemesis


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: Nemesis(42), ArgumentTypeError, "fault 1 of the Nemesis, 42, is not a fault"),
        (lambda: Nemesis("A|B", object()), ArgumentTypeError, "fault 2 of the Nemesis"),
        (lambda: Nemesis("A|B", interval=float("inf")), ArgumentError,
         "interval must be > 0 and <= 3600 seconds (or None: random windows with a long tail), got inf"),
        (lambda: Nemesis("A|B", interval=1e10), ArgumentError, "interval must be > 0 and <= 3600"),
        (lambda: Nemesis("A|B", interval=True), ArgumentError, "interval must be > 0 and <= 3600"),
        (lambda: Nemesis("A|B", interval="1"), ArgumentError, "interval must be > 0 and <= 3600"),
        (lambda: Nemesis("A|B", heal_interval=float("nan")), ArgumentError,
         "heal_interval must be >= 0 and <= 3600 seconds (or None: the interval), got nan"),
        (lambda: Cut("A|B", kind="x"), ArgumentError, "Cut: kind='x' is not one of drop, reject"),
        (lambda: Cut(""), ArgumentError, "Cut: spec='' is not accepted; give a partition spec"),
        (lambda: Cut(3), ArgumentError, "Cut: spec=3 is not accepted"),  # type: ignore[arg-type]
        (lambda: Latency(-3), ArgumentError, ("Latency: ms=-3 is out of range; accepted: a number "
                                           "of milliseconds >= 0 and <= 3600000")),
        (lambda: Latency(float("inf")), ArgumentError, "Latency: ms=inf is not finite"),
        (lambda: Latency(10, jitter_ms=-1), ArgumentError, "Latency: jitter_ms=-1 is out of range"),
        (lambda: Latency(10, links=5),  # type: ignore[arg-type]
         ArgumentError, "Latency: links=5 is not accepted"),
        (lambda: Latency(10, links=[("A",)]), ArgumentError,
         "Latency: links=[('A',)] is not accepted"),
        (lambda: Kill(3), ArgumentError,
         "Kill: node=3 is not accepted; give a node name or 'random'"),
        (lambda: Pause(""), ArgumentError, "Pause: node='' is not accepted"),
        (lambda: as_nemesis(42), ArgumentTypeError,
         "nemesis 42: give a spec name, a list of them, or a Nemesis"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_faults_are_refused_when_built(build: Callable[[], object], error: type[Exception],
                                           message: str) -> None:
    with pytest.raises(error, match=re.escape(message)) as raised:
        build()
    assert type(raised.value) is error


def test_good_faults_are_built_unchanged() -> None:
    nemesis = Nemesis("A|B", Cut("A->B", kind="reject"), Latency(5, 1.5, links="A->B"),
                      Latency(0), Kill(), Pause("n1"), interval=0.1, heal_interval=0)
    assert [fault.describe() for fault in nemesis.faults] == [
        "A|B", "A->B (reject)", "latency 5±1.5 ms", "latency 0±0 ms", "kill random",
        "pause n1"]
    assert nemesis.interval == 0.1 and nemesis.heal_interval == 0
    assert Latency(3, links=[("A", "B")]).links == [("A", "B")]
    assert as_nemesis(["A|B", "halves"], interval=2).describe() == "A|B, halves every 2 s"
