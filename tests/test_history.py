"""History: recording, pairing into operations, JSON Lines files and their errors."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from tests_support import write

from pytest_partition import History, HistoryError
from pytest_partition.checkers import cap_verdict, linearizable

CHECKERS_DOC = Path(__file__).resolve().parent.parent / "docs" / "checkers.md"


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
    with pytest.raises(HistoryError, match="^event 1: process 0 invokes 'get' while"):
        history.operations()


def test_completion_without_invoke_is_rejected() -> None:
    history = History.from_events([{"process": 3, "type": "ok", "f": "get"}])
    with pytest.raises(HistoryError, match="^event 0: process 3 completes 'get' .*without an"):
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


# -- loading real files: lines, encodings, depth, missing times, pairing ----


@pytest.mark.parametrize(("name", "text", "line", "message"), [
    pytest.param(
        "history.edn",
        "; header comment\n\n; another\n"
        "{:type :invoke, :f :read, :value nil, :process 0, :time 1}\n"
        "{:type :ok, :f :read, :value nil, :process 0, :time 2}\n"
        "{:type :crash, :f :read, :value nil, :process 1, :time 3}\n",
        6, "type 'crash' is not one of", id="edn-bad-type"),
    pytest.param(
        "history.jsonl",
        '{"process": 0, "type": "invoke", "f": "put", "value": 1}\n\n\n'
        '{"process": 0, "type": "ok", "value": 1}\n',
        4, "missing field(s) f", id="jsonl-missing-f"),
    pytest.param(
        "history.jsonl",
        '; a comment\n{"process": 0, "type": "invoke", "f": "put"}\n\n{"process": 0, "type"\n',
        4, "not JSON", id="jsonl-syntax"),
])
def test_load_errors_count_blank_and_comment_lines(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(HistoryError) as raised:
        History.load(path)
    assert f"{path}:{line}: {message}" in str(raised.value)


@pytest.mark.parametrize(("name", "text"), [
    pytest.param("bom.edn",
                 "{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n"
                 "{:type :ok, :f :write, :value 1, :process 0, :time 2}\n", id="edn"),
    pytest.param("bom.jsonl",
                 '{"process": 0, "type": "invoke", "f": "put", "value": 1}\n'
                 '{"process": 0, "type": "ok", "f": "put", "value": 1}\n', id="jsonl"),
])
def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, b"\xef\xbb\xbf" + text.encode())
    (op,) = History.load(path).operations()
    assert (op.type, op.value) == ("ok", 1)


@pytest.mark.parametrize(("data", "line"), [
    pytest.param(b"\xff\xfe\x00{:type :invoke}\n", 1, id="first-line"),
    pytest.param(b'{"process": 0, "type": "invoke", "f": "put"}\n\n{"process": 0, "f": "\xe9"}\n',
                 3, id="later-line"),
])
def test_bytes_that_are_not_utf8_name_the_file_and_line(
    tmp_path: Path, data: bytes, line: int
) -> None:
    path = write(tmp_path, "history.edn", data)
    with pytest.raises(HistoryError) as raised:
        History.load(path)
    assert str(raised.value).startswith(f"{path}:{line}: not UTF-8 text")
    assert "JSON Lines or Jepsen EDN" in str(raised.value)  # says what is accepted


@pytest.mark.parametrize(("name", "head"), [
    pytest.param("deep.edn", "\n{:type :invoke, :f :write, :process 0, :value ", id="edn"),
    pytest.param("deep.jsonl", '\n{"type": "invoke", "f": "write", "process": 0, "value": ',
                 id="jsonl"),
])
def test_absurdly_deep_nesting_is_a_history_error(tmp_path: Path, name: str, head: str) -> None:
    path = write(tmp_path, name, head + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(HistoryError) as raised:
        History.load(path)
    assert str(raised.value).startswith(f"{path}:2: ")
    assert "nested" in str(raised.value)


def test_an_event_without_time_takes_the_time_of_the_event_before_it(tmp_path: Path) -> None:
    rows = [{"process": 0, "type": "invoke", "f": "write", "value": 1},
            {"process": 0, "type": "ok", "f": "write", "value": 1, "time": 200},
            {"process": 1, "type": "invoke", "f": "read"},
            {"process": 1, "type": "ok", "f": "read", "time": 300},
            {"process": 1, "type": "invoke", "f": "read"}]
    built = History.from_events(rows)
    assert [e.time for e in built] == [0, 200, 200, 300, 300]
    path = write(tmp_path, "h.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    assert [e.time for e in History.load(path)] == [0, 200, 200, 300, 300]


@pytest.mark.parametrize(("text", "message"), [
    pytest.param(
        "; c\n\n{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n; c\n"
        "{:type :ok, :f :write, :value 1, :process 1, :time 2}\n",
        "{path}:5: process 1 completes 'write' (ok) without an invoke before it",
        id="ok-without-invoke"),
    pytest.param(
        "{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n"
        "{:type :invoke, :f :write, :value 2, :process 0, :time 2}\n",
        "{path}:2: process 0 invokes 'write' while its 'write' from {path}:1 has not",
        id="double-invoke"),
    pytest.param(
        "{:type :invoke, :f :write, :value 1, :process 0, :time 1, :index 10}\n"
        "{:type :ok, :f :write, :value 1, :process 0, :time 2, :index 11}\n"
        "{:type :info, :f :write, :value 1, :process 0, :time 3, :index 12}\n",
        "{path}:3: process 0 completes 'write' (info) without an invoke",
        id="extra-completion"),
    pytest.param(
        "{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n"
        "{:type :ok, :f :read, :value 1, :process 0, :time 2}\n",
        "{path}:2: completion f 'read' does not match the invoke at {path}:1 (f 'write')",
        id="f-mismatch"),
])
def test_pairing_errors_of_a_loaded_history_name_the_file_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "history.edn", text)
    history = History.load(path)  # lenient: every event is kept
    assert len(history) == text.count("{")
    expected = message.format(path=path)
    with pytest.raises(HistoryError) as raised:
        history.operations()
    assert expected in str(raised.value)
    with pytest.raises(HistoryError) as raised:
        history.snapshot().operations()
    assert expected in str(raised.value)
    # A checker turns the error into an "unknown" verdict; the line must reach it.
    result = linearizable(history, "register")
    assert result.valid == "unknown" and expected in result.explain()


def test_events_appended_after_loading_are_named_by_index(tmp_path: Path) -> None:
    path = write(tmp_path, "h.edn", "{:type :invoke, :f :read, :process 0}\n")
    history = History.load(path)
    assert history.source(0) == f"{path}:1"
    history.append(process=0, type="invoke", f="read")
    assert history.source(1) == "event 1"
    with pytest.raises(HistoryError, match=r"^event 1: process 0 invokes 'read' while its "
                                           r"'read' from .*h\.edn:1 has not"):
        history.operations()


def test_the_pairing_message_shown_in_the_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "history.edn", "; c\n\n{:type :invoke, :f :write, :value 1, :process 0}\n"
                                   "; c\n{:type :ok, :f :write, :value 1, :process 1}\n")
    result = linearizable(History.load("history.edn"), "register")
    # The ```text block that follows the docs' sentence about pairing errors.
    block = re.search(r"then names them by file and line:\s*```text\n(.*?)\n```",
                      CHECKERS_DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None, "docs/checkers.md no longer shows the pairing message"
    shown = block.group(1)
    assert result.valid == "unknown" and shown in result.explain()
    assert shown in cap_verdict(History.load("history.edn")).sentence


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        pytest.param("h.jsonl", '{"process": 0, "type": "invoke", "f": "put", "key": "k", '
                     '"value": NaN}', "field 'value'", id="json"),
        pytest.param("h.jsonl", '{"process": 0, "type": "invoke", "f": "put", "key": "k", '
                     '"value": [1, {"p": NaN}]}', "field 'value'[1]['p']", id="json-nested"),
        pytest.param("h.edn", "{:process 0, :type :invoke, :f :put, :key :k, :value ##NaN}",
                     "field 'value'", id="edn"),
        pytest.param("h.edn", "[{:process 0, :type :invoke, :f :put, :key :k, :value 1}\n"
                     " {:process 0, :type :ok, :f :put, :key ##NaN, :value 1}]",
                     "field 'key'", id="edn-vector"),
    ],
)
def test_a_nan_is_refused_naming_the_file_line_and_field(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    # NaN equals nothing, not even itself: a checker would call a correct
    # store wrong. The line is the NaN's own event, after a good one.
    path = tmp_path / name
    good = ('{"process": 9, "type": "invoke", "f": "get"}' if name.endswith(".jsonl")
            else "{:process 9, :type :invoke, :f :get}")
    path.write_text(good + "\n" + text + "\n" if not text.startswith("[") else text + "\n")
    line = 2
    with pytest.raises(HistoryError) as raised:
        History.load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:{line}: NaN in {where}; NaN is not a value"), message


def test_infinities_are_values(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 0, "type": "invoke", "f": "put", "value": Infinity}\n'
                    '{"process": 0, "type": "ok", "f": "put", "value": -Infinity}\n')
    assert [e.value for e in History.load(path)] == [float("inf"), float("-inf")]
