"""The checkers catch every planted bug, and do not cry wolf on the correct store.

Each bug gets at most 3 runs of 5 s; the settings below are the ones the
docs recommend for hunting that kind of bug (see docs/checkers.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_partition import Cluster
from pytest_partition.nemesis import Nemesis
from pytest_partition import RunResult

# How to hunt each kind of bug: CP bugs show when the leader is cut off and a
# new one takes over; AP bugs when both sides write while apart.
HUNTS: dict[str, dict[str, Any]] = {
    "cp": {"workload": "kv", "rate": None, "client_timeout": 0.2,
           "nemesis": lambda: Nemesis("isolate:leader", interval=1.0, heal_interval=0.3)},
    "ap-kv": {"workload": "kv", "keys": 100, "rate": 50, "settle_timeout": 3.0,
              "nemesis": lambda: Nemesis("random-halves", interval=1.0, heal_interval=0.3)},
    "ap-counter": {"workload": "counter", "rate": None,
                   "nemesis": lambda: Nemesis("random-halves", interval=1.0, heal_interval=0.3)},
}
BUGS = [
    ("cp", "stale-read", "cp"),
    ("cp", "ack-before-commit", "cp"),
    ("ap", "no-anti-entropy", "ap-kv"),
    ("ap", "lost-update", "ap-counter"),
    ("ap", "lost-update", "ap-kv"),
]


def hunt(mode: str, bug: str | None, how: str, seed: int) -> RunResult:
    settings = dict(HUNTS[how])
    nemesis = settings.pop("nemesis")()
    with Cluster(3, mode=mode, bug=bug, seed=seed) as cluster:
        return cluster.run(duration=5.0, clients=5, nemesis=nemesis, **settings)


def check(result: RunResult, mode: str) -> None:
    (result.assert_cp if mode == "cp" else result.assert_ap)()


@pytest.mark.parametrize(("mode", "bug", "how"), BUGS, ids=[f"{bug}-{how}" for _, bug, how in BUGS])
def test_each_planted_bug_is_caught_within_three_runs(mode: str, bug: str, how: str) -> None:
    failures = []
    for attempt in range(3):
        result = hunt(mode, bug, how, seed=1000 + attempt)
        try:
            check(result, mode)
        except AssertionError as error:
            failures.append(str(error))
            break
    assert failures, f"{bug} was not caught in 3 runs of 5 s"
    report = failures[0]
    assert report.startswith("not CP: not linearizable" if mode == "cp" else "not AP: ")
    assert "seed" in report and "faults around it" in report


@pytest.mark.parametrize(("mode", "how"), [("cp", "cp"), ("ap", "ap-kv"), ("ap", "ap-counter")])
def test_the_correct_store_raises_no_false_alarm(mode: str, how: str) -> None:
    result = hunt(mode, None, how, seed=2000)
    check(result, mode)
    assert result.verdict.verdict == mode.upper()


@pytest.mark.parametrize("mode", ["cp", "ap"])
def test_cap_verdict_under_random_halves(mode: str) -> None:
    with Cluster(3, mode=mode, seed=7) as cluster:
        # As fast as the store answers: on the AP side a stale read (what
        # tells AP from CP) is then certain, not likely.
        result = cluster.run("register", duration=3.0, rate=None, nemesis="random-halves")
    assert result.verdict.verdict == mode.upper(), result.verdict.sentence
    assert result.verdict.sentence.startswith(mode.upper() + ":")
