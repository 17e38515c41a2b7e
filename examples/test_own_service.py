"""Testing your own service: a small primary-backup inventory (own_service/).

The path is the same for any system: give the cluster marker the command
that starts one node, call the service's own methods through recording
clients, cut the network, and read the verdict from the history.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_partition import OperationError, Unavailable, eventually
from pytest_partition.checkers import Model, ModelError, linearizable

# {name}, {port}, {peers} and {data_dir} may appear in the command; this
# service reads the same values from its environment instead.
INVENTORY = [sys.executable, str(Path(__file__).parent / "own_service" / "inventory_node.py")]
NODES = ["a", "b", "c"]  # "a" sorts first: it is the primary


class StockTable(Model):
    """What the service promises, as a sequential model the checker can use.

    One stock count per item: ``set(item, n)`` writes n, ``get(item)`` must
    return the last count written. Items are independent, so the history is
    checked item by item.
    """

    def init(self):
        return None                             # no count before the first set

    def step(self, count, op):
        if op.f == "get":
            return op.output == count, count    # legal only if it reads the count
        if op.f == "set":
            return True, op.value               # (a set whose outcome is unknown
                                                # is tried both ways by the checker)
        raise ModelError(f"StockTable does not know {op.f!r}")

    def partition(self, ops):
        items = {}
        for op in ops:
            items.setdefault(op.key, []).append(op)
        return list(items.values())


@pytest.mark.cluster(nodes=NODES, command=INVENTORY)
def test_writes_reach_every_replica(cluster):
    b = cluster.client("b")           # a backup: it forwards the write
    assert b.set("dryer", 60) is True
    assert cluster.wait_converged() == {"dryer": 60}


@pytest.mark.cluster(nodes=NODES, command=INVENTORY)
@pytest.mark.partition("a,b|c")
def test_a_cut_off_backup_answers_reads_with_stale_data(cluster):
    a, c = cluster.client("a"), cluster.client("c")
    a.set("dryer", 60)
    eventually(lambda: c.get("dryer") == 60)

    with cluster.partitioned():
        a.set("dryer", 59)                    # sold on the primary's side
        assert c.get("dryer") == 60           # c answers, but with old data

    assert cluster.wait_converged() == {"dryer": 59}

    # The checker finds the same story in the recorded history: a backup's
    # read that misses a write which had already completed. (It may find an
    # earlier one: c's reads of None while it waited for the first push.)
    result = linearizable(cluster.history, StockTable())
    assert result.valid is False
    print(result.explain())                   # shown with pytest -s
    assert all(op.node == "c" and op.f == "get" for op in result.culprits)


@pytest.mark.cluster(nodes=NODES, command=INVENTORY)
@pytest.mark.partition("a|b,c")
def test_backups_refuse_writes_when_the_primary_is_unreachable(cluster):
    b = cluster.client("b")
    # "reject": connections to the primary are refused, so the backup knows
    # its forwarded write never arrived and says so with fault 503.
    with cluster.partitioned(kind="reject"):
        with pytest.raises(Unavailable):
            b.set("dryer", 1)
    # With "drop" the request may be held and delivered after the heal: the
    # backup cannot tell, says 504, and the client raises Indeterminate.
    with cluster.partitioned():
        with pytest.raises(OperationError):
            b.set("dryer", 2)
    outcomes = [op.type for op in cluster.history.operations() if op.f == "set"]
    assert outcomes == ["fail", "info"]
