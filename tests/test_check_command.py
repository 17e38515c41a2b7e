"""``python -m pytest_partition check HISTORY``: exit codes, output, and the timeline it writes.

Each test runs the command as a user would, in a subprocess (the conftest
puts this checkout first on PYTHONPATH).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pytest_partition

MS = 1_000_000


def check(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_partition", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def save(path: Path, *rows: tuple[float, Any, str, str, dict[str, Any]]) -> Path:
    """JSON Lines from (time in ms, process, type, f, other fields) rows."""
    lines = [json.dumps({"time": int(at * MS), "process": process, "type": kind, "f": f,
                         **fields})
             for at, process, kind, f, fields in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def stale_read(path: Path) -> Path:
    """n1 acknowledges x=1 at 2 ms; n3, cut off, still reads the initial nothing at 4 ms."""
    return save(
        path,
        (0, 0, "invoke", "put", {"key": "x", "value": 1, "node": "n1"}),
        (1, "nemesis", "info", "partition", {"value": {"spec": "isolate:n3",
                                                       "resolved": "n3|n1,n2"}}),
        (2, 0, "ok", "put", {"key": "x", "value": True, "node": "n1"}),
        (3, 1, "invoke", "get", {"key": "x", "node": "n3"}),
        (4, 1, "ok", "get", {"key": "x", "value": None, "node": "n3"}),
        (5, 2, "invoke", "get", {"key": "x", "node": "n2"}),
        (6, 2, "ok", "get", {"key": "x", "value": 1, "node": "n2"}),
        (7, "nemesis", "info", "heal", {}),
    )


def linearizable_history(path: Path) -> Path:
    return save(
        path,
        (0, 0, "invoke", "put", {"key": "x", "value": 1, "node": "n1"}),
        (1, 0, "ok", "put", {"key": "x", "value": True, "node": "n1"}),
        (2, 1, "invoke", "get", {"key": "x", "node": "n2"}),
        (3, 1, "ok", "get", {"key": "x", "value": 1, "node": "n2"}),
        (4, 1, "invoke", "cas", {"key": "x", "value": [1, 2], "node": "n2"}),
        (5, 1, "ok", "cas", {"key": "x", "value": True, "node": "n2"}),
    )


def embedded(page: Path) -> dict[str, Any]:
    text = page.read_text(encoding="utf-8")
    start = text.index('<script type="application/json" id="timeline-data">')
    blob = text[text.index(">", start) + 1:text.index("</script>", start)]
    data: dict[str, Any] = json.loads(blob)
    return data


def test_a_linearizable_history_exits_0(tmp_path: Path) -> None:
    run = check(linearizable_history(tmp_path / "h.jsonl"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == ("history: " + str(tmp_path / "h.jsonl") + ": 3 operation(s) (3 ok, "
                        "0 fail, 0 info) by 2 process(es) on n1, n2; 0 fault event(s)")
    assert lines[1] == ("model: register, inferred (the operations are cas, get, put: reads, "
                        "writes and cas); --model chooses another")
    assert lines[2].startswith("linearizable: all 3 operations")
    assert run.stderr == ""


def test_a_stale_read_exits_1_and_the_timeline_marks_it(tmp_path: Path) -> None:
    history = stale_read(tmp_path / "history.jsonl")
    run = check(history, "--model", "kv", "--timeline", tmp_path / "out" / "t.html",
                cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    out = run.stdout
    assert "by 3 process(es) on n1, n2, n3; 2 fault event(s) (1 partition, 1 heal)" in out
    assert "model: kv (given)" in out
    assert "not linearizable: " in out
    assert "cannot be placed: process 1 on n3: get 'x' -> None" in out
    assert f"timeline: {tmp_path / 'out' / 't.html'} (opens on the blamed operation)" in out
    page = tmp_path / "out" / "t.html"
    data = embedded(page)
    assert data["blamed"] == [3]  # the invoke of the stale read
    assert data["focus"]["op"] == 3
    text = page.read_text(encoding="utf-8")
    assert "<h1>history.jsonl</h1>" in text
    assert '<p class="verdict">not linearizable: ' in text
    assert "Blamed by the checker (1)" in text


def test_an_edn_history_and_an_artifacts_folder_are_read(tmp_path: Path) -> None:
    edn = tmp_path / "knossos.edn"
    edn.write_text(
        "{:type :invoke, :f :write, :process 0, :value 1}\n"
        "{:type :ok, :f :write, :process 0, :value 1}\n"
        "{:type :invoke, :f :read, :process 1, :value nil}\n"
        "{:type :ok, :f :read, :process 1, :value 2}\n", encoding="utf-8")
    run = check(edn, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "not linearizable: read returned 2" in run.stdout
    folder = tmp_path / "artifacts" / "tests_test_x.py_test_y-0229d484"
    linearizable_history(folder / "cluster" / "history.jsonl")
    run = check(folder, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"history: {folder / 'cluster' / 'history.jsonl'}:" in run.stdout


def test_the_model_is_inferred_from_the_operations(tmp_path: Path) -> None:
    counter = save(
        tmp_path / "counter.jsonl",
        (0, 0, "invoke", "incr", {"key": "c", "value": 2}),
        (1, 0, "ok", "incr", {"key": "c", "value": 2}),
        (2, 1, "invoke", "read", {"key": "c"}),
        (3, 1, "ok", "read", {"key": "c", "value": 2}),
    )
    run = check(counter, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "model: counter, inferred (the operations are incr, read: only increments and " \
           "reads)" in run.stdout
    kv = save(
        tmp_path / "kv.jsonl",
        (0, 0, "invoke", "put", {"key": "c", "value": 2}),
        (1, 0, "ok", "put", {"key": "c"}),
        (2, 1, "invoke", "delete", {"key": "c"}),
        (3, 1, "ok", "delete", {"key": "c", "value": True}),
        (4, 1, "invoke", "get", {"key": "c"}),
        (5, 1, "ok", "get", {"key": "c", "value": None}),
    )
    run = check(kv, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "model: kv, inferred (the operations are delete, get, put: delete among writes)" \
        in run.stdout


@pytest.mark.parametrize(("setup", "args", "says"), [
    ("none", ["missing.jsonl"], "missing.jsonl: cannot read history (No such file or directory)"),
    ("bad-json", ["bad.jsonl"], "bad.jsonl:2: not JSON ("),
    ("stale", ["h.jsonl", "--model", "queue"],
     "argument --model: invalid choice: 'queue' (choose from 'register', 'kv', 'counter')"),
    ("unpaired", ["u.jsonl"], "u.jsonl:1: process 1 completes 'get' (ok) without an invoke"),
    ("faults-only", ["f.jsonl"], "f.jsonl: no client operation to check"),
    ("counter", ["c.jsonl", "--model", "register"],
     "c.jsonl:1: the register model does not know f='incr'"),
    ("none", ["."], "is a folder without a history (looked for"),
    ("stale", ["h.jsonl", "--time-limit", "soon"],
     "argument --time-limit: 'soon' is not a time limit; accepted: a number of seconds >= 0"),
    ("stale", ["h.jsonl", "--timeline", "h.jsonl/t.html"], "cannot write the timeline to"),
    ("none", [], "the following arguments are required: COMMAND"),
    ("none", ["chek", "h.jsonl"], "invalid choice: 'chek' (choose from 'check')"),
])
def test_bad_input_exits_2_with_one_line_naming_it(tmp_path: Path, setup: str,
                                                    args: list[str], says: str) -> None:
    if setup == "bad-json":
        (tmp_path / "bad.jsonl").write_text('{"process": 1, "type": "invoke", "f": "get"}\n'
                                            '{"process": 1, "type": "ok", \n', encoding="utf-8")
    elif setup == "stale":
        stale_read(tmp_path / "h.jsonl")
    elif setup == "unpaired":
        save(tmp_path / "u.jsonl", (0, 1, "ok", "get", {"key": "x"}))
    elif setup == "faults-only":
        save(tmp_path / "f.jsonl", (0, "nemesis", "info", "partition", {"value": {"spec": "A|B"}}))
    elif setup == "counter":
        save(tmp_path / "c.jsonl", (0, 0, "invoke", "incr", {"key": "c", "value": 1}),
             (1, 0, "ok", "incr", {"key": "c", "value": 1}))
    command = args if args[:1] == ["chek"] or not args else ["check", *args]
    run = subprocess.run([sys.executable, "-m", "pytest_partition", *command],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert run.returncode == 2, (run.stdout, run.stderr)
    errors = run.stderr.splitlines()
    assert len(errors) == 1 and says in errors[0], run.stderr
    assert errors[0].startswith("python -m pytest_partition")
    assert "Traceback" not in run.stdout + run.stderr


def test_a_search_cut_short_exits_3_unknown(tmp_path: Path) -> None:
    rows: list[tuple[float, Any, str, str, dict[str, Any]]] = []
    for n in range(10_000):  # one process, one key: several slices of search
        rows += [(2 * n, 0, "invoke", "put", {"key": "x", "value": n}),
                 (2 * n + 1, 0, "ok", "put", {"key": "x"})]
    history = save(tmp_path / "long.jsonl", *rows)
    run = check(history, "--time-limit", "1e-9", cwd=tmp_path)
    assert run.returncode == 3, (run.stdout, run.stderr)
    assert "linearizability unknown: time limit of 1e-09 s reached" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("exit 3: unknown")


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    history = stale_read(tmp_path / "h.jsonl")
    with subprocess.Popen([sys.executable, "-m", "pytest_partition", "check", str(history)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=tmp_path) as command:
        assert command.stdout is not None and command.stderr is not None
        # Gone before the command has even started, as `... | head -0` would be.
        command.stdout.close()
        errors = command.stderr.read()
        status = command.wait(timeout=60)
    assert status == 1 and "Traceback" not in errors, errors  # still the verdict's status


def test_the_command_imports_no_pytest_and_no_harness() -> None:
    source = Path(pytest_partition.__file__).parent / "__main__.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    # Which of the package's layers it may import, tests/test_layers.py says.
    assert "pytest" not in imported
