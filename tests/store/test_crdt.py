"""Laws and semantics of the AP store's convergent values (store/crdt.py)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pytest_partition.store.crdt import (
    DigestIndex,
    HybridClock,
    PNCounter,
    Record,
    Register,
    Timestamp,
    counter_live,
    dominates,
    increment,
    kind,
    merge_counter,
    merge_counter_by_total,
    merge_record,
    merge_states,
    record_from_wire,
    record_hash,
    record_to_wire,
    remove,
    validate_key,
    validate_value,
    visible,
    write_register,
)

CASES = 600
NODES = ("A", "B", "C")
VALUES: tuple[Any, ...] = (None, 0, 1, "x", "", 2.5, True, [1, "a"], {"k": [None, 1]})


def random_totals(rng: random.Random) -> tuple[tuple[str, int], ...]:
    return tuple((n, rng.randint(1, 4)) for n in NODES if rng.random() < 0.5)


def random_record(rng: random.Random) -> Record:
    """Small ranges on purpose: ties in stamps, nodes and totals are where bugs live."""
    register = None
    if rng.random() < 0.7:
        stamp = Timestamp(rng.randint(0, 2), rng.randint(0, 2))
        register = Register(stamp, rng.choice(NODES), rng.choice(VALUES))
    return Record(
        register,
        PNCounter(random_totals(rng), random_totals(rng)),
        PNCounter(random_totals(rng), random_totals(rng)) if rng.random() < 0.4 else PNCounter(),
    )


def random_state(rng: random.Random) -> dict[str, Record]:
    return {k: random_record(rng) for k in ("k1", "k2", "k3", "k4") if rng.random() < 0.6}


@pytest.mark.parametrize("counter_merge", [merge_counter, merge_counter_by_total])
def test_record_merge_is_a_join(counter_merge: Any) -> None:
    # The lost-update bug's merge must still converge: it loses updates, not agreement.
    rng = random.Random(1)
    for case in range(CASES):
        a, b, c = random_record(rng), random_record(rng), random_record(rng)

        def m(x: Record, y: Record) -> Record:
            return merge_record(x, y, counter_merge)

        assert m(a, b) == m(b, a), case
        assert m(m(a, b), c) == m(a, m(b, c)), case
        assert m(a, a) == a, case
        assert m(m(a, b), b) == m(a, b), case


def test_merge_never_moves_a_replica_backwards() -> None:
    rng = random.Random(2)
    for case in range(CASES):
        a, b = random_record(rng), random_record(rng)
        merged = merge_record(a, b)
        assert dominates(merged, a) and dominates(merged, b), case
        if a.register is not None:  # the winning (stamp, node) never decreases
            assert merged.register is not None
            assert merged.register.order() >= a.register.order(), case


def test_dominates_is_the_order_of_the_join() -> None:
    rng = random.Random(3)
    for case in range(CASES):
        a, b = random_record(rng), random_record(rng)
        assert dominates(a, b) == (merge_record(a, b) == a), case


def test_state_merge_is_a_join_and_monotonic() -> None:
    rng = random.Random(4)
    for case in range(CASES):
        a, b, c = random_state(rng), random_state(rng), random_state(rng)
        assert merge_states(a, b) == merge_states(b, a), case
        assert merge_states(merge_states(a, b), c) == merge_states(a, merge_states(b, c)), case
        assert merge_states(a, a) == a, case
        merged = merge_states(a, b)
        assert set(merged) == set(a) | set(b)
        assert all(dominates(merged[k], r) for k, r in a.items()), case


def test_hlc_is_monotonic_under_non_monotonic_physical_time() -> None:
    rng = random.Random(5)
    for case in range(CASES):
        clock = HybridClock(Timestamp(rng.randint(0, 100), 0))
        last = clock.current
        for _ in range(20):
            now = rng.randint(-50, 200)  # jumps back, even below zero
            if rng.random() < 0.5:
                stamp = clock.tick(now)
            else:
                stamp = clock.observe(Timestamp(rng.randint(0, 200), rng.randint(0, 5)), now)
            assert stamp > last, case
            assert stamp.wall >= now, case
            last = stamp


def test_hlc_follows_physical_time_and_remote_stamps() -> None:
    clock = HybridClock()
    assert clock.tick(1_000) == Timestamp(1_000, 0)
    assert clock.tick(1_000) == Timestamp(1_000, 1)
    assert clock.tick(900) == Timestamp(1_000, 2)  # physical time went back
    assert clock.observe(Timestamp(5_000, 7), 1_100) == Timestamp(5_000, 8)
    assert clock.observe(Timestamp(5_000, 3), 1_200) == Timestamp(5_000, 9)
    assert clock.tick(6_000) == Timestamp(6_000, 0)


def test_register_is_last_writer_wins_by_stamp_then_node() -> None:
    old = write_register(None, Timestamp(5, 0), "B", "old")
    new = write_register(old, Timestamp(5, 1), "A", "new")
    assert visible(new) == "new"
    assert visible(merge_record(new, old)) == "new"
    tie = write_register(None, Timestamp(5, 1), "C", "tie")  # same stamp: node C > A
    assert visible(merge_record(new, tie)) == "tie"


def test_delete_leaves_a_tombstone_that_a_later_put_overrides() -> None:
    written = write_register(None, Timestamp(1, 0), "A", 10)
    deleted = remove(written, Timestamp(2, 0), "B")
    assert visible(deleted) is None and kind(deleted) == "missing"
    assert deleted.register is not None and deleted.register.deleted
    assert visible(merge_record(written, deleted)) is None  # the older write stays dead
    assert visible(write_register(deleted, Timestamp(3, 0), "C", 11)) == 11


def test_concurrent_increments_add_up() -> None:
    base = increment(None, "A", 60)
    a_sold, c_sold = increment(base, "A", -1), increment(base, "C", -1)
    assert visible(a_sold) == visible(c_sold) == 59
    assert visible(merge_record(a_sold, c_sold)) == 58


def test_lost_update_merge_loses_one_side() -> None:
    base = increment(None, "A", 60)
    a_sold, c_sold = increment(base, "A", -1), increment(base, "C", -1)
    assert visible(merge_record(a_sold, c_sold, merge_counter_by_total)) == 59
    # ...while an ordinary (causal) update still goes through.
    assert visible(merge_record(base, a_sold, merge_counter_by_total)) == 59


def test_delete_restarts_a_counter_and_keeps_concurrent_increments() -> None:
    counted = increment(increment(None, "A", 60), "B", -5)
    deleted = remove(counted, Timestamp(9, 0), "A")
    assert visible(deleted) is None and not counter_live(deleted)
    concurrent = increment(counted, "C", 3)  # C had not seen the delete
    merged = merge_record(deleted, concurrent)
    assert kind(merged) == "counter" and visible(merged) == 3
    assert visible(increment(deleted, "B", 2)) == 2  # restarts from 0


def test_live_counter_wins_over_a_concurrent_register_write() -> None:
    deleted = remove(increment(None, "A", 4), Timestamp(1, 0), "A")
    put = write_register(deleted, Timestamp(7, 0), "B", "label")
    incr = increment(deleted, "C", 1)
    merged = merge_record(put, incr)
    assert visible(put) == "label" and visible(merged) == 1
    # A later delete clears both; then the key is a register again.
    cleared = remove(merged, Timestamp(8, 0), "A")
    assert visible(cleared) is None
    assert visible(write_register(cleared, Timestamp(9, 0), "A", "again")) == "again"


def test_mixed_keys_are_convergent_whatever_the_order_of_arrival() -> None:
    rng = random.Random(6)
    for case in range(CASES):
        records = [random_record(rng) for _ in range(4)]
        shuffled = records[:]
        rng.shuffle(shuffled)
        forward = records[0]
        for r in records[1:]:
            forward = merge_record(forward, r)
        backward = shuffled[0]
        for r in shuffled[1:]:
            backward = merge_record(backward, r)
        assert forward == backward, case
        assert visible(forward) == visible(backward), case


def test_wire_round_trip_through_json() -> None:
    rng = random.Random(7)
    for _ in range(CASES):
        record = random_record(rng)
        wire = json.loads(json.dumps(record_to_wire(record)))
        assert record_from_wire(wire) == record


def test_record_hash_is_stable_across_processes() -> None:
    # A pinned value: a salted hash() would differ per process and break digests.
    record = increment(write_register(None, Timestamp(1, 2), "A", "v"), "B", 3)
    assert record_hash("k", record) == record_hash("k", record_from_wire(record_to_wire(record)))
    assert f"{record_hash('k', record):016x}" == PINNED_HASH


PINNED_HASH = "a8328a696a6378a7"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ([], "must be a JSON object"),
        ({"reg": {"ts": [1], "node": "A", "value": 1}}, "reg.ts must be"),
        ({"reg": {"ts": [1, -1], "node": "A", "value": 1}}, "reg.ts logical"),
        ({"reg": {"ts": [1, 0], "node": "", "value": 1}}, "reg.node"),
        ({"reg": {"ts": [1, 0], "node": "A"}}, "exactly one of value or deleted"),
        ({"reg": {"ts": [1, 0], "node": "A", "value": None}}, "must not be None"),
        ({"inc": {"A": 2**63}}, "inc['A']"),
        ({"dec": {"A": True}}, "dec['A']"),
        ({"removed_inc": [1]}, "removed_inc must be an object"),
        ({"bogus": 1}, "unknown record field"),
    ],
)
def test_record_from_wire_rejects_bad_input(wire: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        record_from_wire(wire)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("s", True), (1, True), (2.5, True), (True, True), ([1, {"a": "b"}], True),
     (None, False), (2**63, False), (float("nan"), False), ({1: "a"}, False),
     ((1, 2), False), (object(), False)],
)  # fmt: skip
def test_validate_value(value: Any, ok: bool) -> None:
    assert (validate_value(value) is None) == ok


def test_validate_key() -> None:
    assert validate_key("k") is None
    assert validate_key("") and validate_key(3) and validate_key("x" * 2000)


def test_digest_depends_on_content_not_insertion_order() -> None:
    rng = random.Random(8)
    state = {f"k{i}": random_record(rng) for i in range(200)}
    first, second = DigestIndex(16), DigestIndex(16)
    for key, record in state.items():
        first.update(key, record)
    for key in reversed(list(state)):
        second.update(key, Record())  # overwritten below: updates replace, not add
        second.update(key, state[key])
    assert first.digest() == second.digest()
    second.update("k0", increment(state["k0"], "Z", 1))
    differing = [
        i for i, (x, y) in enumerate(zip(first.digest(), second.digest(), strict=True)) if x != y
    ]
    assert len(differing) == 1
    assert "k0" in second.versions(differing[0])
