"""Fault schedules as data: the schedule.json format, its errors, and new plans."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from pytest_partition.schedule import (
    BLIP,
    LONG,
    Schedule,
    ScheduledFault,
    ScheduleError,
    plan_windows,
)
from pytest_partition.topology import parse_spec

FAULTS = [
    {"start": 0.5, "end": 2.0, "fault": "partition", "spec": "n1|n2,n3", "kind": "drop",
     "intent": "isolate:leader"},
    {"start": 2.5, "end": 3.0, "fault": "kill", "node": "n2"},
    {"start": 3.0, "end": 3.5, "fault": "pause", "node": "n3"},
    {"start": 3.1, "end": 3.4, "fault": "latency", "ms": 30.0, "jitter_ms": 5.0,
     "links": [["n1", "n2"]]},
    {"start": 4.0, "end": 6.0, "fault": "partition", "spec": "n1->n2", "kind": "reject"},
]


def test_a_schedule_round_trips_through_its_file(tmp_path: Path) -> None:
    schedule = Schedule.from_dict({"test": "t.py::test_x", "seed": 7,
                                   "runs": [{"faults": FAULTS}, {"faults": []}]})
    path = schedule.save(tmp_path / "schedule.json")
    again = Schedule.load(path)
    assert again == schedule
    assert again.test == "t.py::test_x" and again.seed == 7 and len(again) == 5
    assert again.faults[0].intent == "isolate:leader" and again.faults[3].links == (("n1", "n2"),)
    assert [fault.to_dict() for fault in again.faults] == [
        {k: v for k, v in f.items()} for f in json.loads(path.read_text())["runs"][0]["faults"]]


def test_describe_says_each_fault_with_its_window() -> None:
    schedule = Schedule.from_dict(FAULTS)
    assert schedule.describe() == [
        "0.50-2.00 s  partition n1|n2,n3 (isolate:leader)",
        "2.50-3.00 s  kill n2",
        "3.00-3.50 s  pause n3",
        "3.10-3.40 s  latency 30±5 ms on n1->n2",
        "4.00-6.00 s  partition n1->n2 [reject]",
    ]


def test_an_artifacts_folder_leads_to_its_one_schedule(tmp_path: Path) -> None:
    Schedule.from_dict(FAULTS).save(tmp_path / "test_x-1234" / "cluster" / "schedule.json")
    assert len(Schedule.load(tmp_path / "test_x-1234")) == 5
    Schedule.from_dict(FAULTS[:1]).save(tmp_path / "test_x-1234" / "cluster1" / "schedule.json")
    with pytest.raises(ScheduleError, match="holds several schedules"):
        Schedule.load(tmp_path / "test_x-1234")
    with pytest.raises(ScheduleError, match="holds no schedule.json"):
        Schedule.load(tmp_path)
    with pytest.raises(ScheduleError, match="no such file or folder"):
        Schedule.load(tmp_path / "nope.json")


@pytest.mark.parametrize(("data", "message"), [
    ({"faults": []}, 'not a schedule; accepted: an object with "runs"'),
    ([{"start": 1, "end": 2, "fault": "explode"}],
     "fault 1: fault 'explode' is not one of partition, kill, pause, latency"),
    ([{"start": 2, "end": 1, "fault": "kill", "node": "n1"}], "end 1 must come after start 2"),
    ([{"start": -1, "end": 1, "fault": "kill", "node": "n1"}],
     "start -1 is not a number of seconds from the nemesis' start; accepted: a number of "
     "seconds >= 0 and <= 3600"),
    ([{"start": 0, "end": float("inf"), "fault": "kill", "node": "n1"}], "end inf is not"),
    ([{"start": 0, "end": 1, "fault": "kill"}], "a kill needs the node's name, got None"),
    ([{"start": 0, "end": 1, "fault": "partition", "spec": ""}], "a partition needs a spec"),
    ([{"start": 0, "end": 1, "fault": "partition", "spec": "a|b", "kind": "fry"}],
     "kind 'fry' is not one of drop, reject"),
    ([{"start": 0, "end": 1, "fault": "kill", "node": "n1", "spec": "x"}],
     "unknown field(s) spec for a kill fault; accepted: end, fault, intent, node, start"),
    ([{"start": 0, "end": 1, "fault": "latency", "ms": -5}],
     "ms -5 is not accepted; accepted: a number of milliseconds >= 0 and <= 3600000"),
    ([{"start": 0, "end": 1, "fault": "latency", "ms": 5e6}],
     "ms 5000000.0 is not accepted; accepted: a number of milliseconds >= 0 and <= 3600000"),
    ([{"start": 0, "end": 2, "fault": "partition", "spec": "a|b"},
      {"start": 1, "end": 3, "fault": "partition", "spec": "a->b"}],
     "1.00-3.00 s  partition a->b overlaps 0.00-2.00 s  partition a|b"),
    ({"format": "other", "runs": []}, "format 'other'"),
])
def test_a_bad_schedule_is_refused_naming_the_part(data: object, message: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        Schedule.from_dict(data)
    assert message in str(raised.value)


def test_faults_of_different_nodes_may_overlap() -> None:
    Schedule.from_dict([{"start": 0, "end": 2, "fault": "kill", "node": "n1"},
                        {"start": 1, "end": 3, "fault": "kill", "node": "n2"},
                        {"start": 1, "end": 3, "fault": "partition", "spec": "n1|n2"}])


def test_a_file_that_is_not_json_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "schedule.json"
    path.write_text('{"runs": [\n  {"faults": [}\n]}\n')
    with pytest.raises(ScheduleError, match=r"schedule.json: line 2: not JSON"):
        Schedule.load(path)


@pytest.mark.parametrize("spec", ["A,B|C", "A->C", "A->B;C->B", "isolate:B", "bridge",
                                  "majority-ring", "random-halves"])
def test_an_exact_spec_cuts_exactly_the_same_links(spec: str) -> None:
    nodes = ["A", "B", "C", "D", "E"]
    part = parse_spec(spec, nodes, rng=random.Random(3))
    again = parse_spec(part.exact, nodes)
    assert again.cut == part.cut
    assert "random" not in part.exact and "isolate" not in part.exact


def test_the_scheduled_fault_names_its_nodes() -> None:
    fault = ScheduledFault.from_dict(FAULTS[0])
    assert fault.nodes() == {"n1", "n2", "n3"}
    assert ScheduledFault.from_dict(FAULTS[3]).nodes() == {"n1", "n2"}


# -- plans ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("duration", [2.0, 5.0, 12.0])
def test_a_bounded_plan_has_a_blip_a_long_cut_and_holds_its_last_cut(seed: int,
                                                                      duration: float) -> None:
    windows = list(plan_windows(random.Random(seed), duration, hold=1.5))
    assert windows, "at least the last cut"
    starts = [start for start, _ in windows]
    assert starts == sorted(starts)
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start > end, "windows never overlap: the nemesis heals in between"
    last_start, last_end = windows[-1]
    assert last_start < duration and last_end == duration + 1.5
    long_cuts = [(s, e) for s, e in windows if min(e, duration) - s >= LONG - 1e-9]
    assert long_cuts, "some cut outlasts common timeouts while the clients still run"
    if duration >= 5:
        assert windows[0][1] - windows[0][0] <= BLIP, "a blip first"
        assert len(windows) >= 3


def test_plans_repeat_for_a_seed_and_differ_across_seeds() -> None:
    def plan(seed: int) -> list[tuple[float, float]]:
        return list(plan_windows(random.Random(seed), 5.0, hold=1.5))

    assert plan(1) == plan(1)
    assert len({tuple(plan(seed)) for seed in range(10)}) == 10


def test_a_fixed_interval_makes_equal_windows() -> None:
    windows = list(plan_windows(random.Random(1), 5.0, hold=1.0, interval=0.5,
                                heal_interval=0.25))
    assert [round(end - start, 6) for start, end in windows[:-1]] == [0.5] * (len(windows) - 1)
    assert windows[1][0] - windows[0][1] == pytest.approx(0.25)
    assert windows[-1][1] == 6.0


def test_an_open_plan_goes_on_with_a_long_tail() -> None:
    windows = list(itertools.islice(plan_windows(random.Random(5)), 200))
    lengths = [end - start for start, end in windows]
    assert lengths[0] <= BLIP and lengths[1] >= LONG
    assert min(lengths) < 0.3 and max(lengths) > 2.5, "blips and long cuts alike"
