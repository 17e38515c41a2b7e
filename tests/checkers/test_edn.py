"""The EDN reader on Jepsen-style history lines, and History.load on both formats."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from tests_support import write

from pytest_partition.checkers import linearizable
from pytest_partition.edn import parse, parse_map
from pytest_partition.history import History, HistoryError


def test_a_jepsen_invoke_line() -> None:
    line = "{:type :invoke, :f :read, :process 0, :value nil, :time 1234, :index 0}"
    assert parse_map(line) == {"type": "invoke", "f": "read", "process": 0, "value": None,
                               "time": 1234, "index": 0}


def test_nested_values_numbers_sets_and_strings() -> None:
    line = (r'{:type :ok, :f :txn, :process :nemesis, :key :x, :value [[:append 1 [2 -3]] '
            r'(4 5.5) #{7} {:a -1.5e3, "s" "tab\there \"q\" \\ \u00e9"}], '
            r':big 12345678901234567890N, :ratio 1/4, :dec 2.5M, :ok? true, :no false}')
    data = parse_map(line)
    assert data["process"] == "nemesis" and data["key"] == "x"
    assert data["value"] == [["append", 1, [2, -3]], [4, 5.5], [7],
                             {"a": -1500.0, "s": 'tab\there "q" \\ \u00e9'}]
    assert data["big"] == 12345678901234567890
    assert data["ratio"] == 0.25 and data["dec"] == 2.5
    assert data["ok?"] is True and data["no"] is False


def test_real_jepsen_extras() -> None:
    line = ('{:type :info, :f :write, :value 3, :process 4, :time 5, :error :timed-out, '
            ':exception {:via [{:type java.net.SocketTimeoutException, :message "Read timed '
            'out"}]}, :at #inst "2024-01-02T03:04:05.000-00:00", :id #uuid '
            '"0b0e5b2e-0000-4000-8000-000000000000", :skip #_ :gone 1 ; trailing comment\n}')
    data = parse_map(line)
    assert data["error"] == "timed-out"
    assert data["exception"]["via"][0]["type"] == "java.net.SocketTimeoutException"
    assert data["at"] == "2024-01-02T03:04:05.000-00:00"
    assert data["skip"] == 1
    assert parse(r"[\a \newline \u0041 ##Inf]")[:3] == ["a", "\n", "A"]
    assert math.isinf(parse("##-Inf")) and math.isnan(parse("##NaN"))
    assert parse("#jepsen.history.Op{:index 3}") == {"index": 3}
    assert parse("{[1 2] :tuple-key}") == {(1, 2): "tuple-key"}


@pytest.mark.parametrize(("text", "message"), [
    ("{:type :invoke", "missing '}' for the bracket opened at column 1"),
    ('{:f "unterminated}', "unterminated string starting at column 5"),
    ("{:a 1 :b}", "a map needs key/value pairs but this one has 3 items at column 9"),
    ("{:a 1} extra", "unexpected 'extra' at column 8"),
    ("[:a]", "expected a map {...}, got a vector/list"),
    ("{:a @x}", "unexpected '@x' at column 5"),
    ('{:a "bad \\q"}', "unknown escape \\q in a string at column 10"),
    ("{:a 1x2}", "bad number '1x2' at column 5"),
    ("{:a #}", "'#' must start a set #{...}, a tag like #inst or #_ at column 5"),
    ("{: 1}", "a keyword needs a name after ':' at column 2"),
    ("", "empty input"),
    ("{:a ]}", "unexpected ']' with no matching opening bracket at column 5"),
])
def test_bad_input_names_the_column(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_map(text)
    assert message in str(caught.value)


JEPSEN = """\
{:type :invoke, :f :write, :value 1, :process 0, :time 1000000, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 2000000, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 2500000, :index 2}
{:type :invoke, :f :cas, :value [1 2], :process 1, :time 3000000, :index 3}
{:type :invoke, :f :read, :value nil, :process 2, :time 3500000, :index 4}
{:type :ok, :f :cas, :value [1 2], :process 1, :time 4000000, :index 5}
{:type :ok, :f :read, :value 1, :process 2, :time 5000000, :index 6}
{:type :invoke, :f :write, :value 3, :process 0, :time 6000000, :index 7}
{:type :info, :f :write, :value 3, :process 0, :time 7000000, :error :timed-out, :index 8}
{:type :invoke, :f :read, :value nil, :process 5, :time 8000000, :index 9}
{:type :ok, :f :read, :value 3, :process 5, :time 9000000, :index 10}
"""


def test_history_load_reads_a_jepsen_file(tmp_path: Path) -> None:
    history = History.load(write(tmp_path, "history.edn", JEPSEN))
    assert len(history) == 11 and history.faults()[0].f == "start"
    ops = history.operations()
    assert [(o.f, o.type, o.value, o.output) for o in ops] == [
        ("write", "ok", 1, 1), ("cas", "ok", [1, 2], [1, 2]), ("read", "ok", None, 1),
        ("write", "info", 3, None), ("read", "ok", None, 3)]
    assert ops[3].error == "timed-out"
    assert linearizable(history, "register").valid is True


def test_history_load_reads_our_json_lines(tmp_path: Path) -> None:
    events = [
        {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "put", "key": "k",
         "value": 1, "node": "n1"},
        {"index": 1, "time": 10, "process": 0, "type": "ok", "f": "put", "key": "k",
         "value": True, "node": "n1"},
        {"index": 2, "time": 20, "process": "nemesis", "type": "info", "f": "partition",
         "value": {"spec": "n1|n2", "kind": "drop", "cut": [], "groups": [["n1"], ["n2"]]}},
        {"index": 3, "time": 30, "process": 1, "type": "invoke", "f": "get", "key": "k",
         "node": "n2"},
        {"index": 4, "time": 40, "process": 1, "type": "ok", "f": "get", "key": "k",
         "value": 2, "node": "n2"},
    ]
    path = write(tmp_path, "history.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    result = linearizable(History.load(path), "kv")
    assert result.valid is False
    assert "no operation ever wrote 2" in result.explanation


def test_a_bad_line_names_its_line_number(tmp_path: Path) -> None:
    lines = JEPSEN.splitlines()
    lines[4] = "{:type :invoke, :f :read, :value nil, :process 2, :time 3500000, :index 4"
    path = write(tmp_path, "broken.edn", "\n".join(lines) + "\n")
    with pytest.raises(HistoryError) as caught:
        History.load(path)
    assert f"{path}:5: not a Jepsen EDN map: missing '}}'" in str(caught.value)


# -- whole files: Knossos vectors, maps over several lines -----------------

KNOSSOS_VECTOR = """\
; a Knossos test history: one vector of maps
[{:process 0, :type :invoke, :f :write, :value 0}
 {:process 0, :type :ok, :f :write, :value 0}
 ; read 3 while 4 is being written: nobody wrote 3
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 2, :type :invoke, :f :write, :value 4}
 {:process 1, :type :ok, :f :read, :value 3}
 {:process 2, :type :ok, :f :write, :value 4}]
