"""Driving your own service in its own words, checked with the models the checkers know.

Your service does not call its operations ``get`` and ``put``: the inventory
in own_service/ has ``set(item, count)`` and ``get(item)``. A run can still
use the built-in models: ``methods=`` maps the model's operation names to the
service's, so the clients call ``set`` and the history records ``put``. For
operations no built-in workload issues (here: restocking and reading a few
named items), hand ``cluster.run`` your own generator,
``generate(rng) -> (method, args)``, with the model to check the history
against; the run then reads every item on every node after the heal, as the
built-in workloads do. The service's backups answer reads from a copy the
primary refreshes a few times a second, so the checker finds stale reads.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

INVENTORY = [sys.executable, str(Path(__file__).parent / "own_service" / "inventory_node.py")]
NODES = ["a", "b", "c"]  # "a" sorts first: it is the primary
ITEMS = ["dryer", "washer", "iron"]


def restock_and_sell(rng: random.Random) -> tuple[str, tuple[object, ...]]:
    """One operation in the kv model's words: set a count, or read one."""
    item = rng.choice(ITEMS)
    if rng.random() < 0.4:
        return "put", (item, rng.randrange(100))
    return "get", (item,)


@pytest.mark.cluster(nodes=NODES, command=INVENTORY)
def test_the_checker_reads_the_services_own_vocabulary(cluster):
    result = cluster.run(restock_and_sell, model="kv", methods={"put": "set"},
                         duration=2.0, nemesis="random-halves")
    # The clients called set(); the history says put, which the kv model knows.
    assert {op.f for op in result.history.operations()} == {"put", "get"}
    # Backups answer reads from their own copy, which the primary refreshes a
    # few times a second: a read can miss a write that already completed.
    lin = result.check_linearizable()
    assert lin.valid is False and all(op.f == "get" for op in lin.culprits)
    print(result.verdict.sentence)
