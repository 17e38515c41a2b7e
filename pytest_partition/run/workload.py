"""The operations a run's workers issue: register, kv and counter workloads.

A workload is a generator ``generate(rng) -> (method, args)``; each worker
calls it with a seeded random stream of its own, so the same seed gives every
worker the same sequence of operations. As in Jepsen, the operations do not
depend on the answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

    from ..cluster import Cluster

__all__ = ["MODELS", "WORKLOADS", "Generator", "fresh_keys", "generator", "key_names"]

WORKLOADS = ("register", "kv", "counter")
#: The checker model of each workload.
MODELS = {"register": "kv", "kv": "kv", "counter": "counter"}
VALUES = 10  # writes and cas use values 0..9: small enough for cas to succeed often

Operation = tuple[str, tuple[Any, ...]]
Generator = Callable[["random.Random"], Operation]


def _register_op(rng: random.Random, key: str) -> Operation:
    roll = rng.random()
    if roll < 0.5:
        return "get", (key,)
    if roll < 0.8:
        return "put", (key, rng.randrange(VALUES))
    return "cas", (key, rng.randrange(VALUES), rng.randrange(VALUES))


def key_names(workload: str, keys: int) -> list[str]:
    """The keys a workload uses before renaming."""
    if workload == "register":
        return ["r"]
    if workload == "kv":
        return [f"k{i}" for i in range(keys)]
    return ["counter"]


def fresh_keys(cluster: Cluster, names: list[str]) -> list[str]:
    """The workload's keys, renamed (``k0.2``) if any node already holds one.

    The checkers replay each key from empty, so a run must not start on keys
    that an earlier run, or the test body, already wrote.
    """
    held: set[Any] = set()
    for state in cluster.states().values():
        if isinstance(state, dict):
            held.update(state)
    for attempt in itertools.count(1):
        renamed = [name if attempt == 1 else f"{name}.{attempt}" for name in names]
        if held.isdisjoint(renamed):
            return renamed
    raise AssertionError("unreachable")  # pragma: no cover - count() never ends


def generator(workload: str, names: list[str]) -> Generator:
    """The operation generator of ``workload`` over the keys ``names``."""
    if workload in ("register", "kv"):
        return lambda rng: _register_op(rng, rng.choice(names))
    # counter: mostly increments, some reads (Jepsen's counter workload); a
    # counter never incremented reads as None, which the model takes as 0
    return lambda rng: (("incr", (names[0], rng.randint(1, 5))) if rng.random() < 0.75
                        else ("get", (names[0],)))