"""


@pytest.mark.parametrize("text", [
    KNOSSOS_VECTOR,
    KNOSSOS_VECTOR.replace("[{", "({").replace("4}]", "4}\n)"),
], ids=["vector", "list"])
def test_a_knossos_file_of_one_vector_or_list_loads(tmp_path: Path, text: str) -> None:
    history = History.load(write(tmp_path, "knossos.edn", text))
    assert [(e.process, e.type, e.value) for e in history][-2:] == [(1, "ok", 3), (2, "ok", 4)]
    assert [history.source(i).rsplit(":", 1)[1] for i in range(len(history))] == \
        ["2", "3", "5", "6", "7", "8"]
    result = linearizable(history, "register")
    assert result.valid is False and "no operation ever wrote 3" in result.explanation


def test_maps_may_span_several_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "pretty.edn", "{:type :invoke\n :f :read, :value nil, :process 0}\n"
                 "{:type :ok,\n :f :read,\n :value nil,\n :process 0}"
                 "  {:type :invoke, :f :read, :process 1}\n")
    history = History.load(path)
    assert [(e.type, e.process) for e in history] == [("invoke", 0), ("ok", 0), ("invoke", 1)]
    assert [history.source(i) for i in range(3)] == [f"{path}:{n}" for n in (1, 3, 6)]


@pytest.mark.parametrize(("text", "message"), [
    # An event inside the vector is named by its own line.
    pytest.param("[{:type :invoke, :f :read, :process 0}\n\n {:type :crash, :f :r, :process 0}]\n",
                 "{path}:3: type 'crash' is not one of", id="bad-event-in-vector"),
    pytest.param("[{:type :invoke, :f :read, :process 0}\n [:not :a :map]]\n",
                 "{path}:2: not a Jepsen EDN map: expected a map {{...}}, got a vector/list",
                 id="vector-in-vector"),
    # A vector holds the whole history: nothing may follow it.
    pytest.param("[{:type :invoke, :f :read, :process 0}]\n{:type :ok, :f :read, :process 0}\n",
                 "{path}:2: not a Jepsen EDN map: unexpected '{{:type :ok, ' at line 2, column 1 "
                 "after the vector/list that holds the history", id="map-after-vector"),
    # A map left open is named by the line where it starts; the reader says where.
    pytest.param("{:type :invoke, :f :read, :process 0}\n\n{:type :ok,\n :f :read, :value\n",
                 "{path}:3: not a Jepsen EDN map: missing '}}' for the bracket opened at "
                 "line 3, column 1", id="truncated"),
    pytest.param("{:type :invoke, :f :read,\n :process 0, :value [1 2}\n",
                 "{path}:1: not a Jepsen EDN map: unexpected '}}' with no matching opening "
                 "bracket at line 2, column 25", id="wrong-closer"),
    # A log line is not a history.
    pytest.param("{:type :invoke, :f :read, :process 0}\nINFO  jepsen.util - 4\t:invoke\tnil\n",
                 "{path}:2: not a Jepsen EDN map: expected a map {{...}}, got symbol 'INFO'",
                 id="log-line"),
])
def test_errors_in_whole_file_edn_name_the_line_where_the_form_starts(
        tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "history.edn", text)
    with pytest.raises(HistoryError) as caught:
        History.load(path)
    assert message.format(path=path) in str(caught.value)


# -- sets ------------------------------------------------------------------

def test_equal_sets_read_equal_whatever_their_print_order() -> None:
    assert parse("#{1 2}") == parse("#{2 1}") == [1, 2]
    mixed = parse('#{"b" 2 :a nil 1.5 [1 "x"] true {:k #{3 1}} "a" -7 false}')
    assert mixed == [None, False, True, -7, 1.5, 2, "a", "a", "b", [1, "x"], {"k": [1, 3]}]
    assert parse('#{{:k #{1 3}} [1 "x"] false -7 "a" true 1.5 nil :a 2 "b"}') == mixed
    assert parse("#{#{2 1} #{0}}") == [[0], [1, 2]]
    assert parse("{#{2 1} :x}") == parse("{#{1 2} :x}") == {(1, 2): "x"}


def test_a_set_written_in_one_order_and_read_in_another_is_the_same_value(
        tmp_path: Path) -> None:
    path = write(tmp_path, "sets.edn",
                 "{:type :invoke, :f :write, :value #{1 2}, :process 0, :time 5}\n"
                 "{:type :ok, :f :write, :value #{1 2}, :process 0, :time 6}\n"
                 "{:type :invoke, :f :read, :value nil, :process 1, :time 7}\n"
                 "{:type :ok, :f :read, :value #{2 1}, :process 1, :time 8}\n")
    assert linearizable(History.load(path), "register").valid is True


# -- depth, and events without :time -----------------------------------------

@pytest.mark.parametrize("text", [
    "[" * 50_000 + "]" * 50_000,
    "{:a " * 50_000 + "1" + "}" * 50_000,
    "#tag " * 50_000 + "1",
    "[" + "#_ " * 50_000 + "1 2]",
], ids=["vectors", "maps", "tags", "discards"])
def test_deep_nesting_is_a_value_error_not_a_crash(text: str) -> None:
    with pytest.raises(ValueError, match="nested more than 100 deep"):
        parse(text)


def test_values_nested_below_the_limit_read_whole() -> None:
    # Real values stay far below the limit.
    expected: list[Any] = []
    for _ in range(89):
        expected = [expected]
    assert parse("[" * 90 + "]" * 90) == expected


def test_an_edn_file_whose_events_lack_time_is_checked_in_file_order(tmp_path: Path) -> None:
    # The carry-forward rule itself is tested in test_history.py; here an EDN
    # file gets it: the read starts after the write ended, so it must see 1, not nil.
    path = write(tmp_path, "mixed-time.edn",
                 "{:type :invoke, :f :write, :value 1, :process 0, :time 100}\n"
                 "{:type :ok, :f :write, :value 1, :process 0, :time 200}\n"
                 "{:type :invoke, :f :read, :value nil, :process 1}\n"
                 "{:type :ok, :f :read, :value nil, :process 1}\n")
    assert linearizable(History.load(path), "register").valid is False
