"""History: recording, pairing into operations, JSON Lines files and their errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pytest_partition import History, HistoryError


def test_events_get_increasing_index_and_time() -> None:
    history = History()
    first = history.append(process=0, type="invoke", f="put", key="k", value=1, node="A")
    second = history.append(process=0, type="ok", f="put", key="k", value=True, node="A")
    assert (first.index, second.index) == (0, 1)
    assert 0 <= first.time <= second.time


def test_concurrent_appends_keep_index_in_time_order() -> None:
    history = History()

    def record(process: int) -> None:
        for _ in range(200):
            history.append(process=process, type="invoke", f="get", key="k")
            history.append(process=process, type="ok", f="get", key="k", value=None)

    threads = [threading.Thread(target=record, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = [event.time for event in history]
    assert [event.index for event in history] == list(range(1600))
    assert times == sorted(times)
    assert len(history.operations()) == 800


def test_operations_pair_invokes_with_completions() -> None:
    history = History()
    history.append(process=0, type="invoke", f="put", key="x", value=5, node="A")
    history.append(process=1, type="invoke", f="get", key="x", node="B")
    history.append(process="nemesis", type="info", f="partition", value={"spec": "A|B"})
    history.append(process=1, type="ok", f="get", key="x", value=5, node="B")
    history.append(process=0, type="info", f="put", key="x", value=5, node="A", error="timeout")
    history.append(process=2, type="invoke", f="put", key="y", value=1, node="C")
    put, get, pending = history.operations()
    assert (put.f, put.value, put.type, put.end, put.error) == ("put", 5, "info", None, "timeout")
    assert (get.f, get.output, get.type) == ("get", 5, "ok")
    assert get.end is not None and get.start < get.end
    assert (pending.type, pending.end, pending.error) == ("info", None, "never completed")
    assert [e.f for e in history.faults()] == ["partition"]
    assert "get 'x' -> 5" in get.describe()


def test_a_process_with_two_open_invokes_is_rejected() -> None:
    history = History()
    history.append(process=0, type="invoke", f="get", key="x")
    history.append(process=0, type="invoke", f="get", key="y")
    with pytest.raises(HistoryError, match="process 0 invokes 'get' while"):
        history.operations()


def test_completion_without_invoke_is_rejected() -> None:
    history = History.from_events([{"process": 3, "type": "ok", "f": "get"}])
    with pytest.raises(HistoryError, match="without an invoke"):
        history.operations()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    history = History()
    history.append(process=0, type="invoke", f="cas", key="x", value=[1, 2], node="A")
    history.append(process=0, type="fail", f="cas", key="x", value=[1, 2], node="A",
                   error="connection refused")
    path = history.save(tmp_path / "deep" / "history.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"index", "time", "process", "node", "type", "f", "key", "value"}
    loaded = History.load(path)
    assert [e.to_dict() for e in loaded] == [e.to_dict() for e in history]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "history.jsonl:2: not JSON"),
        ('{"process": 0, "type": "invoke"}', "history.jsonl:2: missing field(s) f"),
        ('{"process": 0, "type": "begin", "f": "get"}', "type 'begin' is not one of"),
        ('{"process": 1.5, "type": "ok", "f": "get"}', "process 1.5 must be an int"),
        ("[1, 2]", "expected a JSON object"),
        ('{"process": 0, "type": "ok", "f": "get", "time": "soon"}', "time 'soon' must be"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "get"}\n' + line + "\n")
    with pytest.raises(HistoryError) as raised:
        History.load(path)
    assert message in str(raised.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="cannot read history"):
        History.load(tmp_path / "nope.jsonl")


def test_unknown_fields_from_other_tools_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "get", "extra": 1}\n'
                    '{"process": 0, "type": "ok", "f": "get", "value": 3}\n')
    (op,) = History.load(path).operations()
    assert op.output == 3
