"""cap_verdict on synthetic CP, AP and broken histories."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_partition.checkers import Model, cap_verdict
from pytest_partition.history import History, Operation

SPLIT = {"spec": "A,B|C", "kind": "drop", "cut": [], "groups": [["A", "B"], ["C"]]}


class Run:
    """Sequential calls and faults, 5 ms apart (more than a clock's resolution)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _add(self, **event: Any) -> None:
        self.events.append(dict(event, time=len(self.events) * 5_000_000))

    def partition(self, value: dict[str, Any] = SPLIT) -> Run:
        self._add(process="nemesis", type="info", f="partition", value=value)
        return self

    def heal(self) -> Run:
        self._add(process="nemesis", type="info", f="heal")
        return self

    def call(self, node: str, f: str, value: Any = None, out: Any = None,
             outcome: str = "ok", key: str = "x") -> Run:
        process = len(self.events)
        self._add(process=process, node=node, type="invoke", f=f, key=key, value=value)
        self._add(process=process, node=node, type=outcome, f=f, key=key,
                  value=out if outcome == "ok" else value)
        return self

    def history(self) -> History:
        return History.from_events(self.events)


def ap_run() -> Run:
    run = Run().call("A", "put", 1).partition()
    run.call("A", "put", 2).call("B", "get", out=2).call("C", "get", out=1)  # stale on C
    return run.heal().call("C", "get", out=2)


def test_cp_history_with_a_refusing_minority() -> None:
    run = Run().call("A", "put", 1).partition()
    run.call("A", "put", 2).call("B", "get", out=2)
    for _ in range(3):
        run.call("C", "get", outcome="fail")
    run.call("C", "put", 3, outcome="info")
    run.heal().call("C", "get", out=2)
    verdict = cap_verdict(run.history(), states={n: {"x": 2} for n in "ABC"})
    assert verdict.verdict == "CP" and verdict.valid_cp is True and verdict.valid_ap is False
    assert verdict.sentence == ("CP: all 5 operations are linearizable and the minority side "
                                "{C} refused 100% of 4 request(s) during A,B|C.")
    assert str(verdict) == verdict.sentence
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["verdict"] == "CP" and data["details"]["linearizable"]["valid"] is True
    with pytest.raises(TypeError, match="compare verdict.verdict"):
        bool(verdict)


def test_ap_history_stale_but_available_and_converged() -> None:
    verdict = cap_verdict(ap_run().history(), states={n: {"x": 2} for n in "ABC"})
    assert verdict.verdict == "AP" and verdict.valid_cp is False and verdict.valid_ap is True
    assert verdict.sentence.startswith(
        "AP: every node answered 100% of requests during A,B|C, the replicas converged "
        "and no acknowledged write was lost; the history is not linearizable (read of 'x' "
        "returned 1 at ")
    assert verdict.sentence.endswith("as an AP system may be.")
    assert "availability:" in verdict.explain()


def test_neither_when_replicas_diverge() -> None:
    verdict = cap_verdict(ap_run().history(), states={"A": {"x": 2}, "B": {"x": 2},
                                                      "C": {"x": 1}})
    assert verdict.verdict == "neither" and verdict.valid_ap is False
    assert "and the replicas did not converge (1 of 1 key(s) differ)." in verdict.sentence


def test_neither_when_an_acknowledged_write_is_lost() -> None:
    verdict = cap_verdict(ap_run().history(), states={n: {"x": 1} for n in "ABC"})
    assert verdict.verdict == "neither"
    assert ("key 'x' ends as 1 on A, but put 2 (process 3 on A, ok at 20.0 ms) was invoked "
            "after every write of 1 had completed") in verdict.sentence


def test_neither_when_a_side_stops_answering() -> None:
    run = ap_run().partition().call("C", "get", outcome="fail").call("C", "get", out=2)
    verdict = cap_verdict(run.history(), threshold=0.9)
    assert verdict.verdict == "neither"
    assert "side {C} answered only 67% of requests during A,B|C" in verdict.sentence


def test_no_partition_and_not_linearizable_is_unknown() -> None:
    run = Run().call("A", "put", 1).call("A", "put", 2).call("C", "get", out=1)
    verdict = cap_verdict(run.history())
    assert verdict.verdict == "unknown" and verdict.valid_ap == "unknown"
    assert "holds no partition" in verdict.sentence


def test_linearizable_without_partition_is_cp_with_a_caveat() -> None:
    verdict = cap_verdict(Run().call("A", "put", 1).call("C", "get", out=1).history())
    assert verdict.verdict == "CP"
    assert verdict.sentence == ("CP: all 2 operations are linearizable; the history holds no "
                                "partition, so how a minority side behaves was not tested.")


def test_both_cp_and_ap_prefers_cp_and_says_so() -> None:
    run = Run().call("A", "put", 1).partition().call("C", "get", out=1).call("A", "get", out=1)
    verdict = cap_verdict(run.heal().history(), states={n: {"x": 1} for n in "ABC"})
    assert verdict.verdict == "CP" and verdict.valid_ap is True
    assert "so it also met the AP rules: these partitions did not force a choice" in (
        verdict.sentence)


def test_ap_counter_and_a_lost_increment() -> None:
    run = Run().call("A", "incr", 60, out=60).partition()
    run.call("A", "incr", -1, out=59).call("C", "incr", -1, out=59).call("C", "get", out=59)
    history = run.heal().history()
    good = cap_verdict(history, states={n: {"x": 58} for n in "ABC"})
    assert good.verdict == "AP"
    assert "no acknowledged increment was lost" in good.sentence
    bad = cap_verdict(history, states={n: {"x": 59} for n in "ABC"})
    assert bad.verdict == "neither"
    assert ("acknowledged decrements are missing: final value on A is 59, expected at most "
            "58 (1 over)") in bad.sentence


def test_an_undecidable_linearizability_with_ap_is_ap() -> None:
    class Broken(Model):
        name = "broken"

        def init(self) -> int:
            return 0

        def step(self, state: Any, op: Operation) -> tuple[bool, int]:
            raise RuntimeError("no spec")

    verdict = cap_verdict(ap_run().history(), model=Broken(),
                          states={n: {"x": 2} for n in "ABC"})
    assert verdict.verdict == "AP" and verdict.valid_cp == "unknown"
    assert "linearizability could not be decided (the checker could not run: RuntimeError" in (
        verdict.sentence)


def test_a_history_that_cannot_be_paired_is_unknown() -> None:
    history = History.from_events([{"process": 0, "type": "ok", "f": "get"}])
    verdict = cap_verdict(history)
    assert verdict.verdict == "unknown" and "cannot be read as operations" in verdict.sentence


def test_writes_closer_than_the_clock_resolution_count_as_concurrent() -> None:
    from pytest_partition import History
    from pytest_partition.checkers import check_lost_updates

    def write(process: int, node: str, value: int, start_ms: float, end_ms: float) -> list[dict]:
        return [{"process": process, "type": "invoke", "f": "put", "key": "x", "value": value,
                 "node": node, "time": int(start_ms * 1e6)},
                {"process": process, "type": "ok", "f": "put", "key": "x", "value": True,
                 "node": node, "time": int(end_ms * 1e6)}]

    # C's write ends 0.5 ms before A's starts: the same millisecond of the
    # hybrid clock, so last-writer-wins may keep either.
    close = History.from_events(write(0, "C", 1, 0.0, 1.0) + write(1, "A", 2, 1.5, 2.0))
    assert check_lost_updates(close, {"A": {"x": 1}, "C": {"x": 1}}).valid
    apart = History.from_events(write(0, "C", 1, 0.0, 1.0) + write(1, "A", 2, 9.0, 10.0))
    assert not check_lost_updates(apart, {"A": {"x": 1}, "C": {"x": 1}}).valid
