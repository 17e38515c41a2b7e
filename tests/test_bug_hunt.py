"""The checkers catch every planted bug with default settings, and do not cry wolf.

Each run is what a new user writes, ``cluster.run(workload, nemesis=...)``,
shortened to 3 s for the suite: ``isolate:leader`` against the CP store,
``random-halves`` against the AP one. A bug must be caught within three runs;
bench/bench_bug_hunt.py measures the catch rates of 5 s runs.
"""

from __future__ import annotations

import warnings

import pytest

from pytest_partition import Cluster, RunResult, UntestedWarning

NEMESIS = {"cp": "isolate:leader", "ap": "random-halves"}
BUGS = [
    ("cp", "stale-read", "kv"),
    ("cp", "ack-before-commit", "register"),
    ("ap", "no-anti-entropy", "kv"),
    ("ap", "lost-update", "counter"),
    ("ap", "lost-update", "kv"),
]


def default_run(mode: str, bug: str | None, workload: str, seed: int) -> RunResult:
    with Cluster(3, mode=mode, bug=bug, seed=seed) as cluster:
        return cluster.run(workload, duration=3.0, nemesis=NEMESIS[mode])


def check(result: RunResult, mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntestedWarning)  # a pass must have been put to the test
        (result.assert_cp if mode == "cp" else result.assert_ap)()


@pytest.mark.parametrize(("mode", "bug", "workload"), BUGS,
                         ids=[f"{bug}-{workload}" for _, bug, workload in BUGS])
@pytest.mark.slow(seconds=8)
def test_each_planted_bug_is_caught_within_three_default_runs(mode: str, bug: str,
                                                             workload: str) -> None:
    failures = []
    for attempt in range(3):
        try:
            check(default_run(mode, bug, workload, seed=1000 + attempt), mode)
        except AssertionError as error:
            failures.append(str(error))
            break
    assert failures, f"{bug} was not caught in 3 default runs of 3 s"
    report = failures[0]
    assert report.startswith("not CP: not linearizable" if mode == "cp" else "not AP: ")
    assert "seed" in report


@pytest.mark.parametrize(("mode", "workload"), [("cp", "register"), ("cp", "kv"),
                                                ("ap", "kv"), ("ap", "counter")])
@pytest.mark.slow
def test_the_correct_store_raises_no_false_alarm(mode: str, workload: str) -> None:
    result = default_run(mode, None, workload, seed=2000)
    check(result, mode)
    assert result.verdict.verdict == mode.upper()


@pytest.mark.parametrize("mode", ["cp", "ap"])
@pytest.mark.slow
def test_cap_verdict_under_random_halves(mode: str) -> None:
    with Cluster(3, mode=mode, seed=7) as cluster:
        # As fast as the store answers: on the AP side a stale read (what
        # tells AP from CP) is then certain, not likely.
        result = cluster.run("register", duration=3.0, rate=None, nemesis="random-halves")
    assert result.verdict.verdict == mode.upper(), result.verdict.sentence
    assert result.verdict.sentence.startswith(mode.upper() + ":")
