"""The HTML timeline: standalone and balanced, complete, escaped, and fast at 10k operations.

No browser runs here; when node is installed, the page's script runs under a
small fake DOM that records canvas calls, so a script error still fails a test.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_partition.history import NEMESIS, History
from pytest_partition.report import render_timeline, write_timeline
from pytest_partition.report.timeline import main

VOID = {"meta", "input", "br", "img", "link", "hr", "source", "wbr", "col", "area", "base"}
EVIL = "</script><script>alert(1)</script>"
QUOTES = "\"'<&>"
MS = 1_000_000


class Page(HTMLParser):
    """Parses a page, checking that every element is closed, in order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self._data: list[str] = []
        self._opening: dict[str, str | None] = {}
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"never closed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag not in VOID:
            self.stack.append(tag)
        self._opening, self._data = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "script":
            self.scripts.append((self._opening, "".join(self._data)))

    def handle_data(self, data: str) -> None:
        self._data.append(data)
        self.text.append(data)

    def data(self) -> dict[str, Any]:
        blobs = [body for attrs, body in self.scripts if attrs.get("type") == "application/json"]
        assert len(blobs) == 1
        parsed: dict[str, Any] = json.loads(blobs[0])
        return parsed


def history_of(*rows: tuple[float, Any, str, str, dict[str, Any]]) -> History:
    """Events from (time in ms, process, type, f, other fields) rows."""
    return History.from_events(
        {"time": int(at * MS), "process": process, "type": kind, "f": f, **fields}
        for at, process, kind, f, fields in rows
    )


def small_history() -> History:
    return history_of(
        (0, 1, "invoke", "write", {"key": "x", "value": 1, "node": "n1"}),
        (1, NEMESIS, "info", "partition", {"value": {
            "spec": "n1|n2,n3", "resolved": "n1|n2,n3", "kind": "drop",
            "cut": [["n1", "n2"], ["n2", "n1"]], "groups": [["n1"], ["n2", "n3"]]}}),
        (2, 1, "ok", "write", {"key": "x", "node": "n1"}),
        (3, 2, "invoke", "read", {"key": "x", "node": "n2"}),
        (4, 2, "ok", "read", {"key": "x", "value": 1, "node": "n2"}),
        (5, 3, "invoke", "write", {"key": "x", "value": 2, "node": "n3"}),
        (6, NEMESIS, "info", "heal", {}),
        (7, 3, "info", "write", {"key": "x", "node": "n3", "error": "timed out"}),
        (8, NEMESIS, "info", "kill", {"node": "n2"}),
        (9, 4, "invoke", "read", {"key": "x", "node": "n3"}),
        (10, 4, "fail", "read", {"key": "x", "node": "n3", "error": "unavailable"}),
        (11, NEMESIS, "info", "restart", {"node": "n2"}),
        (12, NEMESIS, "info", "pause", {"node": "n3"}),
        (13, NEMESIS, "info", "latency", {"value": {"ms": 20, "jitter_ms": 5, "links": [["n1", "n2"]]}}),
        (14, 5, "invoke", "cas", {"key": "y", "value": [1, 2], "node": "n1"}),
        (15, NEMESIS, "info", "resume", {"node": "n3"}),
        (16, NEMESIS, "info", "restart", {"node": "n1"}),
        (17, NEMESIS, "info", "partition", {"value": {"spec": "halves", "resolved": "n1|n2,n3"}}),
        (18, 6, "invoke", "read", {"key": "x", "node": "n1"}),
    )


def test_the_page_is_balanced_html_that_fetches_nothing() -> None:
    text = render_timeline(small_history(), title="t", verdict="v", seed=7, spec="n1|n2,n3")
    page = Page(text)
    assert page.problems == []
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert not [a for a in page.attributes if a[1] in ("src", "srcset")]
    assert not [a for a in page.attributes if a[1] == "href" and not (a[2] or "").startswith("#")]
    assert [tag for tag, _, _ in page.attributes].count("link") == 0
    assert len(page.scripts) == 2  # the data and the code, nothing else


def test_every_operation_is_embedded_once_with_its_outcome() -> None:
    history = small_history()
    data = Page(render_timeline(history)).data()
    operations = history.operations()
    assert sorted(op[4] for op in data["ops"]) == [op.invoke_index for op in operations]
    assert [op[3] for op in data["ops"]] == [{"ok": 0, "fail": 1, "info": 2}[op.type]
                                             for op in operations]
    by_index = {op[4]: op for op in data["ops"]}
    assert by_index[0][8:11] == ['"x"', "1", None]  # key, input, output as JSON text
    assert by_index[3][10] == "1"
    assert by_index[5][2] == 7000 and by_index[5][11] == "timed out"  # gave up at 7 ms, in µs
    assert by_index[18][2] is None  # never completed: drawn to the end of the history
    assert data["end"] == 18_000


