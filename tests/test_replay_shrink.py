"""--partition-replay, --partition-shrink and the remembered schedules, end to end.

The toy failure is deterministic: the test fails exactly when its run's
schedule held a cut through which n2 could not send to n1, so the smallest
failing schedule is known in advance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_partition.schedule import Schedule
from pytest_partition.seeds import derive_seed

pytest_plugins = ["pytester"]

NAIVE = Path(__file__).resolve().parent / "nodes" / "naive_node.py"

TOY_FAILURE = f"""
import os, sys, json
import pytest
from pytest_partition import Nemesis
from pytest_partition.topology import parse_spec

@pytest.mark.cluster(nodes=3, command=[sys.executable, {str(NAIVE)!r}, "--mode", "primary"])
def test_toy(cluster):
    result = cluster.run("register", clients=1, duration=0.8, hold=0.1, settle_timeout=1.0,
                         nemesis=Nemesis("n1|n2,n3", "n3|n1,n2", "n2|n1,n3",
                                         interval=0.12, heal_interval=0.05))
    with open("applied.jsonl", "a") as out:
        out.write(json.dumps([f.to_dict() for f in result.schedule]) + "\\n")
    if os.environ.get("TOY_FIXED"):
        return
    cut_off = [f.spec for f in result.schedule
               if ("n2", "n1") in parse_spec(f.spec, cluster.names).cut]
    assert not cut_off, f"n2 could not send to n1 during {{cut_off}}"
"""


@pytest.fixture
def toy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TOY_FIXED", raising=False)
    pytester.makepyfile(test_toy=TOY_FAILURE)
    return pytester


def applied(pytester: pytest.Pytester) -> list[list[dict[str, object]]]:
    lines = (pytester.path / "applied.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def shapes(faults: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(f["fault"], f.get("spec")) for f in faults]


@pytest.mark.slow(seconds=30)
def test_a_failure_shrinks_to_the_one_fault_that_matters_and_is_remembered(
        toy: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = toy.runpytest_subprocess("--partition-seed=4", "--partition-shrink",
                                      "--partition-shrink-tries=1",
                                      "--partition-shrink-budget=150")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    original = applied(toy)[0]
    assert len(original) >= 4
    # One progress line per candidate tried, then the section.
    tried = re.findall(r"partition: shrink: (\d+) fault\(s\), (.*): (still fails|passes)", text)
    assert tried and len(tried) == len(applied(toy)) - 1
    result.stdout.fnmatch_lines([
        "*partition: smallest failing schedule*",
        "1 of * fault(s) still fail (1 of 1 tries; * candidate(s) in * s):",
        "  *partition n2->n1*",
        "schedule: *smallest-schedule.json",
        "replay: pytest test_toy.py::test_toy --partition-seed=4 --partition-replay=*",
    ])
    # The test keeps its original failure.
    result.stdout.fnmatch_lines(["*AssertionError: n2 could not send to n1 during*"])
    path = Path(re.search(r"schedule: (\S+smallest-schedule\.json)", text).group(1))
    smallest = Schedule.load(path)
    assert [f.spec for f in smallest.faults] == ["n2->n1"]
    assert smallest.test == "test_toy.py::test_toy" and smallest.seed == 4

    runs_before = len(applied(toy))
    # The next run (no seed given) replays the remembered schedule first.
    again = toy.runpytest_subprocess()
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*replay of 1 recorded fault(s) remembered from an earlier "
                                "failure*"])
    assert shapes(applied(toy)[runs_before]) == [("partition", "n2->n1")]
    # --partition-no-remember draws a fresh schedule.
    toy.runpytest_subprocess("--partition-no-remember")
    assert len(applied(toy)[runs_before + 1]) > 1
    # Once the bug is fixed, the remembered schedule proves it, and is forgotten.
    monkeypatch.setenv("TOY_FIXED", "1")
    toy.runpytest_subprocess().assert_outcomes(passed=1)
    assert shapes(applied(toy)[runs_before + 2]) == [("partition", "n2->n1")]
    toy.runpytest_subprocess().assert_outcomes(passed=1)
    assert len(applied(toy)[runs_before + 3]) > 1, "fresh faults again"


def test_replay_applies_exactly_the_recorded_faults(toy: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_FIXED", "1")
    toy.runpytest_subprocess("--partition-seed=9", "--partition-keep-artifacts",
                             "--partition-artifacts=arts").assert_outcomes(passed=1)
    (folder,) = (toy.path / "arts").iterdir()
    recorded = Schedule.load(folder)  # the artifacts folder leads to its schedule.json
    assert shapes(applied(toy)[0]) == [("partition", f.spec) for f in recorded.faults]
    replayed = toy.runpytest_subprocess("--partition-seed=9", f"--partition-replay={folder}",
                                        "-p", "no:cacheprovider")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines([f"partition: replaying the {len(recorded)} fault(s) of *"])
    again = applied(toy)[1]
    assert shapes(again) == shapes(applied(toy)[0])
    for before, after in zip(recorded.faults, again):
        # Applied at the recorded offsets (never before them), for as long.
        assert before.start <= float(after["start"]) < before.start + 1.0
        length = float(after["end"]) - float(after["start"])
        assert length >= before.length - 0.01


def test_the_seed_fixture_follows_the_replayed_schedule(pytester: pytest.Pytester) -> None:
    # A replay runs with the schedule's seed; partition_seed must say that one,
    # as the cluster does, or a test that draws from it would not repeat.
    pytester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=1, mode="ap")
        def test_seeds(partition_seed, cluster):
            with open("seeds.txt", "w") as out:
                out.write(f"{partition_seed} {cluster.seed}")
    """)
    Schedule([[]], seed=77).save(pytester.path / "schedule.json")
    pytester.runpytest_subprocess("--partition-replay=schedule.json",
                                  "-p", "no:cacheprovider").assert_outcomes(passed=1)
    fixture, cluster = (pytester.path / "seeds.txt").read_text().split()
    assert fixture == cluster == str(derive_seed(77, "test_the_seed_fixture_follows_the_"
                                                     "replayed_schedule.py::test_seeds", 0))


