"""CP mode of the reference store, through the plugin: refuse rather than lie.

Beijing (A), Hangzhou (B) and Shanghai (C) hold one stock count; like
ZooKeeper, the side with a majority keeps serving and the minority refuses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pytest_partition import Cluster, Indeterminate, OperationError, Unavailable, eventually


@pytest.fixture
def shops() -> Iterator[Cluster]:
    with Cluster(["A", "B", "C"], mode="cp") as cluster:
        yield cluster


def write_succeeds(client: object, key: str, value: object) -> bool:
    try:
        client.put(key, value)  # type: ignore[attr-defined]
    except OperationError:
        return False
    return True


def refuses_definitely(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except Unavailable:
        return True
    except Indeterminate:
        return False
    raise AssertionError("a minority node answered instead of refusing")


def test_seed_story_majority_serves_minority_refuses(shops: Cluster) -> None:
    a, c = shops.client("A"), shops.client("C")
    a.put("dryer", 60)
    with shops.partitioned("A,B|C"):
        # The majority {A, B} keeps (or elects) a leader and serves.
        eventually(lambda: write_succeeds(a, "dryer", 59), timeout=10)
        # Shanghai refuses every read and write: it never answers stale data.
        with pytest.raises(OperationError):
            c.get("dryer")
        eventually(lambda: refuses_definitely(lambda: c.put("dryer", 1000)), timeout=10)
    # After the heal C catches up; its refused write never appears.
    eventually(lambda: c.get("dryer") == 59, timeout=10)
    assert shops.wait_converged(timeout=5) == {"dryer": 59}
    refused = [op for op in shops.history.operations() if op.value == 1000]
    assert refused and all(op.type in ("fail", "info") for op in refused)
    assert refused[-1].type == "fail"


def test_isolated_leader_is_replaced_and_refuses(shops: Cluster) -> None:
    old = shops.wait_leader()
    majority = [n for n in shops.names if n != old]
    writer = shops.client(majority[0])
    writer.put("k", "before")
    began = time.monotonic()
    shops.partition("isolate:leader")
    eventually(lambda: write_succeeds(writer, "k", "after"), timeout=10)
    failover = time.monotonic() - began
    assert failover < 5, f"no new leader within 5 s ({failover:.2f} s)"
    # The old leader cannot confirm its leadership: it refuses reads.
    eventually(lambda: refuses_definitely(lambda: shops.client(old).get("k")), timeout=10)
    shops.heal()
    eventually(lambda: shops.call(old, "role")["role"] != "leader", timeout=10)
    eventually(lambda: shops.client(old).get("k") == "after", timeout=10)


def test_old_leader_uncommitted_write_is_discarded(shops: Cluster) -> None:
    old = shops.wait_leader()
    shops.partition(f"isolate:{old}")
    with pytest.raises(OperationError):
        shops.client(old, timeout=2.0).put("ghost", "never committed")
    other = next(n for n in shops.names if n != old)
    eventually(lambda: write_succeeds(shops.client(other), "real", 1), timeout=10)
    shops.heal()
    state = shops.wait_converged(timeout=10)
    assert "ghost" not in state and state["real"] == 1


@pytest.mark.parametrize("spec", ["{leader}->{f1},{f2}", "{f1},{f2}->{leader}", "{f1}->{f2}"])
@pytest.mark.slow
def test_one_way_cuts_keep_the_register_consistent(shops: Cluster, spec: str) -> None:
    leader = shops.wait_leader()
    f1, f2 = (n for n in shops.names if n != leader)
    shops.partition(spec.format(leader=leader, f1=f1, f2=f2))
    # Concurrent clients on every node while only one direction is cut: the
    # answers may be refusals or unknown, but never a lie.
    result = shops.run("kv", clients=3, duration=2.0, keys=3, client_timeout=0.3,
                       settle_timeout=3.0)
    assert result.history.faults() == [], "the cut stays in force for the whole run"
    result.assert_cp()
    shops.heal()
    writer = shops.client(f1)
    eventually(lambda: write_succeeds(writer, "after", 1), timeout=10)
    assert shops.wait_converged(timeout=10)["after"] == 1


def test_kill_and_restart_follower_and_leader_keep_acknowledged_writes(shops: Cluster) -> None:
    leader = shops.wait_leader()
    follower = next(n for n in shops.names if n != leader)
    client = shops.client(next(n for n in shops.names if n not in (leader, follower)))
    client.put("a", 1)
    shops.kill(follower)
    eventually(lambda: write_succeeds(client, "b", 2), timeout=10)
    shops.restart(follower)
    shops.kill(leader)
    eventually(lambda: write_succeeds(client, "c", 3), timeout=10)
    shops.restart(leader)
    assert shops.wait_converged(timeout=10) == {"a": 1, "b": 2, "c": 3}


def test_whole_cluster_restart_recovers_from_disk(shops: Cluster) -> None:
    a = shops.client("A")
    for i in range(5):
        a.incr("count", 1)
    for name in shops.names:
        shops.kill(name)
    for name in shops.names:
        shops.restart(name)
    eventually(lambda: write_succeeds(a, "after", True), timeout=10)
    assert eventually(lambda: a.get("count"), timeout=10) == 5


def test_a_follower_that_missed_16_megabytes_of_writes_catches_up(shops: Cluster) -> None:
    leader = shops.wait_leader()
    lagging = next(n for n in shops.names if n != leader)
    shops.partition(f"isolate:{lagging}")
    writer = shops.client(leader, timeout=10)
    for number in range(16):  # each value just under a client request's 1 MiB limit
        writer.put(f"big{number % 4}", str(number % 10) * 1_000_000)
    target = shops.call(leader, "stats")["commit_index"]
    shops.heal()
    # Before, one append carried the whole gap, over the peer endpoint's
    # limit: refused (a reset) every time, and the follower stayed behind.
    eventually(lambda: shops.call(lagging, "stats", timeout=5)["commit_index"] >= target,
               timeout=30)
    assert shops.call(lagging, "state", timeout=10) == shops.call(leader, "state", timeout=10)


def test_stale_read_bug_serves_reads_from_an_isolated_leader() -> None:
    with Cluster(["A", "B", "C"], mode="cp", bug="stale-read") as cluster:
        old = cluster.wait_leader()
        cluster.client(old).put("k", "old")
        cluster.partition(f"isolate:{old}")
        # The buggy leader answers from its own state instead of refusing.
        assert cluster.client(old).get("k") == "old"


def test_ack_before_commit_bug_acknowledges_what_a_minority_holds() -> None:
    with Cluster(["A", "B", "C"], mode="cp", bug="ack-before-commit") as cluster:
        old = cluster.wait_leader()
        cluster.partition(f"isolate:{old}")
        # Acknowledged without a majority: this write can be lost.
        assert cluster.client(old).put("k", "acked") is True
        other = next(n for n in cluster.names if n != old)
        eventually(lambda: write_succeeds(cluster.client(other), "k2", 1), timeout=10)
        cluster.heal()
        assert "k" not in cluster.wait_converged(timeout=10)


def test_role_state_and_stats(shops: Cluster) -> None:
    leader = shops.wait_leader()
    role = shops.call(leader, "role")
    assert role["role"] == "leader" and role["term"] >= 1 and role["leader"] == leader
    shops.client("A").put("k", "v")
    assert shops.wait_converged(timeout=5) == {"k": "v"}
    stats = shops.call("B", "stats")
    assert stats["mode"] == "cp" and stats["commit_index"] >= 2 and stats["leader"] == leader
