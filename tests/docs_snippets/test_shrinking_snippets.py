"""The samples of docs/shrinking.md, run for real.

The schedule is the one the page's worked example shrank to (a real
smallest-schedule.json); the samples load it, replay it without pytest, and
write a schedule by hand.
"""

import json

from pytest_partition import Cluster, Nemesis, Schedule, ScheduledFault

SMALLEST = {
    "format": "pytest-partition/schedule",
    "version": 1,
    "test": "examples/test_shrink.py::test_a_mixed_schedule_shrinks_to_the_cut_that_matters",
    "seed": 239236367,
    "runs": [{"faults": [{"start": 1.5014, "end": 2.2514, "fault": "partition",
                          "spec": "n3->n2", "kind": "drop", "intent": "random-halves"}]}],
}


def test_a_schedule_replayed_without_pytest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smallest-schedule.json").write_text(json.dumps(SMALLEST))

    schedule = Schedule.load("smallest-schedule.json")
    print("\n".join(schedule.describe()))
    with Cluster(nodes=3, mode="ap", bug="no-anti-entropy") as cluster:
        result = cluster.run("kv", duration=3.0, nemesis=Nemesis.replay(schedule))
    print(result.verdict.sentence)

    assert capsys.readouterr().out.startswith("1.50-2.25 s  partition n3->n2 (random-halves)\n")
    assert [fault.shape() for fault in result.schedule] == ["partition n3->n2"]
    assert abs(result.schedule[0].length - 0.75) < 0.5  # the recorded window, as recorded


def test_a_schedule_written_by_hand(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    faults = [ScheduledFault(start=0.5, end=2.5, fault="partition", spec="n1|n2,n3"),
              ScheduledFault(start=3.0, end=3.5, fault="kill", node="n2")]
    Schedule([faults], test="a cut, then a kill").save("schedule.json")

    loaded = Schedule.load(tmp_path)  # an artifacts folder that holds one works too
    assert loaded.describe() == ["0.50-2.50 s  partition n1|n2,n3", "3.00-3.50 s  kill n2"]
    assert Nemesis.replay("schedule.json").describe() == "replay of 2 recorded fault(s)"
