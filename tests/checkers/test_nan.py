"""NaN is not a value: every checker that compares values refuses a history holding one.

NaN equals nothing, not even itself, so a read of NaN after a write of NaN
would be "a value nobody wrote": a wrong verdict on a correct store. The
client refuses to send NaN and History.load refuses to read it; a history
built in memory can still hold one, and then the checkers raise a
ValueError naming the event instead of giving a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_partition.checkers import (
    cap_verdict,
    check_counter,
    check_lost_updates,
    linearizable,
    linearizable_bruteforce,
)
from pytest_partition.history import History, HistoryError

NAN = float("nan")


def written_then_read(value: Any, *, f: str = "put") -> History:
    return History.from_events([
        {"process": 0, "type": "invoke", "f": f, "key": "k", "value": value, "time": 0},
        {"process": 0, "type": "ok", "f": f, "key": "k", "value": value, "time": 1},
        {"process": 1, "type": "invoke", "f": "get", "key": "k", "time": 2},
        {"process": 1, "type": "ok", "f": "get", "key": "k", "value": value, "time": 3},
    ])


CHECKERS: dict[str, Callable[[Any], Any]] = {
    "linearizable": lambda h: linearizable(h, "kv"),
    "linearizable_bruteforce": lambda h: linearizable_bruteforce(h, "kv"),
    "check_lost_updates": lambda h: check_lost_updates(h, {"n1": {"k": 1}}),
    "cap_verdict": lambda h: cap_verdict(h),
}


@pytest.mark.parametrize("checker", CHECKERS)
def test_a_history_holding_nan_is_refused_naming_the_event(checker: str) -> None:
    # The same history with 1.5 instead of NaN is linearizable: without the
    # rule, NaN != NaN would make it "a read of a value never written".
    check = CHECKERS[checker]
    assert linearizable(written_then_read(1.5), "kv").valid is True
    with pytest.raises(HistoryError) as raised:  # a ValueError
        check(written_then_read([1, NAN]))
    message = str(raised.value)
    assert message.startswith("event 0: the invoke event of process 0 (put) holds NaN in its "
                              "value[1]; NaN is not a value"), message


@pytest.mark.parametrize("checker", ["linearizable", "linearizable_bruteforce",
                                     "check_lost_updates"])
def test_a_list_of_operations_holding_nan_is_refused_naming_the_operation(checker: str) -> None:
    ops = written_then_read(NAN).operations()
    with pytest.raises(ValueError, match=r"^process 0: put 'k' nan .*\(event 0 and 1\) holds "
                                         r"NaN in its input; NaN is not a value"):
        CHECKERS[checker](ops)


def test_a_read_that_returned_nan_is_named_by_its_output() -> None:
    history = History.from_events([
        {"process": 1, "type": "invoke", "f": "read", "time": 0},
        {"process": 1, "type": "ok", "f": "read", "value": NAN, "time": 1},
    ])
    with pytest.raises(ValueError, match=r"^event 1: the ok event of process 1 \(read\)"):
        linearizable(history, "register")
    with pytest.raises(ValueError, match=r"holds NaN in its output;"):
        linearizable(history.operations(), "register")


def test_counter_check_refuses_nan_deltas() -> None:
    history = History.from_events([
        {"process": 0, "type": "invoke", "f": "incr", "key": "c", "value": NAN, "time": 0},
        {"process": 0, "type": "ok", "f": "incr", "key": "c", "value": NAN, "time": 1},
    ])
    with pytest.raises(ValueError, match="holds NaN in its value; NaN is not a value"):
        check_counter(history, {"n1": 1})


def test_an_event_appended_to_a_loaded_history_is_named_by_index(tmp_path: Any) -> None:
    # History.load already refuses NaN (naming file and line); a loaded
    # history that gains one afterwards names it as any appended event.
    path = tmp_path / "h.jsonl"
    written_then_read(1).save(path)
    history = History.load(path)
    history.append(process=2, type="invoke", f="put", key="k", value=NAN)
    with pytest.raises(ValueError, match=r"^event 4: the invoke event of process 2"):
        linearizable(history, "kv")
