"""What a user sees: the failure report, artifacts, the summary table, progress,
JUnit properties, and a replay command that replays."""

from __future__ import annotations

import html.parser
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

LOST_WRITE = """
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed
from pytest_partition import OperationError

@pytest.mark.cluster(nodes=3, mode="cp", bug="ack-before-commit")
@pytest.mark.partition("isolate:leader")
def test_lost_write(cluster):
    with cluster.partitioned() as part:
        old = next(group[0] for group in part.groups if len(group) == 1)
        other = next(name for name in cluster.names if name != old)
        assert cluster.client(old).put("k", "acked") is True
        reader = cluster.client(other)

        def read():
            try:
                return reader.get("k")
            except OperationError:
                return "no answer yet"

        retrying = Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.05),
                            retry=retry_if_result(lambda value: value == "no answer yet"))
        assert retrying(read) == "acked", "the acknowledged write is missing"
"""

PASSING = """
import pytest

@pytest.mark.cluster(nodes=3, mode="ap")
@pytest.mark.partition("n1,n2|n3")
def test_available(cluster):
    a, c = cluster.client("n1"), cluster.client("n3")
    with cluster.partitioned():
        a.put("k", 1)
        assert c.get("k") is None
    cluster.wait_converged()
"""


def test_failure_report_says_everything_in_order(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_lost=LOST_WRITE)
    result = tester.runpytest_subprocess("--partition-seed=5", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    titles = ["partition: verdict", "partition: smallest failing piece",
              "partition: faults around it", "partition: log of node n1",
              "partition: artifacts", "partition: replay"]
    positions = [out.index(title) for title in titles]
    assert positions == sorted(positions), "sections out of order"
    verdict = out[positions[0]:positions[1]]
    assert "not linearizable" in verdict
    piece = out[positions[1]:positions[2]]
    assert "put 'k' 'acked'" in piece and "get 'k'" in piece
    assert re.search(r"partition isolate:leader \(n\d\|n\d,n\d\)", out[positions[2]:positions[3]])
    assert "cp node serving" in out[positions[3]:positions[4]]
    result.stdout.fnmatch_lines(["pytest 'test_lost.py::test_lost_write[[]isolate:leader[]]' "
                                 "--partition-seed=5"])


CRASH = """
import os, signal
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed
from pytest_partition import OperationError, Unavailable

@pytest.mark.cluster(nodes=3, mode="ap")
def test_a_node_dies(cluster):
    victim = cluster.nodes["n2"]
    os.kill(victim.pid, signal.SIGKILL)  # a crash nobody asked for

    def refused():  # once its port is closed for good
        try:
            cluster.client("n2").get("k")
        except Unavailable:
            return True
        except OperationError:
            return False
        return False

    assert Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.05),
                    retry=retry_if_result(lambda done: not done))(refused)
    assert False, "the test fails after the crash"
"""


def test_the_report_says_which_node_exited_on_its_own(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_crash=CRASH)
    result = tester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*partition: nodes that exited*",
        "node n2 exited on its own with code -9 while the test ran: calls to it were "
        "refused from then on (see its log below)",
    ])
    assert "node n1 exited" not in result.stdout.str()


def artifacts_of(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir()) if root.exists() else []


def test_artifacts_of_a_failed_test_are_written_and_kept(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_lost=LOST_WRITE, test_ok=PASSING)
    result = tester.runpytest_subprocess("--partition-artifacts=arts", "--partition-seed=9")
    result.assert_outcomes(failed=1, passed=1)
    (folder,) = artifacts_of(tester.path / "arts")
    # The test's own name first, whole; its file after it.
    assert folder.name.startswith("test_lost_write_isolate_leader--test_lost.py-")
    cluster = folder / "cluster"
    names = {p.name for p in cluster.iterdir()}
    assert {"history.jsonl", "timeline.html", "result.json", "n1.log", "n2.log",
            "n3.log", "proxy.log"} <= names
    data = json.loads((cluster / "result.json").read_text())
    assert data["seed"] == 9 and data["spec"] == "isolate:leader"
    assert data["outcome"] == "failed" and data["verdict"]["verdict"] in ("neither", "unknown")
    assert data["counts"]["ok"] >= 2
    assert data["replay"].endswith("--partition-seed=9")


def test_keep_artifacts_keeps_passing_tests_too(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_ok=PASSING)
    tester.runpytest_subprocess("--partition-artifacts=arts").assert_outcomes(passed=1)
    assert artifacts_of(tester.path / "arts") == []
    tester.runpytest_subprocess("--partition-artifacts=arts",
                                "--partition-keep-artifacts").assert_outcomes(passed=1)
    (folder,) = artifacts_of(tester.path / "arts")
    data = json.loads((folder / "cluster" / "result.json").read_text())
    assert data["outcome"] == "passed" and data["verdict"]["verdict"] == "AP"


