"""Hand-written anomalies: each is flagged (or accepted) with a readable explanation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pytest_partition.checkers import (
    KVModel,
    LinearizabilityResult,
    Model,
    ModelError,
    RegisterModel,
    kv,
    linearizable,
    linearizable_bruteforce,
    register,
)
from pytest_partition.history import History, Operation

MS = 1_000_000


def ops_history(*rows: dict[str, Any]) -> History:
    """Rows: process, f, key, value, at=(start_ms, end_ms or None), type, out, node."""
    events = []
    for row in rows:
        start, end = row["at"]
        common = {"process": row["process"], "f": row["f"], "key": row.get("key", "x"),
                      "node": row.get("node", "n1")}
        events.append((start, dict(common, type="invoke", value=row.get("value"))))
        if end is not None:
            kind = row.get("type", "ok")
            value = row.get("out") if kind == "ok" else row.get("value")
            events.append((end, dict(common, type=kind, value=value)))
    events.sort(key=lambda pair: pair[0])
    return History.from_events([dict(e, time=int(t * MS)) for t, e in events])


def op(process: int, f: str, value: Any = None, *, at: tuple[float, float | None],
       **extra: Any) -> dict[str, Any]:
    return dict(process=process, f=f, value=value, at=at, **extra)


def check(history: History, model: Any = "register", valid: Any = False) -> LinearizabilityResult:
    result = linearizable(history, model)
    assert result.valid == valid, result.explain()
    assert linearizable_bruteforce(history, model) == (valid is True)
    json.dumps(result.to_dict())
    return result


def test_stale_read() -> None:
    result = check(ops_history(
        op(0, "write", 1, at=(0, 1)),
        op(1, "write", 2, at=(2, 10.1), node="n2"),
        op(2, "read", at=(11, 12.3), out=1, node="n3"),
    ))
    assert result.explanation == (
        "read of 'x' returned 1 at 12.3 ms, but the value was already 2: write 2 completed "
        "at 10.1 ms (process 1 on n2) and nothing wrote 1 after it"
    )
    assert result.key == "x"
    assert [o.process for o in result.culprits] == [2]
    assert [step.op.value for step in result.longest_prefix] == [1, 2]
    assert result.longest_prefix[-1].state == 2 and result.prefix_state == "2"
    assert not result and "not linearizable" in result.explain()


def test_lost_write_reads_initial_value() -> None:
    result = check(ops_history(
        op(0, "put", "v1", at=(0, 1)),
        op(1, "get", at=(2, 3), out=None),
    ))
    assert "returned None" in result.explanation
    assert "the value was already 'v1'" in result.explanation
    assert "nothing wrote None after it" in result.explanation


def test_cas_that_succeeds_twice() -> None:
    result = check(ops_history(
        op(0, "write", 0, at=(0, 1)),
        op(1, "cas", [0, 1], at=(2, 3), out=True),
        op(2, "cas", [0, 2], at=(4, 5), out=True),
    ))
    assert result.explanation.startswith("cas of 'x' from 0 to 2 succeeded at 5.0 ms, but the "
                                          "value was already 1: cas 0->1 completed at 3.0 ms")


def test_read_of_a_value_never_written() -> None:
    result = check(ops_history(
        op(0, "write", 1, at=(0, 1)),
        op(1, "read", at=(2, 3), out=7),
    ))
    assert result.explanation == "read of 'x' returned 7 at 3.0 ms, but no operation ever wrote 7"


def test_read_of_a_value_written_only_in_the_future() -> None:
    result = check(ops_history(
        op(0, "read", at=(0, 1), out=3),
        op(1, "write", 3, at=(2, 4), node="n2"),
    ))
    assert result.explanation == (
        "read of 'x' returned 3 at 1.0 ms, but 3 was written only later: write 3 started at "
        "2.0 ms (process 1 on n2), after it had returned"
    )


def test_info_write_that_must_have_happened_is_valid() -> None:
    check(ops_history(
        op(0, "write", 1, at=(0, 1)),
        op(1, "write", 2, at=(2, 3), type="info"),
        op(2, "read", at=(5, 6), out=2),
        op(3, "write", 9, at=(7, None)),  # never completed either
    ), valid=True)


def test_info_write_that_never_happened_is_valid() -> None:
    check(ops_history(
        op(0, "write", 1, at=(0, 1)),
        op(1, "write", 2, at=(2, 3), type="info"),
        op(2, "read", at=(5, 6), out=1),
        op(3, "read", at=(7, 8), out=1),
    ), valid=True)


def test_failed_write_is_ignored() -> None:
    check(ops_history(
        op(0, "write", 1, at=(0, 1)),
        op(1, "write", 2, at=(2, 3), type="fail"),
        op(2, "read", at=(5, 6), out=2),
    ))


def test_concurrent_operations_may_take_effect_in_either_order() -> None:
    check(ops_history(
        op(0, "write", 1, at=(0, 10)),
        op(1, "write", 2, at=(1, 9)),
        op(2, "read", at=(2, 3), out=2),
        op(3, "read", at=(4, 11), out=1),
    ), valid=True)


def test_cas_output_forms() -> None:
    # A cas that reports False is legal only when the value differs.
    check(ops_history(op(0, "write", 1, at=(0, 1)), op(1, "cas", [1, 5], at=(2, 3), out=False)))
    check(ops_history(op(0, "write", 1, at=(0, 1)), op(1, "cas", [2, 5], at=(2, 3), out=False),
                      op(2, "read", at=(4, 5), out=1)), valid=True)
    # Jepsen repeats [old new] on an ok cas; an unknown-outcome cas applies when it can.
    check(ops_history(op(0, "write", 1, at=(0, 1)), op(1, "cas", [1, 5], at=(2, 3), out=[1, 5]),
                      op(2, "cas", [5, 6], at=(4, 5), type="info"),
                      op(3, "read", at=(6, 7), out=6)), valid=True)


def test_one_illegal_key_decides_and_is_named() -> None:
    rows = [op(p, "put", p, at=(p, p + 0.5), key="good") for p in range(20)]
    rows += [op(30, "put", 1, at=(40, 41), key="bad"), op(31, "get", at=(42, 43), key="bad",
                                                          out=None)]
    result = check(ops_history(*rows), kv)
    assert result.key == "bad" and result.keys == 2
    assert all(o.key == "bad" for o in result.culprits + [s.op for s in result.longest_prefix])


def test_window_lists_the_concurrent_operations() -> None:
    result = check(ops_history(
        op(0, "write", 1, at=(0, 1)),
        op(1, "write", 2, at=(2, 3)),
        op(2, "read", at=(4, 10), out=1),
        op(3, "read", at=(5, 6), out=2),
        op(4, "write", 3, at=(7, 8)),
    ))
    assert result.culprits[0].output == 1
    assert sorted(o.process for o in result.window) == [3, 4]


def test_counter_and_kv_models() -> None:
    counter_history = ops_history(
        op(0, "incr", 2, at=(0, 1), out=2),
        op(1, "incr", 3, at=(0.5, 2), type="info"),
        op(2, "read", at=(3, 4), out=5),
        op(3, "incr", 1, at=(5, 6), out=7),  # 5 + 1 is 6, not 7
    )
    result = check(counter_history, "counter")
    assert "should have returned 6" in result.explanation
    kv_history = ops_history(
        op(0, "append", 1, at=(0, 1)), op(1, "append", 2, at=(2, 3)),
        op(2, "get", at=(4, 5), out=[1, 2]), op(3, "delete", at=(6, 7)),
        op(4, "incr", 4, at=(8, 9), out=4), op(5, "get", at=(10, 11), out=4),
    )
    check(kv_history, "kv", valid=True)


def appends(*rows: tuple[float, float, str, Any, Any]) -> History:
    """Rows on one key, one process each: (start_ms, end_ms, f, input, output)."""
    return ops_history(*(op(i, f, value, at=(start, end), out=out)
                         for i, (start, end, f, value, out) in enumerate(rows)))


@pytest.mark.parametrize(("rows", "valid"), [
    # A string onto a missing key starts a string; strings concatenate (Redis' APPEND).
    ([(0, 1, "append", "a", None), (2, 3, "append", "bc", None), (4, 5, "get", None, "abc")],
     True),
    ([(0, 1, "append", "a", None), (2, 3, "append", "b", None), (4, 5, "get", None, ["a", "b"])],
     False),
    ([(0, 1, "put", "x", None), (2, 3, "append", "y", None), (4, 5, "get", None, "xy")], True),
    # Concurrent appends: either order, but one order for every reader.
    ([(0, 3, "append", "a", None), (0, 3, "append", "b", None), (4, 5, "get", None, "ba")],
     True),
    ([(0, 3, "append", "a", None), (0, 3, "append", "b", None), (4, 5, "get", None, "ba"),
      (4, 5, "get", None, "ab")], False),
    # A read between two appends sees the first only, then the string grows.
    ([(0, 1, "append", "a", None), (2, 7, "append", "b", None), (3, 4, "get", None, "a"),
      (5, 6, "get", None, "ab")], True),
    ([(0, 1, "append", "a", None), (2, 3, "append", "b", None), (4, 5, "get", None, "a")],
     False),
    # A non-string onto a missing key starts a list; onto a list, one more element.
    ([(0, 1, "append", 1, None), (2, 3, "append", [2], None), (4, 5, "get", None, [1, [2]])],
     True),
    ([(0, 1, "put", ["a"], None), (2, 3, "append", "b", None), (4, 5, "get", None, ["a", "b"])],
     True),
    # A delete makes the key missing again: the next string append starts afresh.
    ([(0, 1, "append", "a", None), (2, 3, "delete", None, None), (4, 5, "append", "b", None),
      (6, 7, "get", None, "b")], True),
    # Onto a string, a number cannot be appended; onto a number, nothing can.
    ([(0, 1, "put", "a", None), (2, 3, "append", 5, None)], False),
    ([(0, 1, "put", 5, None), (2, 3, "append", "a", None)], False),
    ([(0, 1, "put", {"a": 1}, None), (2, 3, "append", "b", None)], False),
])
def test_kv_append(rows: list[tuple[float, float, str, Any, Any]], valid: bool) -> None:
    check(appends(*rows), "kv", valid=valid)


def test_kv_append_of_unknown_outcome_may_or_may_not_have_happened() -> None:
    history = ops_history(
        op(0, "append", "a", at=(0, 1)),
        op(1, "append", "b", at=(2, None)),
        op(2, "append", "c", at=(3, 4)),
        op(3, "get", at=(5, 6), out="ac"),
        op(4, "append", "d", at=(7, 8)),
        op(5, "get", at=(9, 10), out="acd"),
    )
    check(history, "kv", valid=True)
    history = ops_history(
        op(0, "append", "a", at=(0, 1)),
        op(1, "append", "b", at=(2, 3), type="info"),
        op(2, "get", at=(4, 5), out="ab"),
        op(3, "get", at=(6, 7), out="a"),  # the string never shrinks
    )
    result = check(history, "kv")
    assert "'a'" in result.explanation


def test_kv_reads_like_porcupine_when_a_missing_key_is_the_empty_string() -> None:
    history = ops_history(
        op(0, "get", at=(0, 1), out=""),
        op(1, "append", "x 1 0 y", at=(2, 3)),
        op(2, "get", at=(4, 5), out="x 1 0 y"),
    )
    check(history, KVModel(initial=""), valid=True)
    check(history, "kv", valid=False)  # by default a key never written reads None


def test_jepsen_independent_tuples_split_per_key() -> None:
    history = ops_history(
        op(0, "write", [1, 5], at=(0, 1), key=None, out=[1, 5]),
        op(1, "write", [2, 6], at=(0, 1), key=None, out=[2, 6]),
        op(2, "read", [1, None], at=(2, 3), key=None, out=[1, 5]),
        op(3, "read", [2, None], at=(2, 3), key=None, out=[2, 5]),
    )
    result = check(history, register)
    assert result.key == 2 and result.keys == 2


def test_unknown_f_gives_unknown_with_the_reason() -> None:
    result = linearizable(ops_history(op(0, "incr", 1, at=(0, 1), out=1)), "register")
    assert result.valid == "unknown" and not result
    assert "does not know f='incr'" in result.reason


def test_a_model_that_crashes_gives_unknown() -> None:
    class Broken(Model):
        def init(self) -> int:
            return 0

        def step(self, state: Any, op: Operation) -> tuple[bool, int]:
            raise ZeroDivisionError("boom")

    result = linearizable(ops_history(op(0, "read", at=(0, 1), out=0)), Broken())
    assert result.valid == "unknown" and "ZeroDivisionError: boom" in result.reason


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown model 'regsiter'"):
        linearizable([], "regsiter")
    with pytest.raises(TypeError):
        linearizable([], object())  # type: ignore[arg-type]
    with pytest.raises(ModelError):
        register.step(None, ops_history(op(0, "cas", 3, at=(0, 1))).operations()[0])


def test_empty_history_is_linearizable() -> None:
    assert linearizable(History(), "kv").valid is True


def pathological(width: int, key: str = "x") -> list[dict[str, Any]]:
    """Many concurrent writes, then a read of a value none wrote: exponential."""
    rows = [op(p, "write", p, at=(0.001 * p, 100), key=key) for p in range(width)]
    rows.append(op(width, "read", at=(200, 201), key=key, out=-1))
    return rows


def test_time_limit_returns_unknown_promptly() -> None:
    limit = 0.5
    started = time.monotonic()
    result = linearizable(ops_history(*pathological(24)), "register", time_limit=limit)
    elapsed = time.monotonic() - started
    assert result.valid == "unknown"
    assert "time limit of 0.5 s" in result.reason
    assert elapsed < 2 * limit + 0.5, elapsed


def test_small_illegal_key_is_found_while_a_big_one_is_slow() -> None:
    rows = pathological(24, key="slow")
    rows += [op(100, "write", 1, at=(0, 1), key="fast"),
             op(101, "read", at=(2, 3), key="fast", out=2)]
    started = time.monotonic()
    result = linearizable(ops_history(*rows), "kv", time_limit=20)
    assert result.valid is False and result.key == "fast"
    assert time.monotonic() - started < 2


def test_big_illegal_key_is_found_while_a_small_one_is_slow() -> None:
    # Keys are interleaved a slice at a time, not checked smallest first to
    # the end: a key of 400 operations that is illegal at once decides the
    # check while a key of 25 could take minutes.
    rows = pathological(24, key="slow")
    rows += [op(100 + i, "write", i, at=(2 * i, 2 * i + 1), key="big") for i in range(200)]
    rows += [op(300 + i, "read", at=(2 * i + 1.2, 2 * i + 1.8), key="big", out=i)
             for i in range(200)]
    rows[-200]["out"] = 7  # the first read of "big" returns a value written only later
    started = time.monotonic()
    result = linearizable(ops_history(*rows), "kv", time_limit=20)
    assert result.valid is False and result.key == "big", result.explain()
    assert "written only later" in result.explanation
    assert time.monotonic() - started < 2


def test_any_object_with_init_and_step_is_a_model() -> None:
    class Toggle:
        """A light switch: "flip" toggles, "look" must see the current position."""

        def init(self) -> bool:
            return False

        def step(self, state: bool, op: Operation) -> tuple[bool, bool]:
            if op.f == "flip":
                return True, not state
            return op.output == state, state

    history = ops_history(op(0, "flip", at=(0, 1)), op(1, "look", at=(2, 3), out=True),
                          op(2, "look", at=(4, 5), out=False))
    result = linearizable(history, Toggle())
    assert result.valid is False and result.model == "Toggle"
    assert result.explanation.startswith("look of 'x' (process 2 on n1, ok at 5.0 ms) cannot "
                                         "be placed: after the longest legal order found (2 "
                                         "operations) the state was True")


def test_a_subclass_that_changes_step_is_searched_with_its_own_step() -> None:
    # The built-in models prepare each operation once for the search; a
    # subclass that overrides step (or adds operations through step_other)
    # must still be the one that decides.
    class ForgetfulRegister(RegisterModel):
        """Every write is lost: reads always see None."""

        def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
            if op.f == "write":
                return True, None
            return super().step(state, op)

    class KVWithDouble(KVModel):
        def step_other(self, state: Any, op: Operation) -> tuple[bool, Any]:
            if op.f == "double":
                return True, state * 2
            return super().step_other(state, op)

    lost = ops_history(op(0, "write", 1, at=(0, 1)), op(1, "read", at=(2, 3), out=None))
    check(lost, ForgetfulRegister(), valid=True)
    check(lost, "register", valid=False)
    doubled = ops_history(op(0, "put", 3, at=(0, 1)), op(1, "double", at=(2, 3)),
                          op(2, "incr", 1, at=(4, 5), out=7), op(3, "get", at=(6, 7), out=7))
    check(doubled, KVWithDouble(), valid=True)
