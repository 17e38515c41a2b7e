"""The samples of docs/store-cp.md and docs/store-ap.md, run for real.

Both protocols are pure state machines, so these samples drive them in
memory: no process, no socket, no clock.
"""

import random

from pytest_partition.store.crdt import (
    HybridClock,
    Timestamp,
    increment,
    merge_counter_by_total,
    merge_record,
    remove,
    visible,
    write_register,
)
from pytest_partition.store.raft import RaftNode


def test_raft_in_memory():
    nodes = {name: RaftNode(name, ["A", "B", "C"], rng=random.Random(seed))
             for seed, name in enumerate(["A", "B", "C"])}
    answers = {}

    def deliver(cut=()):
        """Hand every message to its destination, unless its link is cut."""
        moved = True
        while moved:
            moved = False
            for node in nodes.values():
                ready = node.ready()   # a real node makes hard_state and entries durable first
                for response in ready.responses:
                    answers[response.request_id] = response
                for message in ready.messages:
                    if (message.src, message.dst) not in cut:
                        nodes[message.dst].step(message)
                        moved = True

    def run(ticks, cut=()):
        """Advance every node's logical clock by ``ticks`` ticks (10 ms each in the store)."""
        for _ in range(ticks):
            for node in nodes.values():
                node.tick()
            deliver(cut)

    run(100)                                        # one second: an election
    leader = next(name for name, node in nodes.items() if node.role == "leader")
    nodes[leader].submit("r1", {"op": "put", "key": "dryer", "value": 60})
    run(1)
    assert answers["r1"].status == "ok"

    others = [name for name in nodes if name != leader]
    cut = {(leader, o) for o in others} | {(o, leader) for o in others}
    nodes[leader].submit("r2", {"op": "put", "key": "dryer", "value": 59})
    nodes[leader].submit("r3", {"op": "get", "key": "dryer"})
    run(150, cut)                                   # 1.5 s cut off from the majority
    assert answers["r2"].status == "indeterminate"  # a write that timed out may still commit
    assert answers["r3"].status == "unavailable"    # a read that timed out did nothing
    assert nodes[leader].role == "follower"         # CheckQuorum: it stepped down

    nodes[leader].submit("r4", {"op": "put", "key": "dryer", "value": 1000})
    run(1, cut)
    assert answers["r4"].status == "unavailable"    # no leader known: refused at once
    nodes[others[0]].submit("r5", {"op": "put", "key": "dryer", "value": 58})
    run(10, cut)
    assert answers["r5"].status == "ok"             # the majority elected a new leader

    run(100)                                        # healed
    assert all(dict(node.kv) == {"dryer": 58} for node in nodes.values())


def test_the_warehouse_counter():
    stock = increment(None, "beijing", 60)          # 60 dryers, counted by Beijing
    beijing = increment(stock, "beijing", -1)       # one sold in Beijing...
    shanghai = increment(stock, "shanghai", -1)     # ...and one in Shanghai, while apart
    assert visible(beijing) == visible(shanghai) == 59
    assert visible(merge_record(beijing, shanghai)) == 58   # per-node totals: both sales count
    assert visible(merge_record(shanghai, beijing)) == 58   # in any order

    # The planted bug lost-update keeps the larger whole counter instead:
    assert visible(merge_record(beijing, shanghai, merge_counter_by_total)) == 59


def test_last_writer_wins():
    early = write_register(None, Timestamp(1000, 0), "B", "blue")
    late = write_register(None, Timestamp(1000, 1), "A", "red")
    assert visible(merge_record(early, late)) == visible(merge_record(late, early)) == "red"

    tie_b = write_register(None, Timestamp(2000, 0), "B", "blue")
    tie_a = write_register(None, Timestamp(2000, 0), "A", "red")
    assert visible(merge_record(tie_a, tie_b)) == "blue"     # same stamp: node id "B" > "A"

    gone = remove(late, Timestamp(1000, 2), "C")             # a delete is a tombstone...
    assert visible(merge_record(gone, early)) is None        # ...that wins like a write


def test_hybrid_clock():
    clock = HybridClock()
    assert clock.tick(now_ms=5000) == (5000, 0)
    assert clock.tick(now_ms=5000) == (5000, 1)         # same millisecond: logical + 1
    assert clock.tick(now_ms=4000) == (5000, 2)         # the wall clock went back: never we
    assert clock.observe(Timestamp(9000, 7), now_ms=5001) == (9000, 8)   # a peer is ahead


def test_a_delete_restarts_a_counter():
    counter = increment(None, "A", 5)
    deleted = remove(counter, Timestamp(1, 0), "A")
    concurrent = increment(counter, "B", 2)           # B did not see the delete
    assert visible(deleted) is None
    assert visible(merge_record(deleted, concurrent)) == 2   # B's increment survives
