"""converged() and availability() on synthetic histories with nemesis events."""

from __future__ import annotations

import json
from typing import Any

from pytest_partition.checkers import MISSING, availability, converged
from pytest_partition.history import History

SPLIT = {"spec": "A,B|C", "kind": "drop", "cut": [["A", "C"], ["C", "A"], ["B", "C"],
                                                  ["C", "B"]], "groups": [["A", "B"], ["C"]]}


class Recorder:
    """Builds a history one event at a time, 1 ms apart."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _add(self, **event: Any) -> None:
        self.events.append(dict(event, time=len(self.events) * 1_000_000))

    def fault(self, f: str, value: Any = None, type: str = "info") -> None:
        self._add(process="nemesis", type=type, f=f, value=value)

    def call(self, process: int, node: str, f: str, outcome: str = "ok", *,
             key: str = "x", value: Any = None, out: Any = None) -> None:
        self._add(process=process, node=node, type="invoke", f=f, key=key, value=value)
        if outcome != "never":
            self._add(process=process, node=node, type=outcome, f=f, key=key,
                      value=out if outcome == "ok" else value)

    def history(self) -> History:
        return History.from_events(self.events)


def partitioned_run() -> History:
    run = Recorder()
    for node in "ABC":
        run.call(0, node, "get")
    run.fault("partition", SPLIT, type="invoke")  # the invocation does not start the window
    run.fault("partition", SPLIT)
    for _ in range(4):
        run.call(1, "A", "get")
        run.call(2, "B", "put", value=1)
    for _ in range(3):
        run.call(3, "C", "get", "fail")
    run.call(3, "C", "put", "info", value=2)
    run.fault("kill", {"node": "B"})  # other faults are ignored here
    run.fault("heal")
    run.call(4, "C", "get")
    run.call(4, "C", "get", "never")
    return run.history()


def test_availability_per_node_and_per_side() -> None:
    result = availability(partitioned_run())
    assert (result.overall.ok, result.overall.fail, result.overall.info) == (12, 3, 2)
    assert result.per_node["C"].total == 7 and result.per_node["C"].info == 2
    c_cut = result.per_node_partitioned["C"]
    assert (c_cut.ok, c_cut.fail, c_cut.info) == (0, 3, 1) and c_cut.info_share == 0.25
    assert result.per_node_healthy["C"].ok_share == 2 / 3  # 2 ok, 1 never completed
    assert [w.spec for w in result.windows] == ["A,B|C"] and result.windows[0].end is not None
    sides = {side.name: side for side in result.sides}
    assert sides["{A,B}"].tally.ok_share == 1.0 and not sides["{A,B}"].minority
    assert sides["{C}"].tally.ok_share == 0.0 and sides["{C}"].minority
    assert result.worst_side() is sides["{C}"]
    assert result.sides_below(0.99) == [sides["{C}"]]
    text = result.explain()
    assert "side {C} (minority): 0% ok of 4 (75% fail, 25% info)" in text
    json.dumps(result.to_dict())


def test_windows_replace_each_other_and_groups_come_from_the_cut() -> None:
    run = Recorder()
    run.fault("partition", {"spec": "A->C", "kind": "reject", "cut": [["A", "C"]]})
    run.call(0, "A", "get")
    run.fault("partition", {"spec": "isolate:C", "cut": [["A", "C"], ["C", "A"],
                                                          ["B", "C"], ["C", "B"]]})
    run.call(0, "C", "get", "fail")
    run.call(1, "B", "get")
    result = availability(run.history())
    first, second = result.windows
    assert first.groups == [("A", "B", "C")] and first.kind == "reject"
    assert first.sides[0].tally.ok == 1
    assert sorted(second.groups) == [("A", "B"), ("C",)]
    assert {s.name: s.tally.ok_share for s in second.sides} == {"{A,B}": 1.0, "{C}": 0.0}
    assert second.end is None  # never healed


def test_availability_without_partitions() -> None:
    run = Recorder()
    run.call(0, "A", "get")
    result = availability(run.history())
    assert not result.partitioned and result.worst_side() is None
    assert "no partition" in result.explain()


def test_converged_and_diverged_replicas() -> None:
    same = converged({"A": {"x": 1, "y": [1, 2]}, "B": {"x": 1, "y": [1, 2]}})
    assert same.valid and same and same.keys == 2 and not same.diff
    assert "converged" in same.explain()
    apart = converged({"A": {"x": 1, "y": 2}, "B": {"x": 1, "y": 2}, "C": {"x": 3}})
    assert not apart.valid
    assert apart.diff == {"x": {"A": 1, "B": 1, "C": 3}, "y": {"A": 2, "B": 2, "C": MISSING}}
    text = apart.explain()
    assert "replicas differ on 2 of 2 key(s)" in text and "'x': A=1, B=1, C=3 (C differs)" in text
    assert json.loads(json.dumps(apart.to_dict()))["diff"]["y"]["C"] == "<missing>"
    assert converged({}).valid and converged({"A": {"x": 1}}).valid
