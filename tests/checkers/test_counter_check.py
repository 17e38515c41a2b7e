"""check_counter: bounds from ok and info increments, final values and reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_partition.checkers import check_counter
from pytest_partition.history import History

MS = 1_000_000


def counter_history(*rows: tuple[Any, ...]) -> History:
    """Rows: (process, node, f, delta or None, start_ms, end_ms or None, outcome, output)."""
    events = []
    for process, node, f, delta, start, end, outcome, output in rows:
        common = {"process": process, "node": node, "f": f, "key": "dryer"}
        events.append((start, dict(common, type="invoke", value=delta)))
        if end is not None:
            events.append((end, dict(common, type=outcome,
                                     value=output if outcome == "ok" else delta)))
    events.sort(key=lambda pair: pair[0])
    return History.from_events([dict(e, time=int(t * MS)) for t, e in events])


STOCK = counter_history(
    (0, "A", "incr", 60, 0, 1, "ok", 60),
    (1, "A", "incr", -1, 2, 3, "ok", 59),
    (2, "C", "incr", -1, 4, 5, "ok", 59),  # AP: C had not seen A's sale yet
    (3, "B", "incr", -1, 6, 7, "fail", None),
    (4, "B", "incr", 5, 8, None, "info", None),
    (5, "C", "get", None, 9, 10, "ok", 58),
)


def test_final_values_within_the_bounds() -> None:
    result = check_counter(STOCK, {"A": 58, "B": 63, "C": 58})
    assert result.valid and result
    assert (result.lower, result.upper, result.acknowledged) == (58, 63, 58)
    assert (result.increments, result.unknown, result.reads_checked) == (3, 1, 1)
    assert "no acknowledged update lost" in result.explain()
    json.dumps(result.to_dict())


def test_lost_decrement_is_explained() -> None:
    result = check_counter(STOCK, {"A": 58, "B": 58, "C": 64})
    assert not result.valid
    assert result.errors == [
        ("acknowledged decrements are missing: final value on C is 64, expected at most 63 "
        "(1 over)")]
    assert result.explain().startswith("counter 'dryer': acknowledged decrements are missing")


def test_lost_increment_and_a_single_final_value() -> None:
    result = check_counter(STOCK, 57)
    assert result.errors == [
        ("acknowledged increments are missing: final value is 57, expected at least 58 "
        "(1 short)")]


def test_negative_info_deltas_lower_the_lower_bound() -> None:
    history = counter_history(
        (0, "A", "add", 10, 0, 1, "ok", 10),
        (1, "A", "add", -4, 2, None, "info", None),
        (2, "A", "add", 3, 2, 3, "info", None),
    )
    result = check_counter(history, {"A": 6, "B": 13})
    assert (result.lower, result.upper) == (6, 13) and result.valid
    assert not check_counter(history, 5).valid


def test_reads_are_checked_against_the_bounds_at_their_time() -> None:
    history = counter_history(
        (0, "A", "incr", 2, 0, 1, "ok", 2),
        (1, "B", "get", None, 2, 3, "ok", 0),     # the acknowledged +2 is missing
        (2, "A", "incr", 3, 4, 8, "ok", 5),
        (3, "B", "get", None, 5, 6, "ok", 5),     # concurrent +3 may be counted
        (4, "B", "get", None, 9, 10, "ok", 9),    # more than anything explains
        (5, "B", "get", None, 11, 12, "ok", None),  # None reads as the initial value
    )
    result = check_counter(history)
    assert result.reads_checked == 4
    assert result.errors == [
        ("read of 'dryer' by process 1 on B returned 0 at 3.0 ms, but the counter could only "
        "be between 2 and 2 then"),
        ("read of 'dryer' by process 4 on B returned 9 at 10.0 ms, but the counter could only "
        "be between 5 and 5 then"),
        ("read of 'dryer' by process 5 on B returned 0 at 12.0 ms, but the counter could only "
        "be between 5 and 5 then"),
    ]


def test_several_keys_need_a_key_argument() -> None:
    history = History.from_events([
        {"process": 0, "type": "invoke", "f": "incr", "key": "a", "value": 1},
        {"process": 0, "type": "ok", "f": "incr", "key": "a", "value": 1},
        {"process": 0, "type": "invoke", "f": "incr", "key": "b", "value": 1},
        {"process": 0, "type": "ok", "f": "incr", "key": "b", "value": 1},
    ])
    with pytest.raises(ValueError, match="pass key="):
        check_counter(history, 1)
    assert check_counter(history, 1, key="b").valid


def test_stale_reads_may_miss_increments_but_not_invent_them() -> None:
    history = counter_history(
        (0, "A", "incr", 2, 0, 1, "ok", 2),
        (1, "B", "get", None, 2, 3, "ok", 0),     # stale: B has not heard of +2 yet
        (2, "B", "get", None, 4, 5, "ok", 7),     # phantom: nothing explains 7
    )
    result = check_counter(history, stale_reads=True)
    assert result.errors == [
        ("read of 'dryer' by process 2 on B returned 7 at 5.0 ms, but the counter could only "
        "be between 0 and 2 then")]