def test_lanes_are_processes_grouped_by_node_in_natural_order() -> None:
    history = history_of(
        (0, 3, "invoke", "read", {"node": "n10"}), (1, 3, "ok", "read", {"node": "n10"}),
        (2, 1, "invoke", "read", {"node": "n2"}),
        (2.5, 4, "invoke", "read", {"node": "n2"}),  # while 1 and 2 come and go
        (3, 1, "ok", "read", {"node": "n2"}),
        (4, 2, "invoke", "read", {"node": "n2"}), (5, 2, "ok", "read", {"node": "n2"}),
        (5.5, 4, "ok", "read", {"node": "n2"}),
        (6, 0, "invoke", "read", {"node": "n1"}), (7, 0, "ok", "read", {"node": "n1"}),
        (8, 0, "invoke", "read", {"node": "n2"}), (9, 0, "ok", "read", {"node": "n2"}),
    )
    lanes = Page(render_timeline(history)).data()["lanes"]
    assert [lane["label"] for lane in lanes] == [
        "n2 \u00b7 processes 1, 2", "n2 \u00b7 process 4", "n10 \u00b7 process 3",
        "n1, n2 \u00b7 process 0"]  # not pinned to one node: last, with its nodes
    assert [lane["node"] for lane in lanes] == ["n2", "n2", "n10", None]


def test_a_client_that_goes_on_as_a_new_process_keeps_its_lane() -> None:
    """75 processes of 5 clients made 75 lanes of hatching; now a lane is a client."""
    history = history_of(
        (0, 0, "invoke", "write", {"node": "n1", "key": "x", "value": 1}),
        (1, 1, "invoke", "write", {"node": "n1", "key": "x", "value": 2}),
        (2, 0, "info", "write", {"node": "n1", "key": "x", "error": "timed out"}),
        (2.1, 2, "invoke", "read", {"node": "n1", "key": "x"}),  # client 0 goes on as 2
        (3, 2, "ok", "read", {"node": "n1", "key": "x", "value": 1}),
        (4, 1, "ok", "write", {"node": "n1", "key": "x"}),
        (5, 3, "invoke", "read", {"node": "n1", "key": "x"}),  # never completes
        (6, 4, "invoke", "read", {"node": "n1", "key": "x"}),
        (7, 4, "ok", "read", {"node": "n1", "key": "x", "value": 2}),
    )
    data = Page(render_timeline(history)).data()
    # 2 takes 0's lane when 0 gave up; 3 never completes, so 4 takes the lane 1 left.
    assert [lane["processes"] for lane in data["lanes"]] == [["0", "2", "3"], ["1", "4"]]
    lane_of = {op[4]: op[0] for op in data["ops"]}
    assert (lane_of[0], lane_of[3], lane_of[6], lane_of[1], lane_of[7]) == (0, 0, 0, 1, 1)
    assert "<dt>processes</dt><dd>5</dd>" in render_timeline(history)  # processes, not lanes


def test_faults_become_windows_with_their_spec_and_marks() -> None:
    text = render_timeline(small_history())
    data = Page(text).data()
    windows = {(w["kind"], w["node"]): w for w in data["windows"]}
    first, last = (w for w in data["windows"] if w["kind"] == "partition")
    assert (first["label"], first["start"], first["end"]) == ("n1|n2,n3", 1000, 6000)
    assert "groups n1 | n2,n3" in first["detail"] and "n1->n2" in first["detail"]
    assert last["label"] == "halves (n1|n2,n3)" and last["end"] == 18_000
    assert last["until"] == "still in force at the end of the history"
    assert (windows["kill", "n2"]["start"], windows["kill", "n2"]["end"]) == (8000, 11_000)
    assert (windows["pause", "n3"]["start"], windows["pause", "n3"]["end"]) == (12_000, 15_000)
    assert windows["latency", None]["label"] == "latency 20 \u00b15 ms on 1 link(s)"
    # A restart of a node nobody killed is still shown, as a mark.
    assert [(m["kind"], m["node"], m["t"]) for m in data["marks"]] == [("restart", "n1", 16_000)]
    table = text[text.index("<details class=\"faults\">"):]
    assert "n1|n2,n3" in table and "halves (n1|n2,n3)" in table and "kill" in table


