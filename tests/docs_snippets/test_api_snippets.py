"""The samples of docs/api.md, run for real.

Most samples run against the test-only toy node (tests/nodes/toynode.py): it
starts fast and keeps a plain local dict, which is all a sample about the
plugin's own API needs. In the docs it stands for "your node's command".
"""

import random
import sys
import xmlrpc.client

import pytest
from tests_support import TOY_NODE

from pytest_partition import (
    Cluster,
    Cut,
    History,
    Indeterminate,
    Kill,
    Latency,
    Nemesis,
    NotJudged,
    Pause,
    Unavailable,
    UntestedWarning,
    eventually,
    parse_spec,
)

MY_NODE = [sys.executable, str(TOY_NODE)]


def test_a_cluster_without_pytest():
    from pytest_partition import Cluster

    with Cluster(nodes=3, mode="ap") as cluster:
        n1, n3 = cluster.client("n1"), cluster.client("n3")
        n1.incr("dryer", 60)
        cluster.wait_converged()
        with cluster.partitioned("n1,n2|n3"):
            n1.incr("dryer", -1)
            assert n3.get("dryer") == 60        # stale, but it answers
        assert cluster.wait_converged() == {"dryer": 59}


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE)
@pytest.mark.partition("A,B|C", "A->C")
def test_once_per_spec(cluster, partition_spec, partition_seed):
    with cluster.partitioned() as part:         # applies partition_spec
        assert part.spec == partition_spec
        assert part.is_cut("A", "C")
    assert cluster.seed == partition_seed       # the first cluster's seed


@pytest.mark.cluster(command=MY_NODE)
def test_two_clusters(cluster_factory):
    small = cluster_factory(nodes=["A", "B"])
    large = cluster_factory(nodes=5, client_timeout=0.5)
    assert list(large.nodes) == ["n1", "n2", "n3", "n4", "n5"]
    assert small.seed != large.seed and small.workdir != large.workdir


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE)
def test_network_faults(cluster):
    part = cluster.partition("A,B|C")           # in force when the call returns
    assert part.groups == (("A", "B"), ("C",))
    assert part.is_cut("A", "C") and part.is_cut("C", "B") and not part.is_cut("A", "B")
    cluster.partition("A->C", kind="reject")    # replaces the cut above
    cluster.heal()                              # held bytes flow again
    cluster.isolate("B")                        # the same as cluster.partition("isolate:B")
    cluster.heal()
    cluster.set_latency(20, jitter_ms=5, links="A->B")   # 15 to 25 ms, one direction
    cluster.set_latency(0)                               # no delay on any link
    assert [event.f for event in cluster.history.faults()] == [
        "partition", "partition", "heal", "partition", "heal", "latency", "latency"]


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE)
def test_process_faults(cluster):
    a = cluster.client("A")
    cluster.kill("A")                           # SIGKILL; its links refuse connections
    with pytest.raises(Unavailable):
        a.get("k")                              # refused: it definitely did not run
    cluster.restart("A")                        # same data dir; returns once ping() answers
    cluster.pause("B")                          # SIGSTOP: connections open, no answers
    with pytest.raises(Indeterminate):
        cluster.client("B", timeout=0.3).get("k")    # sent, but no reply in time
    cluster.resume("B")
    assert [event.f for event in cluster.history.faults()] == [
        "kill", "restart", "pause", "resume"]


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE)
def test_clients(cluster):
    a = cluster.client("A")                     # timeout: --partition-client-timeout
    assert a.put("k", 1) is True                # any XML-RPC method, as an attribute
    assert a.call("get", "k") == 1              # or by name
    for op in cluster.history.operations():
        print(op.describe())
    ops = cluster.history.operations()
    assert [(op.f, op.key, op.value, op.output, op.type) for op in ops] == [
        ("put", "k", 1, True, "ok"), ("get", "k", None, 1, "ok")]
    with pytest.raises(xmlrpc.client.Fault):
        a.no_such_method()      # SimpleXMLRPCServer says so with fault code 1: unknown
    assert cluster.history.operations()[-1].type == "info"


def test_history_files(tmp_path):
    history = History()
    history.append(process=0, type="invoke", f="put", key="dryer", value=60, node="A")
    history.append(process=0, type="ok", f="put", key="dryer", value=True, node="A")
    history.append(process="nemesis", type="info", f="partition",
                   value={"spec": "A,B|C", "groups": [["A", "B"], ["C"]]})
    history.append(process=1, type="invoke", f="get", key="dryer", node="C")
    history.append(process=1, type="info", f="get", key="dryer", node="C",
                   error="no reply within 1 s")

    path = history.save(tmp_path / "history.jsonl")
    again = History.load(path)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in history]
    put, get = again.operations()               # invoke + completion, per process
    assert (put.type, put.output) == ("ok", True)
    assert (get.type, get.end) == ("info", None)   # unknown: open to the end of time
    assert [e.f for e in again.faults()] == ["partition"]


