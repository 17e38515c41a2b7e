"""The samples of docs/quickstart.md and docs/zh/quickstart.md, run for real.

tests/test_docs.py checks that every Python block of the docs appears in a
file like this one, so what the docs show is what runs here.
"""

import pytest

from pytest_partition import OperationError, eventually


@pytest.mark.cluster(nodes=["A", "B", "C"], mode="cp")
@pytest.mark.partition("A,B|C")
def test_the_minority_refuses(cluster):
    a, c = cluster.client("A"), cluster.client("C")
    a.put("stock", 60)

    with cluster.partitioned():                   # C is cut off from A and B
        eventually(lambda: a.put("stock", 59))    # the majority side serves
        with pytest.raises(OperationError):
            c.get("stock")                        # the minority refuses

    eventually(lambda: c.get("stock") == 59)      # healed: C has caught up


# The failing sample of the quickstart: an AP store asked for consistency.
# It runs in a pytester subprocess below, and the test checks the report.
FAILING = """
import pytest


@pytest.mark.cluster(nodes=["A", "B", "C"], mode="ap")
@pytest.mark.partition("A,B|C")
def test_reads_are_never_stale(cluster):
    a, c = cluster.client("A"), cluster.client("C")
    a.put("stock", 60)
    cluster.wait_converged()

    with cluster.partitioned():
        a.put("stock", 59)
        assert c.get("stock") == 59
"""

# The same sample with Chinese comments, for docs/zh/quickstart.md.
FAILING_ZH = """
import pytest


@pytest.mark.cluster(nodes=["A", "B", "C"], mode="ap")   # AP 模式的参考存储
@pytest.mark.partition("A,B|C")                           # C 与 A、B 断开
def test_reads_are_never_stale(cluster):
    a, c = cluster.client("A"), cluster.client("C")
    a.put("stock", 60)
    cluster.wait_converged()                              # 三个副本都是 60

    with cluster.partitioned():
        a.put("stock", 59)                                # A 这边卖出一台
        assert c.get("stock") == 59                       # 要求 C 立刻看到: 做不到
"""

pytest_plugins = ["pytester"]


def test_the_failing_sample_fails_with_the_documented_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stale=FAILING, test_stale_zh=FAILING_ZH)
    result = pytester.runpytest("--partition-seed=1", "--partition-artifacts=arts")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    titles = ["partition: verdict", "partition: smallest failing piece",
              "partition: faults around it", "partition: log of node A (last lines)",
              "partition: artifacts", "partition: replay"]
    positions = [out.index(title) for title in titles]
    assert positions == sorted(positions), "the sections come in the documented order"
    assert "assert 60 == 59" in out
    result.stdout.fnmatch_lines([
        "AP: every node answered 100% of requests during A,B|C*not linearizable*",
        "pytest 'test_stale.py::test_reads_are_never_stale[[]A,B|C[]]' --partition-seed=1",
    ])
    from pytest_partition.report import artifact_dir_name  # (the sample above stays verbatim)

    name = artifact_dir_name("test_stale.py::test_reads_are_never_stale[A,B|C]")
    folder = pytester.path / "arts" / name / "cluster"
    assert {"history.jsonl", "timeline.html", "result.json", "A.log", "proxy.log"} <= {
        path.name for path in folder.iterdir()}