def test_blamed_operations_are_flagged_listed_and_linked() -> None:
    history = small_history()
    culprit = history.operations()[1]  # the read at event 3
    text = render_timeline(history, blamed=[culprit, 5, 999])
    data = Page(text).data()
    assert data["blamed"] == [3, 5]
    assert {op[4] for op in data["ops"] if op[12]} == {3, 5}
    assert '<a href="#op-3" data-op="3">' in text and '<a href="#op-5" data-op="5">' in text
    assert "operation 999: not in this history" in text
    assert "Blamed by the checker (3)" in text


def test_header_shows_verdict_seed_spec_and_counts_per_node() -> None:
    text = render_timeline(small_history(), title="inventory", verdict="not linearizable: x",
                           seed=42, spec="n1|n2,n3")
    assert "<h1>inventory</h1>" in text and "not linearizable: x" in text
    assert "--partition-seed=42" in text and "<code>n1|n2,n3</code>" in text
    rows = re.findall(r"<tr(?: class=\"total\")?><td>([^<]*)</td>((?:<td>\d+</td>){4})</tr>", text)
    counts = {name: [int(n) for n in re.findall(r"\d+", cells)] for name, cells in rows}
    assert counts["n1"] == [1, 0, 2, 3] and counts["n3"] == [0, 1, 1, 2]
    assert counts["total"] == [2, 1, 3, 6]


def test_recorded_data_cannot_break_out_of_the_page() -> None:
    history = history_of(
        (0, 1, "invoke", EVIL, {"key": EVIL, "value": QUOTES, "node": EVIL}),
        (1, 1, "ok", EVIL, {"key": EVIL, "value": {EVIL: [QUOTES]}, "node": EVIL}),
        (2, NEMESIS, "info", "partition", {"value": {"spec": EVIL, "groups": [[EVIL]]}}),
        (3, NEMESIS, "info", EVIL, {"node": QUOTES, "value": EVIL}),
        (4, 2, "invoke", "get", {"key": "\u2028\u2029", "node": "n1"}),
        (5, 2, "fail", "get", {"key": "\u2028\u2029", "node": "n1", "error": EVIL}),
    )
    text = render_timeline(history, title=EVIL, verdict=QUOTES, spec=EVIL, blamed=[0])
    assert EVIL not in text and QUOTES not in text and "<script>alert" not in text
    assert "\u2028" not in text.split('id="timeline-data">')[1]
    page = Page(text)
    assert page.problems == [] and len(page.scripts) == 2
    data = page.data()  # escaped, yet the same text once parsed
    assert data["ops"][0][8] == json.dumps(EVIL)
    assert json.loads(data["ops"][0][10]) == {EVIL: [QUOTES]}
    assert data["windows"][0]["label"] == EVIL and data["marks"][0]["kind"] == EVIL
    assert EVIL in "".join(page.text)  # shown as text in the header, not run


def test_empty_history_still_renders() -> None:
    page = Page(render_timeline(History.from_events([])))
    assert page.problems == [] and page.data()["ops"] == []


def test_ten_thousand_operations_render_fast_and_small(tmp_path: Path) -> None:
    history = synthetic_history(10_000)
    operations = history.operations()
    assert len(operations) == 10_000
    assert any(op.end is None and op.complete_index is None for op in operations)
    assert {e.f for e in history.faults()} == {
        "partition", "heal", "kill", "restart", "pause", "resume", "latency"}
    started = time.perf_counter()
    path = write_timeline(history, tmp_path / "deep" / "timeline.html",
                          blamed=operations[5000:5002], verdict="synthetic")
    elapsed = time.perf_counter() - started
    size = path.stat().st_size
    assert elapsed < 1.5, f"{elapsed:.2f} s to render 10k operations"
    assert size < 3_000_000, f"{size} bytes for 10k operations"
    data = Page(path.read_text(encoding="utf-8")).data()
    assert len(data["ops"]) == 10_000 and data["blamed"] == [
        op.invoke_index for op in operations[5000:5002]]


