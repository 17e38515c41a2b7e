"""Histories from elsewhere: the value forms and conventions other tools use.

Each case here was a wrong verdict or a misleading sentence on a real-world
history (Jepsen, Knossos, Porcupine) before it was fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_partition.checkers import (
    KVModel,
    RegisterModel,
    availability,
    cap_verdict,
    linearizable,
    linearizable_bruteforce,
)
from pytest_partition.history import History


def timed(*rows: tuple[Any, ...], key: Any = None) -> History:
    """Rows: (time in ms, process, type, f, value), in order."""
    return History.from_events(
        {"time": round(ms * 1_000_000), "process": p, "type": kind, "f": f, "value": v,
         "key": key}
        for ms, p, kind, f, v in rows
    )


def history(*rows: tuple[Any, ...]) -> History:
    """Rows: (process, type, f, value) in order; the time is the row number in ms."""
    return timed(*((i, *row) for i, row in enumerate(rows)))


def verdict(h: History, model: Any) -> Any:
    result = linearizable(h, model)
    assert linearizable_bruteforce(h, model) == (result.valid is True)
    return result


@pytest.mark.parametrize(("written", "read"), [(1, True), (0, False), (True, 1), (False, 0)])
@pytest.mark.parametrize("model", ["register", "kv"])
def test_a_bool_is_not_the_number_it_equals_in_python(written: Any, read: Any,
                                                      model: str) -> None:
    # A store that answers its acknowledgement (True) instead of the value
    # must not pass because Python says True == 1.
    result = verdict(history(
        (0, "invoke", "write", written), (0, "ok", "write", written),
        (1, "invoke", "read", None), (1, "ok", "read", read),
    ), model)
    assert result.valid is False
    assert f"returned {read!r}" in result.explanation


def test_bools_still_round_trip() -> None:
    assert verdict(history(
        (0, "invoke", "write", True), (0, "ok", "write", True),
        (1, "invoke", "read", None), (1, "ok", "read", True),
        (1, "invoke", "cas", [True, False]), (1, "ok", "cas", True),
        (1, "invoke", "read", None), (1, "ok", "read", False),
    ), "register").valid is True


def test_jepsen_independent_keys_are_split_even_when_no_read_succeeded() -> None:
    # Jepsen's multi-key tuples: [k v], a cas [k [old new]]; the reads all failed.
    rows = [
        (0, "invoke", "write", [1, 3]), (0, "ok", "write", [1, 3]),
        (1, "invoke", "read", [1, None]), (1, "fail", "read", [1, None]),
        (1, "invoke", "cas", [1, [3, 4]]), (1, "ok", "cas", [1, [3, 4]]),
        (2, "invoke", "write", [2, 7]), (2, "ok", "write", [2, 7]),
    ]
    result = verdict(history(*rows), "register")
    assert result.valid is True, result.explain()
    assert result.keys == 2
    rows[4:6] = [(1, "invoke", "cas", [1, [5, 6]]), (1, "ok", "cas", [1, [5, 6]])]
    result = verdict(history(*rows), "register")
    assert result.valid is False
    assert result.key == 1
    assert "from 5 to 6" in result.explanation


def test_a_register_holding_pairs_is_not_mistaken_for_independent_keys() -> None:
    # The cas's first element is a list: no Jepsen key looks like that.
    result = verdict(history(
        (0, "invoke", "write", [1, 2]), (0, "ok", "write", [1, 2]),
        (1, "invoke", "cas", [[1, 2], [3, 4]]), (1, "ok", "cas", True),
    ), "register")
    assert result.valid is True
    assert result.keys == 1


@pytest.mark.parametrize("model_class", [RegisterModel, KVModel])
def test_the_initial_value_can_be_given(model_class: type[RegisterModel]) -> None:
    # Knossos' (cas-register 0): a read of 0 before any write is legal.
    h = history(
        (0, "invoke", "read", None), (0, "ok", "read", 0),
        (1, "invoke", "cas", [0, 5]), (1, "ok", "cas", True),
        (0, "invoke", "read", None), (0, "ok", "read", 5),
    )
    assert verdict(h, model_class()).valid is False
    assert verdict(h, model_class(initial=0)).valid is True
    assert repr(model_class(initial=0)) == f"{model_class.__name__}(initial=0)"


def test_the_explanation_does_not_place_an_overlapping_write_before_the_read() -> None:
    # write 0 runs from 1 to 10 ms; a read at 3-4 ms sees 0 and one at 5-6 ms
    # sees 2, which only the earlier write 2 could have set.
    h = timed((0, 0, "invoke", "write", 2), (1, 1, "invoke", "write", 0),
              (2, 0, "ok", "write", 2),
              (3, 3, "invoke", "read", None), (4, 3, "ok", "read", 0),
              (5, 2, "invoke", "read", None), (6, 2, "ok", "read", 2),
              (10, 1, "ok", "write", 0))
    result = verdict(h, "register")
    assert result.valid is False
    assert result.explanation == (
        "read returned 2 at 6.0 ms, but the longest legal order found leaves 0 (write 0 "
        "invoked at 1.0 ms and completed at 10.0 ms, after the read returned, process 1), "
        "and no order of the operations concurrent with it makes 2 the value"
    )


JEPSEN_PARTITION = """\
{:type :invoke, :f :read, :value nil, :process 0, :time 1000000}
{:type :ok, :f :read, :value nil, :process 0, :time 2000000}
{:type :info, :f :start, :value nil, :process :nemesis, :time 3000000}
{:type :info, :f :start, :value [:isolated {"n1" #{"n2" "n3"}, "n2" #{"n1"}, "n3" #{"n1"}}], :process :nemesis, :time 4000000}
{:type :invoke, :f :write, :value 1, :process 1, :time 5000000}
{:type :ok, :f :write, :value 1, :process 1, :time 6000000}
{:type :info, :f :stop, :value nil, :process :nemesis, :time 7000000}
{:type :info, :f :stop, :value :network-healed, :process :nemesis, :time 8000000}
{:type :info, :f :start, :value nil, :process :nemesis, :time 9000000}
{:type :info, :f :start, :value :killed, :process :nemesis, :time 9500000}
"""


def test_jepsen_nemesis_partitions_are_windows(tmp_path: Path) -> None:
    path = tmp_path / "history.edn"
    path.write_text(JEPSEN_PARTITION, encoding="utf-8")
    h = History.load(path)
    result = availability(h)
    assert len(result.windows) == 1, "the kill is not a partition"
    window = result.windows[0]
    assert (window.start, window.end) == (4_000_000, 8_000_000)
    assert window.groups == [("n1",), ("n2", "n3")]
    assert window.spec == "n1|n2,n3"
    assert "no partition in this history" not in result.explain()
    assert "holds no partition," not in cap_verdict(h).sentence


def test_start_partition_and_stop_partition_too(tmp_path: Path) -> None:
    path = tmp_path / "history.edn"
    path.write_text(JEPSEN_PARTITION.replace(":f :start,", ":f :start-partition,")
                    .replace(":f :stop,", ":f :stop-partition,"), encoding="utf-8")
    windows = availability(History.load(path)).windows
    assert [w.spec for w in windows] == ["n1|n2,n3", "start-partition 'killed'"]


def test_an_overlapping_write_is_not_said_to_have_completed_before_the_read() -> None:
    # put 3 runs from 20 to 100 ms; reads see 1, 3, then 1 again: the read at
    # 50-60 ms is what proves 3 was in place before the last read began.
    h = timed((0, 0, "invoke", "put", 1), (10, 0, "ok", "put", 1),
              (20, 1, "invoke", "put", 3),
              (30, 2, "invoke", "get", None), (40, 2, "ok", "get", 1),
              (50, 2, "invoke", "get", None), (60, 2, "ok", "get", 3),
              (70, 2, "invoke", "get", None), (80, 2, "ok", "get", 1),
              (100, 1, "ok", "put", 3), key="k")
    result = verdict(h, "kv")
    assert result.valid is False
    assert result.explanation == (
        "read of 'k' returned 1 at 80.0 ms, but the value was already 3: put 3 invoked at "
        "20.0 ms and completed at 100.0 ms, after the get returned (process 1); a read "
        "returned 3 at 60.0 ms (process 2), before the get began, and nothing wrote 1 "
        "after it"
    )