def test_a_passing_test_is_never_rerun(toy: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_FIXED", "1")
    result = toy.runpytest_subprocess("--partition-shrink")
    result.assert_outcomes(passed=1)
    assert "shrink" not in result.stdout.str()
    assert len(applied(toy)) == 1


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file or folder"),
    ("{", "line 1: not JSON"),
    ('{"runs": [{"faults": [{"start": 1, "end": 0, "fault": "kill", "node": "n1"}]}]}',
     "run 1, fault 1: end 0 must come after start 1"),
])
def test_a_bad_replay_is_a_usage_error(pytester: pytest.Pytester, content: str | None,
                                       message: str) -> None:
    path = pytester.path / "schedule.json"
    if content is not None:
        path.write_text(content)
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess(f"--partition-replay={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --partition-replay: *{message}*"])


def test_a_replay_naming_unknown_nodes_fails_its_test(pytester: pytest.Pytester) -> None:
    path = Schedule.from_dict([{"start": 0.1, "end": 0.3, "fault": "partition",
                                "spec": "x1|x2"}]).save(pytester.path / "schedule.json")
    pytester.makepyfile(TOY_FAILURE)
    result = pytester.runpytest_subprocess(f"--partition-replay={path}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the schedule's 0.10-0.30 s  partition x1|x2 names node(s) "
                                 "x1, x2, which this cluster does not have*"])


def test_options_are_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("--partition-shrink-tries=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*number of tries 0 is out of range; accepted: an integer from 1 to 20*"])
    result = pytester.runpytest_subprocess("--partition-shrink-budget=inf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'inf' is not finite*"])


@pytest.mark.slow(seconds=16)
def test_an_xfail_test_shrinks_under_runxfail_and_replays_with_its_seed(
        toy: pytest.Pytester) -> None:
    toy.makepyfile(test_toy=TOY_FAILURE.replace(
        "def test_toy", "@pytest.mark.xfail(strict=True, reason='the toy bug')\ndef test_toy"))
    shrunk = toy.runpytest_subprocess("--partition-seed=4", "--runxfail", "--partition-shrink",
                                      "--partition-shrink-tries=1")
    shrunk.assert_outcomes(failed=1)
    # The re-runs got --runxfail too: they failed, so the shrink found the cut.
    shrunk.stdout.fnmatch_lines(["1 of * fault(s) still fail*", "  *partition n2->n1*"])
    # The next run replays the remembered schedule with the seed it was recorded
    # with, and the test fails as expected.
    again = toy.runpytest_subprocess("-rx")
    again.assert_outcomes(xfailed=1)
    again.stdout.fnmatch_lines(["*remembered from an earlier failure*"])
    (report,) = (toy.path / ".partition" / "artifacts").rglob("report.txt")
    text = report.read_text()
    assert "--partition-seed=4" in text, "the recorded seed, not a fresh one"
    assert "AssertionError: n2 could not send to n1" in text


@pytest.mark.slow
def test_a_strict_xpass_neither_shrinks_nor_is_remembered(toy: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_FIXED", "1")
    toy.makepyfile(test_toy=TOY_FAILURE.replace(
        "def test_toy", "@pytest.mark.xfail(strict=True, reason='fixed now')\ndef test_toy"))
    result = toy.runpytest_subprocess("--partition-shrink")
    result.assert_outcomes(failed=1)  # XPASS(strict)
    assert "partition: shrink" not in result.stdout.str()
    toy.runpytest_subprocess().assert_outcomes(failed=1)
    assert len(applied(toy)[1]) > 1, "nothing was remembered: fresh faults"
