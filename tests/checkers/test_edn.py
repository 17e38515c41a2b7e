"""The EDN reader on Jepsen-style history lines, and History.load on both formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

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
    path = tmp_path / "history.edn"
    path.write_text(JEPSEN, encoding="utf-8")
    history = History.load(path)
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
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    result = linearizable(History.load(path), "kv")
    assert result.valid is False
    assert "no operation ever wrote 2" in result.explanation


def test_a_bad_line_names_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "broken.edn"
    lines = JEPSEN.splitlines()
    lines[4] = "{:type :invoke, :f :read, :value nil, :process 2, :time 3500000, :index 4"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(HistoryError) as caught:
        History.load(path)
    assert f"{path}:5: not a Jepsen EDN map: missing '}}'" in str(caught.value)
