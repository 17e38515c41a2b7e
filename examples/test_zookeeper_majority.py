"""ZooKeeper's rule, as the CP mode of the reference store follows it.

A group of nodes may serve only while it holds a majority of the cluster
(more than half): then it can elect a leader and every write reaches most
nodes. When a partition leaves no group with a majority, nobody serves until
the network heals. Five nodes show both cases.
"""

from __future__ import annotations

import pytest

from pytest_partition import OperationError, Unavailable, eventually

NODES = ["n1", "n2", "n3", "n4", "n5"]


def serves(client, key, value):
    """True when the node accepted the write."""
    try:
        return client.put(key, value) is True
    except OperationError:
        return False


def refuses(client, key, value):
    """True when the node refused the write and knows it did not happen."""
    try:
        client.put(key, value)
    except Unavailable:
        return True
    except OperationError:
        return False  # indeterminate: it cannot tell yet
    raise AssertionError("a node without a majority accepted a write")


@pytest.mark.cluster(nodes=NODES, mode="cp")
@pytest.mark.partition("n1,n2,n3|n4,n5")
def test_the_majority_side_elects_a_leader_and_serves(cluster):
    majority, minority = cluster.client("n1"), cluster.client("n5")
    with cluster.partitioned():
        # 3 of 5 is a majority: it (re-)elects a leader and serves.
        eventually(lambda: serves(majority, "x", "written by the majority"))
        # 2 of 5 is not: once it knows, it refuses every request.
        eventually(lambda: refuses(minority, "x", "lost"))
    eventually(lambda: minority.get("x") == "written by the majority")


@pytest.mark.cluster(nodes=NODES, mode="cp")
@pytest.mark.partition("n1,n2|n3,n4|n5")
def test_no_majority_means_nobody_serves_until_the_heal(cluster):
    clients = [cluster.client(name) for name in NODES]
    clients[0].put("x", "before")
    with cluster.partitioned():
        # No group holds 3 of 5 nodes: every node ends up refusing.
        for client in clients:
            eventually(lambda c=client: refuses(c, "x", "during"))
    # Healed: the five nodes are one majority again and elect a leader.
    eventually(lambda: serves(clients[4], "x", "after"))
    assert cluster.wait_converged() == {"x": "after"}