def test_partition_specs():
    nodes = ["A", "B", "C", "D", "E"]
    assert parse_spec("A,B|C", nodes).groups == (("A", "B"), ("C",), ("D", "E"))
    assert parse_spec("A->C", nodes).cut == {("A", "C")}
    assert parse_spec("A->C; D|E", nodes).is_cut("E", "D")
    assert parse_spec("halves", nodes).resolved == "A,B|C,D,E"
    assert parse_spec("bridge", nodes).resolved == "A,B|D,E (bridge C)"
    halves = parse_spec("random-halves", nodes, rng=random.Random(7))
    assert halves.resolved == parse_spec("random-halves", nodes, rng=random.Random(7)).resolved


@pytest.mark.cluster(nodes=3, mode="ap")
def test_many_kinds_of_faults(cluster):
    nemesis = Nemesis(Cut("random-halves"), Cut("n1->n2", kind="reject"),
                      Latency(50, jitter_ms=20), Kill("random"), Pause("n3"),
                      interval=0.2, heal_interval=0.05)
    result = cluster.run("kv", clients=3, duration=1.0, nemesis=nemesis)
    print(result.counts, result.verdict.sentence)
    assert result.history.faults() and result.counts["ok"] > 0
    assert not cluster.network.cut_links and not cluster.network.latency
    assert all(node.running and not node.paused for node in cluster.nodes.values())


class PauseLeader:
    """A fault of your own: stop whichever node leads, resume it afterwards."""

    def __init__(self):
        self.victim = None

    def start(self, cluster, rng):
        self.victim = cluster.wait_leader()
        cluster.pause(self.victim)

    def stop(self, cluster):
        cluster.resume(self.victim)

    def describe(self):
        return "pause the leader"


def test_a_fault_of_your_own():
    with Cluster(3, mode="cp", seed=3) as cluster:
        result = cluster.run("kv", duration=1.0, nemesis=Nemesis(PauseLeader(), interval=0.5))
        result.assert_cp()
    assert [e.f for e in result.history.faults()][:2] == ["pause", "resume"]


@pytest.mark.cluster(nodes=3, mode="ap")
def test_a_run_without_a_cut_is_not_judged(cluster):
    slow = cluster.run("kv", duration=1.0, nemesis=Nemesis(Latency(20), interval=0.3))
    with pytest.raises(NotJudged, match="AP not judged: no cut"):
        slow.assert_ap()
    with pytest.warns(UntestedWarning):
        slow.assert_ap(require_cut=False)      # accepted, and said to prove little


@pytest.mark.cluster(nodes=3, mode="ap")
def test_a_schedule_replayed(cluster, tmp_path):
    first = cluster.run("kv", duration=2.0, nemesis="random-halves")
    path = first.save_schedule(tmp_path / "schedule.json")
    again = cluster.run("kv", duration=2.0, nemesis=Nemesis.replay(path))
    assert [f.shape() for f in again.schedule] == [f.shape() for f in first.schedule]
    assert first.schedule  # (a run with a nemesis always applies its last cut)


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE, env={"TOY_ROLE_B": "leader"})
def test_waiting(cluster):
    a, c = cluster.client("A"), cluster.client("C")
    a.put("stock", 60)
    c.put("stock", 60)
    eventually(lambda: c.get("stock") == 60)               # a condition
    eventually(lambda: a.put("stock", 59), timeout=20)     # until it stops raising
    leader = eventually(lambda: cluster.leader() or False)  # None would count as true
    assert leader == cluster.wait_leader() == "B"


# A conftest.py of your project: the hooks of docs/api.md. The test below
# puts it, a node program and a test in a pytester folder and runs them.
CONFTEST = """
import sys
from pathlib import Path

NODE = [sys.executable, str(Path(__file__).parent / "my_node.py")]


def pytest_partition_node_command(config, mode, bug):
    return None if bug else NODE            # planted bugs need the reference store


def pytest_partition_cluster_started(cluster):
    cluster.set_latency(5, jitter_ms=2)     # every test starts on a slower network


def pytest_partition_fault(cluster, event):
    print(f"fault: {event.f} {event.value}")
"""

INI = """
[pytest]
partition_nodes = 5
partition_client_timeout = 2.0
partition_keep_runs = 10
"""

pytest_plugins = ["pytester"]


def test_hooks_and_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    (pytester.path / "my_node.py").write_text(TOY_NODE.read_text())
    pytester.makepyfile("""
        import pytest

        def test_hooks(cluster, capsys):
            assert len(cluster.nodes) == 5 and cluster.client("n1").timeout == 2.0
            assert cluster.call("n1", "ping") == "pong"
            cluster.isolate("n1")
            assert "fault: partition" in capsys.readouterr().out
            assert [e.f for e in cluster.history.faults()][:2] == ["latency", "partition"]
    """)
    pytester.runpytest().assert_outcomes(passed=1)