def test_cli_renders_a_saved_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = small_history().save(tmp_path / "history.jsonl")
    assert main([str(saved), "-o", str(tmp_path / "t.html"), "--blamed", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "t.html")
    assert Page((tmp_path / "t.html").read_text(encoding="utf-8")).data()["blamed"] == [3]


def test_writes_a_sample_for_a_human_look(tmp_path: Path) -> None:
    """Set PARTITION_TIMELINE_SAMPLE=/some/file.html to keep the page and open it."""
    target = os.environ.get("PARTITION_TIMELINE_SAMPLE") or tmp_path / "sample.html"
    history = synthetic_history(3000, seed=1)
    oks = [op for op in history.operations() if op.ok]
    path = write_timeline(history, target, title="pytest-partition timeline (sample)", seed=1,
                          spec="random-halves", blamed=oks[1500:1502],
                          verdict="not linearizable (synthetic history; arbitrary blamed operations)")
    assert Page(path.read_text(encoding="utf-8")).problems == []


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def run_page(tmp_path: Path, text: str, drive: str, **variables: Any) -> dict[str, Any]:
    """Run the page's script under the fake DOM, then ``drive``; what it printed, parsed."""
    page = Page(text)
    code = next(body for attrs, body in page.scripts if "type" not in attrs)
    given = "".join(f", {name} = {json.dumps(value)}" for name, value in variables.items())
    program = tmp_path / "run.js"
    program.write_text(f"var DATA = {json.dumps(json.dumps(page.data()))}{given};\n"
                       + FAKE_DOM + code + drive, encoding="utf-8")
    run = subprocess.run(["node", str(program)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    seen: dict[str, Any] = json.loads(run.stdout)
    return seen


@needs_node
def test_script_runs_hover_click_zoom_and_links_under_a_fake_dom(tmp_path: Path) -> None:
    history = synthetic_history(2000)
    blamed = history.operations()[1000]
    seen = run_page(tmp_path, render_timeline(history, blamed=[blamed]), DRIVE,
                    BLAMED=blamed.invoke_index)
    assert seen["drawn"] > 100
    assert seen["tip"][:2] == ["operation", "process"] and seen["hash"].startswith("#op-")
    assert seen["zoomed"] and seen["fault"] and seen["linked"] == f"#op-{blamed.invoke_index}"


# -- what a failure needs: labels once, no empty rows, the bug in view, the replicas' values --

LAST_FRAME = r"""
flush(); texts = []; outlines = [];
fire("viewport", "scroll", {});  // one more frame, recorded alone
console.log(JSON.stringify({texts: texts, outlines: outlines, spacer: elements.spacer.style.width,
                            view: elements.view.textContent, hash: window.location.hash,
                            detail: elements["detail-table"].rows.map(function (r) { return r.cells.map(function (c) { return c.textContent; }); })}));
"""


def lane_top(data: dict[str, Any], texts: list[dict[str, Any]]) -> float:
    """The y of the first lane's label: everything above it is the axis and the strip."""
    labels = {lane["label"] for lane in data["lanes"]}
    return float(min(t["y"] for t in texts if t["t"] in labels))


def partition_only_history() -> History:
    return history_of(
        (0, 1, "invoke", "write", {"key": "x", "value": 1, "node": "n1"}),
        (1, NEMESIS, "info", "partition", {"value": {"spec": "isolate:leader",
                                                     "resolved": "n1|n2,n3"}}),
        (2, 1, "ok", "write", {"key": "x", "node": "n1"}),
        (2.2, NEMESIS, "info", "heal", {}),
        (3, 2, "invoke", "read", {"key": "x", "node": "n2"}),
        (4, 2, "ok", "read", {"key": "x", "value": 1, "node": "n2"}),
    )


def test_the_strip_has_a_row_only_for_what_the_history_holds() -> None:
    assert Page(render_timeline(partition_only_history())).data()["rows"] == ["partitions"]
    data = Page(render_timeline(small_history())).data()
    assert data["rows"] == ["partitions", "nodes", "latency"]
    assert {(w["kind"], w["row"]) for w in data["windows"]} == {
        ("partition", 0), ("kill", 1), ("pause", 1), ("latency", 2)}
    assert Page(render_timeline(small_history(), blamed=[3])).data()["rows"][-1] == "blamed"
    quiet = history_of((0, 1, "invoke", "read", {"key": "x"}), (1, 1, "ok", "read", {"key": "x"}))
    assert Page(render_timeline(quiet)).data()["rows"] == []
    own = history_of((0, NEMESIS, "info", "clock-skew", {"node": "n1", "value": 50}))
    assert Page(render_timeline(own)).data()["rows"] == ["faults"]  # not only node faults
    # The legend lists only what there is to see.
    text = render_timeline(partition_only_history())
    legend = text[text.index('<div class="legend">'):text.index("</header>")]
    assert "partition" in legend and "killed" not in legend and "latency" not in legend


@needs_node
def test_no_empty_row_is_drawn(tmp_path: Path) -> None:
    text = render_timeline(partition_only_history())
    drawn = {t["t"] for t in run_page(tmp_path, text, LAST_FRAME)["texts"]}
    assert "partitions" in drawn and not drawn & {"nodes", "latency", "blamed"}


@needs_node
def test_each_partition_label_is_drawn_once_above_the_lanes(tmp_path: Path) -> None:
    text = render_timeline(small_history())
    data = Page(text).data()
    seen = run_page(tmp_path, text, LAST_FRAME)
    top = lane_top(data, seen["texts"])
    windows = [w for w in data["windows"] if w["kind"] == "partition"]
    forms = {w["label"] for w in windows} | {w["short"] for w in windows if "short" in w}
    drawn = [t for t in seen["texts"] if t["t"] in forms or (
        t["t"].endswith("\u2026") and any(f.startswith(t["t"][:-1]) for f in forms))]
    assert len(drawn) == len(windows) == 2, drawn  # once each, whole or shortened
    assert all(t["y"] < top - 8 for t in drawn)  # in the strip, not on a lane
    # A window too narrow for "halves (n1|n2,n3)" shows what it resolved to.
    assert any(t["t"] == "n1|n2,n3" for t in seen["texts"])


def test_the_page_opens_on_the_blamed_operation_with_context() -> None:
    history = synthetic_history(2000)
    blamed = history.operations()[1000]
    text = render_timeline(history, blamed=[blamed])
    data = Page(text).data()
    focus = data["focus"]
    assert focus["op"] == blamed.invoke_index
    start = blamed.start // 1000
    stop = (blamed.end or blamed.start) // 1000
    assert focus["from"] < start and focus["to"] > stop
    run = data["end"] - data["begin"]
    assert 0.05 * run <= focus["to"] - focus["from"] <= 0.1 * run  # zoomed, not lost in it
    assert data["labels"][str(blamed.invoke_index)].startswith("blamed: " + blamed.f)
    assert '<button type="button" data-zoom="fit">whole run</button>' in text
    assert 'data-zoom="focus">blamed operation</button>' in text
    assert Page(render_timeline(history)).data()["focus"] is None
    assert 'data-zoom="focus"' not in render_timeline(history)


@needs_node
def test_the_blamed_operation_is_in_view_and_selected_on_open(tmp_path: Path) -> None:
    history = synthetic_history(2000)
    blamed = history.operations()[1000]
    text = render_timeline(history, blamed=[blamed])
    seen = run_page(tmp_path, text, LAST_FRAME)
    assert float(seen["spacer"].removesuffix("px")) > 10 * 1200  # zoomed in
    magenta = [o for o in seen["outlines"] if o["color"] == "#c2188f"]
    assert len(magenta) == 1 and 100 < magenta[0]["x"] < 1200 and 0 < magenta[0]["y"] < 600
    assert seen["detail"][0] == ["operation", f"#{blamed.invoke_index}   blamed by the checker"]
    label = Page(text).data()["labels"][str(blamed.invoke_index)]
    assert [t for t in seen["texts"] if t["t"] == label]  # named in its row
    whole = run_page(tmp_path, text, 'fire("fit", "click", {});' + LAST_FRAME)
    assert float(whole["spacer"].removesuffix("px")) <= 1200  # the whole run fits again


def diverged_states() -> dict[str, Any]:
    return {"n1": {"x": 1, "y": 2, "z": 5}, "n2": {"x": 1, "y": 3}, "n3": {"x": 1, "y": 2}}


def test_the_replicas_final_values_are_shown_when_they_differ() -> None:
    text = render_timeline(small_history(), states=diverged_states(),
                           convergence="replicas did not converge within 3 s\n  'y': ...")
    data = Page(text).data()
    replicas = data["replicas"]
    assert replicas["nodes"] == ["n1", "n2", "n3"] and replicas["keys"] == 3
    assert replicas["diff"] == [
        {"key": '"y"', "values": ["2", "3", "2"], "odd": [1]},
        {"key": '"z"', "values": ["5", None, None], "odd": [0]}]
    assert replicas["sentence"] == ("replicas did not converge within 3 s: "
                                    "they differ on 2 of 3 key(s)")
    table = text[text.index('<section class="replicas">'):]
    table = table[:table.index("</section>")]
    assert "<th>n1</th><th>n2</th><th>n3</th>" in table
    assert '<td class="v odd">3</td>' in table and "<i>missing</i>" in table
    assert 'data-key="&quot;y&quot;"' in table and '"x"' not in table  # equal keys left out


def test_replica_values_from_a_convergence_result_or_unreadable_states() -> None:
    from pytest_partition.checkers import converged

    result = converged(diverged_states())
    by_result = Page(render_timeline(small_history(), convergence=result)).data()["replicas"]
    by_states = Page(render_timeline(small_history(), states=diverged_states())).data()
    assert by_result == by_states["replicas"]
    states: dict[str, Any] = {"n1": {"x": 1}, "n2": {"x": 1}, "n3": "<state() failed: timed out>"}
    text = render_timeline(small_history(), states=states)
    assert "replicas converged: 2 node(s) hold the same 1 key(s)" in text
    assert "n3: &#x27;&lt;state() failed: timed out&gt;&#x27;" in text
    assert "Final values of the replicas" not in render_timeline(small_history())
    assert Page(render_timeline(small_history())).data()["replicas"] is None


@needs_node
def test_an_operation_on_a_diverged_key_shows_the_replicas_values(tmp_path: Path) -> None:
    history = history_of((0, 1, "invoke", "write", {"key": "y", "value": 3, "node": "n2"}),
                         (1, 1, "ok", "write", {"key": "y", "node": "n2"}))
    text = render_timeline(history, states=diverged_states())
    seen = run_page(tmp_path, text, LAST_FRAME, HASH="#op-0")
    assert ["replicas end with", "n1=2, n2=3, n3=2"] in seen["detail"]


@needs_node
def test_a_key_of_the_replicas_table_picks_out_its_operations(tmp_path: Path) -> None:
    text = render_timeline(small_history(), states=diverged_states())
    click = ('var link = new Element("a"); link.attrs["data-key"] = "\\"y\\"";\n'
             'fire("document", "click", {target: {closest: function () { return link; }}, '
             'preventDefault: function () {}});\n')
    seen = run_page(tmp_path, text, click + LAST_FRAME)
    assert seen["hash"] == "#key=%22y%22" and 'key "y" only' in seen["view"]
    opened = run_page(tmp_path, text, LAST_FRAME, HASH="#key=%22y%22")  # a shared address
    assert 'key "y" only' in opened["view"]


def test_the_docs_sample_passes_what_a_run_result_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/checkers.md, "The timeline": the keyword arguments the callers pass."""
    from pytest_partition.checkers import cap_verdict, linearizable

    monkeypatch.chdir(tmp_path)
    history, states = stale_history(), diverged_states()
    result = SimpleNamespace(history=history, verdict=cap_verdict(history, states=states),
                             seed=7, nemesis="isolate:n3", states=states,
                             convergence="replicas did not converge within 3 s")
    lin = linearizable(history, "kv")
    write_timeline(result.history, "timeline.html", blamed=lin.culprits,
                   verdict=result.verdict.sentence, seed=result.seed, spec=result.nemesis,
                   states=result.states, convergence=result.convergence)
    data = Page((tmp_path / "timeline.html").read_text(encoding="utf-8")).data()
    assert data["blamed"] == [op.invoke_index for op in lin.culprits] != []
    assert data["replicas"]["differ"] == 2


def stale_history() -> History:
    return history_of(
        (0, 1, "invoke", "put", {"key": "y", "value": 2, "node": "n1"}),
        (1, 1, "ok", "put", {"key": "y", "value": True, "node": "n1"}),
        (2, 2, "invoke", "get", {"key": "y", "node": "n2"}),
        (3, 2, "ok", "get", {"key": "y", "value": None, "node": "n2"}),
    )


# -- a synthetic history ----------------------------------------------------------------


def synthetic_history(operations: int, *, seed: int = 0, nodes: int = 5) -> History:
    """A plausible register history with faults of every kind.

    Two workers per node; a worker whose call timed out (``info``) goes on as a
    new process, as in Jepsen; calls in flight when the history ends never
    complete. A killed node refuses, a paused one times out, a minority side
    refuses or times out.
    """
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(1, nodes + 1)]
    workers = 2 * len(names)
    faults = fault_schedule(names, span=operations // workers * MS)
    rows = [(at, n, {"process": NEMESIS, "type": "info", "f": f, "node": node, "value": value})
            for n, (at, f, node, value) in enumerate(faults)]
    clocks = [rng.randrange(200_000) for _ in range(workers)]
    processes, next_process = list(range(workers)), workers
    for n in range(operations):
        w = min(range(workers), key=clocks.__getitem__)
        node, start, f = names[w % len(names)], clocks[w], rng.choice(("read", "write", "cas"))
        given = None if f == "read" else rng.randrange(5) if f == "write" else [1, 2]
        trouble = trouble_of(faults, node, start, len(names))
        if trouble == "kill" or (trouble == "minority" and rng.random() < 0.5):
            outcome, took, error = "fail", 200_000, "unavailable"
        elif trouble or rng.random() < 0.01:
            outcome, took, error = "info", 30 * MS, "timed out"
        else:
            outcome, took, error = "ok", int(rng.expovariate(1 / 600_000)) + 50_000, None
        common = {"process": processes[w], "f": f, "key": f"k{rng.randrange(8)}", "node": node}
        rows.append((start, operations + 2 * n, {**common, "type": "invoke", "value": given}))
        rows.append((start + took, operations + 2 * n + 1, {
            **common, "type": outcome, "error": error,
            "value": rng.randrange(5) if outcome == "ok" and f == "read" else None}))
        clocks[w] = start + took + rng.randrange(300_000)
        if outcome == "info":
            processes[w], next_process = next_process, next_process + 1
    end = max(at for at, _, row in rows if row["type"] == "invoke") + 1_000
    kept = sorted((r for r in rows if r[0] <= end), key=lambda r: r[:2])
    return History.from_events({**row, "time": at} for at, _, row in kept)


def fault_schedule(names: list[str], span: int) -> list[tuple[int, str, str | None, Any]]:
    def cut(spec: str, *groups: list[str]) -> dict[str, Any]:
        links = [[a, b] for g in groups for h in groups if g is not h for a in g for b in h]
        return {"spec": spec, "resolved": "|".join(",".join(g) for g in groups), "cut": links,
                "groups": [list(g) for g in groups], "kind": "drop"}

    half = len(names) // 2
    halves = (names[:half], names[half:])
    steps: list[tuple[int, str, str | None, Any]] = [
        (10, "partition", None, cut("|".join(",".join(g) for g in halves), *halves)),
        (30, "heal", None, None), (35, "kill", names[-1], None), (45, "restart", names[-1], None),
        (50, "partition", None, cut(f"isolate:{names[0]}", names[:1], names[1:])),
        (60, "partition", None, {"spec": f"{names[0]}->{names[1]}", "kind": "reject",
                                 "cut": [names[:2]], "groups": []}),
        (70, "heal", None, None), (72, "pause", names[1], None), (80, "resume", names[1], None),
        (82, "latency", None, {"ms": 20, "jitter_ms": 5, "links": [names[:2]]}),
        (90, "latency", None, {"ms": 0, "jitter_ms": 0, "links": [names[:2]]}),
        (93, "partition", None, cut("halves", *halves)), (96, "kill", names[0], None),
    ]
    return [(span * percent // 100, f, node, value) for percent, f, node, value in steps]


def trouble_of(faults: list[tuple[int, str, str | None, Any]], node: str, when: int,
               size: int) -> str:
    state, minority = "", False
    for at, f, who, value in faults:
        if at > when:
            break
        if who == node:
            state = f if f in ("kill", "pause") else ""
        elif f == "partition":
            mine = [g for g in value["groups"] if node in g]
            minority = bool(mine) and 2 * len(mine[0]) <= size
        elif f == "heal":
            minority = False
    return state or ("minority" if minority else "")


# -- a fake DOM for node: just what the page's script touches ------------------------------

FAKE_DOM = r"""
var listeners = {}, frames = [], drawn = 0, elements = {};
function on(id) { return function (type, fn) { (listeners[id + type] = listeners[id + type] || []).push(fn); }; }
function fire(id, type, ev) { (listeners[id + type] || []).forEach(function (fn) { fn(ev); }); flush(); }
function flush() { var q = frames; frames = []; q.forEach(function (fn) { fn(); }); }
function text(t) { if (typeof t !== "string") throw new Error("text of " + typeof t); }
function Context() {}
var texts = [], outlines = [];  // what the last frames wrote, and the boxes they stroked
["save", "restore", "beginPath", "rect", "clip", "moveTo", "lineTo", "stroke", "fill",
 "setLineDash", "setTransform", "clearRect"].forEach(function (name) {
  Context.prototype[name] = function () {};
});
Context.prototype.fillRect = function () { drawn++; };
Context.prototype.fillText = function (t, x, y) { text(t); texts.push({t: t, x: x, y: y}); };
Context.prototype.strokeText = text;
Context.prototype.strokeRect = function (x, y, w, h) {
  outlines.push({x: x, y: y, w: w, h: h, color: this.strokeStyle});
};
Context.prototype.measureText = function (t) { return {width: String(t).length * 6}; };
Context.prototype.createPattern = function () { return {}; };
function Element(id) {
  this.id = id; this.style = {}; this.rows = []; this.cells = []; this.attrs = {};
  this.clientWidth = 1200; this.clientHeight = 600; this.scrollLeft = 0; this.scrollTop = 0;
  this.offsetWidth = 200; this.offsetHeight = 150; this.value = "0"; this.checked = true;
  this.hidden = false; this._text = ""; this.addEventListener = on(id);
  this.classList = {add: function () {}, remove: function () {}};
}
Object.defineProperty(Element.prototype, "textContent", {
  get: function () { return this._text; }, set: function (v) { this._text = v; this.rows = []; }});
Element.prototype.getContext = function () { return new Context(); };
Element.prototype.getBoundingClientRect = function () { return {left: 0, top: 0}; };
Element.prototype.appendChild = function (c) { this.cells.push(c); };
Element.prototype.insertRow = function () { var r = new Element("tr"); this.rows.push(r); return r; };
Element.prototype.insertCell = function () { var c = new Element("td"); this.cells.push(c); return c; };
Element.prototype.scrollIntoView = function () {};
Element.prototype.getAttribute = function (n) { return this.attrs[n]; };
Element.prototype.hasAttribute = function (n) { return n in this.attrs; };
var document = {
  getElementById: function (id) {
    if (id === "timeline-data") { var e = new Element(id); e.textContent = DATA; return e; }
    return elements[id] || (elements[id] = new Element(id));
  },
  createElement: function (tag) { return new Element(tag); },
  querySelectorAll: function () {
    return ["in", "out", "fit", "focus"].map(function (z) { var b = new Element(z); b.attrs["data-zoom"] = z; return b; });
  },
  addEventListener: on("document"),
};
var window = {
  innerWidth: 1400, innerHeight: 800, devicePixelRatio: 2, addEventListener: on("window"),
  requestAnimationFrame: function (fn) { frames.push(fn); }, setTimeout: function (fn) { fn(); },
  location: {hash: typeof HASH === "string" ? HASH : "", pathname: "/t.html", search: ""},
  history: {replaceState: function (s, t, url) { window.location.hash = url[0] === "#" ? url : ""; }},
};
"""

DRIVE = r"""
flush();
var tip = elements.tip, seen = {drawn: drawn};
function hover(x, y) { fire("viewport", "mousemove", {clientX: x, clientY: y, buttons: 0}); return !tip.hidden; }
var labels = JSON.parse(DATA).lanes.map(function (l) { return l.label; });
var laneY = Math.min.apply(null, texts.filter(function (t) { return labels.indexOf(t.t) >= 0; }).map(function (t) { return t.y; }));
var x = 0;
while (x < 1200 && !hover(x, laneY)) x++;  // the first lane's first operation in view
seen.tip = elements["tip-table"].rows.map(function (r) { return r.cells[0].textContent; });
fire("viewport", "click", {clientX: x, clientY: laneY});
seen.hash = window.location.hash;
var before = elements.spacer.style.width;
fire("viewport", "wheel", {clientX: 600, clientY: 200, deltaY: -400, ctrlKey: true, preventDefault: function () {}});
seen.zoomed = elements.spacer.style.width !== before;
fire("fit", "click", {});
for (x = 0; x < 1200 && !seen.fault; x++) seen.fault = hover(x, 30);  // the fault strip
var link = new Element("a"); link.attrs["data-op"] = String(BLAMED);
fire("document", "click", {target: {closest: function () { return link; }}, preventDefault: function () {}});
seen.linked = window.location.hash;
elements.zoom.value = "700"; fire("zoom", "input", {});
fire("viewport", "mousedown", {clientX: 600, clientY: 200, button: 0});
fire("viewport", "mousemove", {clientX: 500, clientY: 150, buttons: 1});
fire("window", "mouseup", {}); fire("window", "resize", {});
fire("document", "keydown", {key: "Escape"});
console.log(JSON.stringify(seen));
"""
