"""The pure key-value state machine replicated by the CP store."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_partition.store import kv


def test_get_missing_key_is_none() -> None:
    assert kv.apply({}, {"op": "get", "key": "a"}) == kv.ApplyResult("ok", None)


def test_put_then_get() -> None:
    state: dict[kv.Key, Any] = {}
    assert kv.apply(state, {"op": "put", "key": "a", "value": [1, {"x": 2}]}) == kv.ApplyResult(
        "ok", True
    )
    assert kv.apply(state, {"op": "get", "key": "a"}) == kv.ApplyResult("ok", [1, {"x": 2}])


def test_int_and_string_keys_are_distinct() -> None:
    state: dict[kv.Key, Any] = {}
    kv.apply(state, {"op": "put", "key": 1, "value": "int"})
    kv.apply(state, {"op": "put", "key": "1", "value": "str"})
    assert state == {1: "int", "1": "str"}


def test_cas_succeeds_only_on_expected_value() -> None:
    state: dict[kv.Key, Any] = {"a": 1}
    assert kv.apply(state, {"op": "cas", "key": "a", "expected": 2, "new": 3}) == kv.ApplyResult(
        "ok", False
    )
    assert state == {"a": 1}
    assert kv.apply(state, {"op": "cas", "key": "a", "expected": 1, "new": 3}) == kv.ApplyResult(
        "ok", True
    )
    assert state == {"a": 3}


def test_cas_treats_missing_as_none() -> None:
    state: dict[kv.Key, Any] = {}
    assert kv.apply(state, {"op": "cas", "key": "a", "expected": None, "new": 5}).value is True
    assert state == {"a": 5}


def test_incr_counts_missing_as_zero() -> None:
    state: dict[kv.Key, Any] = {}
    assert kv.apply(state, {"op": "incr", "key": "n", "delta": 2}) == kv.ApplyResult("ok", 2)
    assert kv.apply(state, {"op": "incr", "key": "n", "delta": -5}) == kv.ApplyResult("ok", -3)


@pytest.mark.parametrize("current", ["x", 1.5, True, None, [1]])
def test_incr_of_non_int_is_invalid_and_changes_nothing(current: object) -> None:
    state: dict[kv.Key, Any] = {"n": current}
    result = kv.apply(state, {"op": "incr", "key": "n", "delta": 1})
    assert result.status == "invalid"
    assert "not an int" in result.reason
    assert state == {"n": current}


@pytest.mark.parametrize("delta", ["1", 1.0, True, None])
def test_incr_with_non_int_delta_is_invalid(delta: object) -> None:
    state: dict[kv.Key, Any] = {"n": 1}
    result = kv.apply(state, {"op": "incr", "key": "n", "delta": delta})
    assert result.status == "invalid"
    assert "'delta'" in result.reason
    assert state == {"n": 1}


def test_delete_reports_whether_the_key_existed() -> None:
    state: dict[kv.Key, Any] = {"a": 1}
    assert kv.apply(state, {"op": "delete", "key": "a"}) == kv.ApplyResult("ok", True)
    assert kv.apply(state, {"op": "delete", "key": "a"}) == kv.ApplyResult("ok", False)
    assert state == {}


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("put", "must be a dict"),
        ({"key": "a"}, "missing field 'op'"),
        ({"op": "append", "key": "a"}, "unknown op 'append'"),
        ({"op": 3, "key": "a"}, "unknown op 3"),
        ({"op": "get"}, "missing field 'key'"),
        ({"op": "put", "key": "a"}, "missing field 'value'"),
        ({"op": "cas", "key": "a", "expected": 1}, "missing field 'new'"),
        ({"op": "incr", "key": "a"}, "missing field 'delta'"),
        ({"op": "get", "key": 1.5}, "field 'key' must be a string or an int"),
        ({"op": "get", "key": True}, "field 'key'"),
        ({"op": "put", "key": "a", "value": {1, 2}}, "field 'value' is not JSON-serializable"),
        ({"op": "put", "key": "a", "value": {1: 2}}, "non-string object key"),
    ],
)
def test_malformed_commands_are_invalid_with_a_reason(command: Any, names: str) -> None:
    state: dict[kv.Key, Any] = {"a": 0}
    result = kv.apply(state, command)
    assert result.status == "invalid"
    assert names in result.reason
    assert kv.validate(command) == result.reason
    assert state == {"a": 0}


def test_well_formed_commands_validate() -> None:
    for command in (
        {"op": "get", "key": "a"},
        {"op": "put", "key": 3, "value": None},
        {"op": "cas", "key": "a", "expected": None, "new": {"x": [1]}},
        {"op": "incr", "key": "a", "delta": -1},
        {"op": "delete", "key": "a", "extra": "ignored"},
    ):
        assert kv.validate(command) is None


def test_only_get_is_a_read() -> None:
    assert kv.is_read({"op": "get", "key": "a"})
    assert not kv.is_read({"op": "put", "key": "a", "value": 1})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinities_are_not_values(number: float) -> None:
    state: dict[kv.Key, Any] = {"a": 1}
    for command in ({"op": "put", "key": "a", "value": number},
                    {"op": "put", "key": "a", "value": [1, {"x": number}]},
                    {"op": "cas", "key": "a", "expected": number, "new": 2},
                    {"op": "cas", "key": "a", "expected": 1, "new": number}):
        result = kv.apply(state, command)
        assert result.status == "invalid" and "NaN and infinities" in result.reason
    assert state == {"a": 1}
