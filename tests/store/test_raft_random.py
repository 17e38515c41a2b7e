"""Seeded random fault schedules against the Raft state machine.

Each schedule runs a 3- or 5-node :class:`raftsim.Sim` with random message
delays, duplicates and loss, while partitions (both ways and one way), lossy
links, crashes and restarts come and go and clients send requests to random
nodes. After every step the sim asserts election safety, log matching, leader
completeness and state-machine safety; at the end the cluster is healed and
settled, and every client outcome is checked against the committed log: no
acknowledged write lost, no "unavailable" write applied, every ok result equal
to the log's, every ok read a value of its key at a linearizable point.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from raftsim import Sim

from pytest_partition.store.raft import RaftConfig

SCHEDULES = 1000
CHUNKS = 10
STEPS = 150
KEYS: tuple[Any, ...] = ("a", "b", 7)

# Short timeouts keep schedules cheap; the feature switches vary because
# safety must not depend on PreVote or CheckQuorum.
CONFIGS = (
    RaftConfig(election_ticks=10, heartbeat_ticks=2, request_timeout_ticks=25),
    RaftConfig(election_ticks=10, heartbeat_ticks=2, request_timeout_ticks=25),
    RaftConfig(election_ticks=10, heartbeat_ticks=2, request_timeout_ticks=25, check_quorum=False),
    RaftConfig(election_ticks=10, heartbeat_ticks=3, request_timeout_ticks=25, pre_vote=False),
    RaftConfig(
        election_ticks=8,
        heartbeat_ticks=2,
        request_timeout_ticks=20,
        pre_vote=False,
        check_quorum=False,
    ),
)


def random_command(rng: random.Random) -> dict[str, Any]:
    """A random client command over a few keys, mostly valid."""
    key = rng.choice(KEYS)
    op = rng.choice(("get", "get", "put", "put", "cas", "incr", "delete"))
    if op == "put":
        return {"op": "put", "key": key, "value": rng.choice((0, 1, 2, 3, "x"))}
    if op == "cas":
        return {
            "op": "cas",
            "key": key,
            "expected": rng.choice((None, 0, 1, 2)),
            "new": rng.randrange(4),
        }
    if op == "incr":
        return {"op": "incr", "key": key, "delta": rng.choice((1, 2, -1))}
    return {"op": op, "key": key}


def random_fault(sim: Sim, rng: random.Random) -> None:
    """Apply one random fault (or a heal/restart) to ``sim``."""
    ids = sim.ids
    kind = rng.choice(
        ("cut", "one-way", "isolate", "split", "drop", "heal", "heal", "crash", "restart")
    )
    if kind == "cut":
        a, b = rng.sample(ids, 2)
        sim.cut(a, b)
    elif kind == "one-way":
        a, b = rng.sample(ids, 2)
        sim.cut_one_way(a, b)
    elif kind == "isolate":
        sim.isolate(rng.choice(ids))
    elif kind == "split":
        shuffled = rng.sample(ids, len(ids))
        at = rng.randrange(1, len(ids))
        sim.partition(shuffled[:at], shuffled[at:])
    elif kind == "drop":
        a, b = rng.sample(ids, 2)
        sim.drop(a, b, rng.choice((0.2, 0.5, 0.9)))
    elif kind == "heal":
        sim.heal()
    elif kind == "crash":
        live = [nid for nid in ids if sim.nodes[nid] is not None]
        if len(live) > 1:
            sim.crash(rng.choice(live))
    else:
        dead = [nid for nid in ids if sim.nodes[nid] is None]
        if dead:
            sim.restart(rng.choice(dead))


def run_schedule(seed: int) -> Sim:
    """Run one random schedule to the end, checking after every step."""
    rng = random.Random(seed)
    sim = Sim(
        rng.choice((3, 3, 5)),
        seed=seed,
        config=rng.choice(CONFIGS),
        max_delay=rng.choice((1, 2, 4)),
        duplicate=rng.choice((0.0, 0.05, 0.3)),
        wire=seed % 10 == 0,
    )
    fault_rate = rng.choice((0.02, 0.05, 0.1))
    client_rate = rng.choice((0.2, 0.5, 1.0))
    for _ in range(STEPS):
        if rng.random() < fault_rate:
            random_fault(sim, rng)
        if rng.random() < client_rate:
            live = [nid for nid in sim.ids if sim.nodes[nid] is not None]
            sim.submit(rng.choice(live), random_command(rng))
        sim.step()
    sim.settle()
    sim.final_check()
    return sim


@pytest.mark.parametrize(
    "chunk",
    range(CHUNKS),
    ids=[
        f"schedules-{c * SCHEDULES // CHUNKS}-to-{(c + 1) * SCHEDULES // CHUNKS - 1}"
        for c in range(CHUNKS)
    ],
)
@pytest.mark.slow
def test_random_schedules_keep_raft_safe(chunk: int) -> None:
    per_chunk = SCHEDULES // CHUNKS
    seeds = range(chunk * per_chunk, (chunk + 1) * per_chunk)
    outcomes: dict[str, int] = {}
    for seed in seeds:
        try:
            sim = run_schedule(seed)
        except AssertionError as error:
            raise AssertionError(f"schedule seed={seed}: {error}") from error
        for op in sim.ops.values():
            status = op.status or "pending"
            outcomes[status] = outcomes.get(status, 0) + 1
    # The schedules must exercise both success and refusal, or they test little.
    assert outcomes.get("ok", 0) > 0 and outcomes.get("unavailable", 0) > 0, (
        f"{len(seeds)} schedules (of {SCHEDULES}) gave outcomes {outcomes}"
    )
