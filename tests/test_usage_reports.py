"""What a user reads: artifacts that stay, usage errors at the call, each thing said once."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from pytest_partition import Cluster, NodeContractWarning
from pytest_partition import cluster as cluster_module
from pytest_partition.errors import NotServed
from pytest_partition.report.summary import summary_lines

pytest_plugins = ["pytester"]

TOY = Path(__file__).resolve().parent / "nodes" / "toynode.py"
NAIVE = TOY.parent / "naive_node.py"

FAILING = """
import pytest

@pytest.mark.cluster(nodes=3, mode="ap")
def test_fails(cluster):
    cluster.client("n1").put("k", 1)
    assert False, "on purpose"
"""


@pytest.mark.slow
def test_artifacts_stay_in_the_rootdir_one_folder_per_run(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_fails=FAILING)
    for _ in range(3):
        tester.runpytest_subprocess("--partition-keep-runs=2").assert_outcomes(failed=1)
    runs = sorted((tester.path / ".partition" / "artifacts").iterdir())
    assert len(runs) == 2 and all(run.name.startswith("run-") for run in runs)
    (folder,) = runs[-1].iterdir()
    assert folder.name.startswith("test_fails--test_fails.py-")
    assert (folder / "cluster" / "result.json").exists()


def test_a_run_where_everything_passed_leaves_no_folder(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=2, mode="ap")
        def test_ok(cluster):
            cluster.client("n1").put("k", 1)
    """)
    tester.runpytest_subprocess().assert_outcomes(passed=1)
    assert not list((tester.path / ".partition" / "artifacts").glob("run-*"))


def test_a_typo_in_run_is_said_at_the_call_without_our_internals(
        tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=3, mode="ap")
        def test_typo(cluster):
            cluster.run("kv", nemesis="random-halfs")
    """)
    result = tester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    result.stdout.fnmatch_lines(["*cluster.run(\"kv\", nemesis=\"random-halfs\")*",
                                 "E*SpecError: *random-halfs*"])
    for internal in ("runner.py", "nemesis.py", "topology.py", "cluster.py:"):
        assert internal not in text, f"a frame of {internal} is shown"
    # No operation ran: no verdict to report.
    assert "partition: verdict" not in text


def test_isolate_leader_on_nodes_without_role_is_said_at_once() -> None:
    with Cluster(3, command=[sys.executable, str(NAIVE), "--mode", "primary"],
                 seed=1) as cluster:
        began = time.monotonic()
        with pytest.raises(NotServed, match=r"does not serve role\(\).*isolate:NODE"):
            cluster.run("kv", clients=1, duration=0.5, nemesis="isolate:leader")
        assert time.monotonic() - began < 3.0, "no 5 s wait for a leader"


@pytest.mark.slow(seconds=11)
def test_a_failed_assert_cp_is_explained_once(tester: pytest.Pytester) -> None:
    # A naive replicated service answers reads from stale replicas: never CP.
    tester.makepyfile(f"""
        import sys
        import pytest

        @pytest.mark.cluster(nodes=3, command=[sys.executable, {str(NAIVE)!r}])
        def test_bug(cluster):
            result = cluster.run("register", duration=2.0, nemesis="random-halves")
            result.assert_cp()
    """)
    result = tester.runpytest_subprocess("--partition-seed=3")
    result.assert_outcomes(failed=1)
    report = result.stdout.str().split("short test summary info")[0]
    assert report.count("not CP: not linearizable") == 1
    assert "partition: smallest failing piece" not in report
    assert "def assert_cp" not in report and "result.py" not in report
    assert "partition: replay" in report


def test_summary_labels_a_test_without_operations_and_gives_unknown_reasons() -> None:
    rows = [{"test": "t.py::test_a", "faults": "-", "ops": "0/0/0", "sides": "-",
             "verdict": "-"}]
    assert summary_lines(rows, 80)[-1].split() == ["t.py::test_a", "-", "0/0/0", "-", "-"]


def test_a_narrow_terminal_wraps_rows_but_never_cuts_a_figure(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    pytester.makepyfile(test_wide="""
        import pytest

        @pytest.mark.cluster(nodes=["beijing", "hangzhou", "shanghai"], mode="ap")
        @pytest.mark.partition("beijing,hangzhou|shanghai")
        def test_three_warehouses_answer_during_the_cut(cluster):
            with cluster.partitioned():
                for city in ("beijing", "shanghai"):
                    cluster.client(city).put("dryer", 1)
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    table = result.stdout.str().split("partition tests")[1].split("run seed")[0]
    assert all(len(line) <= 60 for line in table.splitlines() if line.strip())
    assert "{shanghai} 100%" in table and "hangzhou} 100%" in table
    assert "…" not in table


def test_the_repr_and_result_json_name_a_users_command(tester: pytest.Pytester) -> None:
    with Cluster(2, command=[sys.executable, str(TOY)], seed=1) as cluster:
        assert "command=" in repr(cluster) and "mode=" not in repr(cluster)
    tester.makepyfile(f"""
        import sys
        import pytest

        @pytest.mark.cluster(nodes=2, command=[sys.executable, {str(TOY)!r}])
        def test_own(cluster):
            cluster.client("n1").put("k", 1)
            assert False
    """)
    tester.runpytest_subprocess("--partition-artifacts=arts").assert_outcomes(failed=1)
    (result_json,) = (tester.path / "arts").rglob("result.json")
    data = json.loads(result_json.read_text())
    assert "mode" not in data and data["command"][-1] == str(TOY)


@pytest.mark.slow
def test_a_node_that_ignores_eof_is_named_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "_WARNED_DEAF", set())  # (other tests may warn first)
    command = [sys.executable, str(TOY), "--ignore-stdin"]
    with pytest.warns(NodeContractWarning, match=r"\(.*python.* .*toynode\.py\) did not exit "
                                                  "within .* of the end of their standard "
                                                  "input") as caught:
        for _ in range(2):
            with Cluster(2, command=command, seed=1) as cluster:
                cluster.client("n1").ping()
    assert len(caught) == 1, "once per node program"


def test_an_xfail_is_one_line_with_its_artifacts(tester: pytest.Pytester) -> None:
    tester.makepyfile(FAILING.replace("def test_fails",
                                      "@pytest.mark.xfail(reason='on purpose')\ndef test_fails"))
    result = tester.runpytest_subprocess()
    result.assert_outcomes(xfailed=1)
    lines = [line for line in result.stdout.lines if line.startswith("xfail ")]
    assert len(lines) == 1 and "report and artifacts:" in lines[0]
    folder = Path(lines[0].rsplit("report and artifacts: ", 1)[1].rstrip(")"))
    report = (folder / "report.txt").read_text()
    assert "xfail reason: on purpose" in report and "partition: verdict" in report
    assert len(result.stdout.lines) < 40
    assert os.path.isdir(folder)