class _Checker(html.parser.HTMLParser):
    VOID = {"meta", "br", "input", "hr", "img", "link", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.data = ""
        self.in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)
        self.in_json = tag == "script" and ("type", "application/json") in attrs

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"
        self.in_json = False

    def handle_data(self, data: str) -> None:
        if self.in_json:
            self.data += data


def test_timeline_is_standalone_html_with_every_operation(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_ok=PASSING)
    tester.runpytest_subprocess("--partition-artifacts=arts",
                                "--partition-keep-artifacts").assert_outcomes(passed=1)
    (folder,) = artifacts_of(tester.path / "arts")
    page = (folder / "cluster" / "timeline.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    history = [json.loads(line) for line in
               (folder / "cluster" / "history.jsonl").read_text().splitlines()]
    invokes = [e for e in history if e["type"] == "invoke"]
    embedded = json.loads(checker.data)
    assert len(embedded["ops"]) == len(invokes)
    assert "n1,n2|n3" in page


def test_terminal_summary_and_junit_properties(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_ok=PASSING)
    result = tester.runpytest_subprocess("--partition-seed=42", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*partition tests*",
        "test*faults*ok/fail/info*availability per side*verdict*",
        "test_ok.py::test_available[[]n1,n2|n3[]]*n1,n2|n3*/0/0*{n1,n2} 100% | {n3} 100%*AP*",
        "run seed 42 (replay with --partition-seed=42)",
    ])
    properties = {p.get("name"): p.get("value") for p in
                  ET.parse(tester.path / "out.xml").iter("property")}
    assert properties["partition_seed"] == "42"
    assert properties["partition_verdict"].startswith("AP:")


def test_the_summary_names_faults_applied_in_the_test_body(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=3, mode="ap")
        def test_body_faults(cluster):
            with cluster.partitioned("n1|n2,n3"):
                cluster.client("n1").put("k", 1)
            cluster.kill("n3")
    """)
    result = tester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*::test_body_faults*partition n1|n2,n3, "
                                 "kill n3*"])


def test_the_summary_says_when_a_marker_spec_was_never_applied(
        tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=3, mode="ap")
        @pytest.mark.partition("n1|n2,n3")
        def test_forgot_to_partition(cluster):
            cluster.client("n1").put("k", 1)

        @pytest.mark.cluster(nodes=3, mode="ap")
        @pytest.mark.partition("n1|n2,n3")
        def test_ran_a_nemesis(cluster):
            cluster.run("kv", clients=2, duration=0.6, nemesis="random-halves")
    """)
    result = tester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*::test_forgot_to_partition[[]n1|n2,n3[]]*n1|n2,n3 (not applied)*",
        "*::test_ran_a_nemesis[[]n1|n2,n3[]]*random-halves*",
    ])


@pytest.mark.slow(seconds=14)
def test_long_runs_show_progress_in_verbose_mode(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=3, mode="ap")
        def test_run(cluster):
            # (three clients: the progress lines do not depend on how many)
            cluster.run("kv", clients=3, duration=2.5, nemesis="random-halves").assert_ap()
    """)
    result = tester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1)
    # A progress line about every second; on a loaded machine the first may
    # come at 1.1 s, or find a timeout already.
    result.stdout.fnmatch_lines([
        "*partition *::test_run: *[0-9].[0-9]/2.5 s: * ok, * fail, * info*",
        "*::test_run PASSED*",
    ])
    quiet = tester.runpytest_subprocess()
    assert "::test_run: " not in quiet.stdout.str()


@pytest.mark.slow(seconds=10)
def test_replay_command_reproduces_the_nemesis_schedule(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import json
        import pytest

        @pytest.mark.cluster(nodes=5, mode="ap")
        @pytest.mark.nemesis(["random-halves", "random-node", "majority-ring"], interval=0.15)
        def test_faults(cluster):
            cluster.run("kv", clients=2, duration=1.5, rate=20)
            specs = [e.value["resolved"] for e in cluster.history.faults()
                     if e.f == "partition"]
            with open("schedule.jsonl", "a") as out:
                out.write(json.dumps(specs) + "\\n")
    """)
    for _ in range(2):
        tester.runpytest_subprocess("--partition-seed=31").assert_outcomes(passed=1)
    tester.runpytest_subprocess("--partition-seed=32").assert_outcomes(passed=1)
    first, replay, other = (json.loads(line) for line in
                            (tester.path / "schedule.jsonl").read_text().splitlines())
    shared = min(len(first), len(replay))
    assert shared >= 3
    assert first[:shared] == replay[:shared]
    assert first[:shared] != other[:shared]


def test_specs_that_read_alike_keep_apart_artifacts() -> None:
    from pytest_partition.report import artifact_dir_name

    first = artifact_dir_name("test_inv.py::test_inv[A,B|C]")
    second = artifact_dir_name("test_inv.py::test_inv[A|B,C]")
    assert first != second
    assert first.startswith("test_inv_A_B_C--test_inv.py-")
