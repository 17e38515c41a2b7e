"""The HTML timeline of a recorded history, as one self-contained file.

A lane per client process (grouped by the node it is pinned to), each
operation a bar from invoke to completion coloured by outcome, nemesis faults
as windows shaded across the lanes they touch, and the operations a checker
blamed outlined. The page is static HTML (verdict, counts, blamed operations,
fault table) plus one canvas that inline JavaScript draws from a single JSON
blob; nothing is fetched, so it opens from the file system, and a canvas that
redraws only the visible part stays smooth with 10k operations.

Run ``python -m pytest_partition.report.timeline HISTORY.jsonl -o out.html`` to
render a saved history.
"""

from __future__ import annotations

import argparse
import html
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..history import NEMESIS, Event, History, HistoryError, Operation
from .timeline_assets import SCRIPT, STYLE

__all__ = ["main", "render_timeline", "write_timeline"]

MAX_TEXT = 300  # characters kept of one key or value: the system under test may return megabytes
_TYPE_CODE = {"ok": 0, "fail": 1, "info": 2}
# Jepsen's nemeses say start-partition / stop-partition for what we call partition / heal.
_ALIASES = {"start-partition": "partition", "stop-partition": "heal"}
_ENDS = {"heal": "partition", "restart": "kill", "resume": "pause"}


def render_timeline(
    history: History,
    *,
    title: str = "",
    blamed: Iterable[Operation | int] = (),
    verdict: str = "",
    seed: int | None = None,
    spec: str | None = None,
) -> str:
    """The timeline of ``history`` as one HTML document (inline CSS and JS, no network).

    ``blamed`` are the operations a checker blamed (:class:`Operation` objects
    or their ``invoke_index``): they are outlined on the lanes and listed at
    the top. ``verdict``, ``seed`` and ``spec`` are shown in the header.
    Raises :class:`~pytest_partition.history.HistoryError` for a history whose
    invokes and completions do not pair up.
    """
    operations = history.operations()
    blamed_ids = {op.invoke_index if isinstance(op, Operation) else int(op) for op in blamed}
    data = _timeline_data(history, operations, blamed_ids)
    heading = title or f"Timeline of {len(operations)} operations"
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        # Belt and braces: even a bug of ours cannot make the page fetch anything.
        ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"),
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<title>{_e(heading)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n",
        f"<h1>{_e(heading)}</h1>\n",
        f"<p class=\"verdict\">{_e(verdict)}</p>\n" if verdict else "",
        _meta(operations, data, seed, spec),
        "<div class=\"row\">\n",
        _counts(operations),
        _blamed_list(operations, blamed_ids),
        "</div>\n",
        _LEGEND,
        "</header>\n",
        _TOOLBAR,
        ("<div id=\"wrap\"><div id=\"viewport\"><div id=\"spacer\"></div></div>"
         "<canvas id=\"canvas\" role=\"img\" aria-label=\"timeline of the operations\"></canvas>"
         "</div>\n"),
        "<div id=\"tip\" hidden><table id=\"tip-table\"></table></div>\n",
        ("<section id=\"details\"><h2>Selected operation</h2><p id=\"detail-hint\" "
         "class=\"hint\">Click an operation (or a blamed one above) to keep its details here."
         "</p><table id=\"detail-table\"></table></section>\n"),
        _fault_table(data),
        "<noscript><p>The lanes need JavaScript; everything above does not.</p></noscript>\n",
        f"<script type=\"application/json\" id=\"timeline-data\">{_script_json(data)}</script>\n",
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def write_timeline(history: History, path: str | Path, **options: Any) -> Path:
    """Write :func:`render_timeline` (same keyword arguments) to ``path``; return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_timeline(history, **options), encoding="utf-8")
    return target


# -- the data the script draws ------------------------------------------------------------


def _timeline_data(
    history: History, operations: Sequence[Operation], blamed: set[int]
) -> dict[str, Any]:
    events = history.events
    times = {event.index: event.time for event in events}
    begin = min((e.time for e in events), default=0)
    end = max((e.time for e in events), default=0)
    strings: dict[str, int] = {}

    def intern(text: str) -> int:
        return strings.setdefault(text, len(strings))

    lanes, lane_of = _lanes(operations)
    ops = [
        [
            lane_of[op.process],
            _us(op.start),
            None if op.complete_index is None else _us(times.get(op.complete_index, op.start)),
            _TYPE_CODE.get(op.type, 2),
            op.invoke_index,
            op.complete_index,
            intern(op.f),
            -1 if op.node is None else intern(op.node),
            _text(op.key),
            _text(op.value),
            _text(op.output),
            None if op.error is None else _clip(op.error),
            1 if op.invoke_index in blamed else 0,
        ]
        for op in operations
    ]
    windows, marks = _faults(events, end)
    return {
        "begin": _us(begin), "end": _us(end), "strings": list(strings), "lanes": lanes,
        "ops": ops, "windows": windows, "marks": marks,
        "blamed": sorted(op.invoke_index for op in operations if op.invoke_index in blamed),
    }


def _lanes(operations: Sequence[Operation]) -> tuple[list[dict[str, Any]], dict[Any, int]]:
    """One lane per process, grouped by the node the process is pinned to."""
    nodes: dict[int | str, set[str]] = {}
    for op in operations:
        nodes.setdefault(op.process, set()).update([op.node] if op.node is not None else [])

    def pinned(process: int | str) -> str | None:
        found = nodes[process]
        return next(iter(found)) if len(found) == 1 else None

    def order(process: int | str) -> tuple[Any, ...]:
        node = pinned(process)
        # Processes on no single node come last; n2 sorts before n10.
        return (node is None, _natural(node or ""), isinstance(process, str), _natural(str(process)))

    lanes: list[dict[str, Any]] = []
    lane_of: dict[Any, int] = {}
    for process in sorted(nodes, key=order):
        node = pinned(process)
        where = node if node is not None else ", ".join(sorted(nodes[process], key=_natural))
        lane_of[process] = len(lanes)
        lanes.append({"process": str(process), "node": node,
                      "label": f"process {process}" + (f" \u00b7 {where}" if where else "")})
    return lanes, lane_of


def _faults(events: Sequence[Event], end: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Nemesis events as windows (partition, kill, pause, latency) and point marks.

    A partition lasts until the next partition or heal; kill until restart and
    pause until resume on the same node; latency until the next latency
    setting. Whatever is still in force at the end is closed there.
    """
    windows: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    current: dict[tuple[str, str | None], dict[str, Any]] = {}

    def close(kind: str, node: str | None, when: int, until: str) -> bool:
        window = current.pop((kind, node), None)
        if window is not None:
            window.update(end=_us(when), until=until)
        return window is not None

    for event in events:
        if event.process != NEMESIS or event.type == "invoke":
            continue  # a fault is in force once its call returned
        f = _ALIASES.get(event.f, event.f)
        node = None if f in ("partition", "heal", "latency") else event.node
        label, detail = _describe_fault(f, event)
        if f == "partition":
            close("partition", None, event.time, "replaced by the next partition")
        elif f == "latency":
            close("latency", None, event.time, "changed")
            value = event.value if isinstance(event.value, dict) else {}
            if not (value.get("ms") or value.get("jitter_ms")):
                continue  # latency back to zero: nothing to draw
        elif f in _ENDS and close(_ENDS[f], node, event.time, f"{f} at {_ms(event.time)}"):
            continue  # the window it ends is drawn; an unmatched restart stays a mark
        if f in ("partition", "latency") or (f in ("kill", "pause") and (f, node) not in current):
            window = {"kind": f, "node": node, "start": _us(event.time), "end": _us(end),
                      "until": "", "label": label, "detail": detail, "event": event.index}
            current[(f, node)] = window
            windows.append(window)
        else:
            marks.append({"kind": f, "node": node, "t": _us(event.time), "label": label,
                          "detail": detail, "event": event.index})
    for window in current.values():
        window["until"] = "still in force at the end of the history"
    return windows, marks


def _describe_fault(f: str, event: Event) -> tuple[str, str]:
    """A short label to write on the fault, and a longer detail for hover."""
    value = event.value
    if f == "partition" and isinstance(value, dict):
        spec, resolved = str(value.get("spec", "partition")), value.get("resolved")
        label = spec if not resolved or resolved == spec else f"{spec} ({resolved})"
        groups = " | ".join(",".join(map(str, g)) for g in value.get("groups") or [])
        cut = [f"{a}->{b}" for a, b in (value.get("cut") or [])]
        shown = ", ".join(cut[:12]) + (f" and {len(cut) - 12} more" if len(cut) > 12 else "")
        detail = f"kind {value.get('kind', 'drop')}; groups {groups or '-'}; " \
                 f"{len(cut)} link(s) cut: {shown or '-'}"
        return _clip(label), _clip(detail)
    if f == "latency" and isinstance(value, dict):
        jitter = f" \u00b1{value.get('jitter_ms')}" if value.get("jitter_ms") else ""
        links = value.get("links")
        count = f" on {len(links)} link(s)" if isinstance(links, list) else ""
        return _clip(f"latency {value.get('ms', 0)}{jitter} ms{count}"), _text(value) or ""
    label = f if event.node is None else f"{f} {event.node}"
    return _clip(label if value is None else f"{label} {_text(value)}"), _text(value) or ""


# -- static HTML ------------------------------------------------------------------------


def _meta(operations: Sequence[Operation], data: dict[str, Any], seed: int | None,
          spec: str | None) -> str:
    items: list[tuple[str, str]] = []
    if seed is not None:
        items.append(("seed", f"<code>{seed}</code> (replay: <code>--partition-seed={seed}</code>)"))
    if spec:
        items.append(("spec", f"<code>{_e(spec)}</code>"))
    items += [
        ("operations", str(len(operations))),
        ("processes", str(len(data["lanes"]))),
        ("faults", str(len(data["windows"]) + len(data["marks"]))),
        ("duration", f"{(data['end'] - data['begin']) / 1000:.1f} ms"),
    ]
    rows = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in items)
    return f"<dl class=\"meta\">{rows}</dl>\n"


def _counts(operations: Sequence[Operation]) -> str:
    """ok / fail / info per node, and the totals."""
    tally: dict[str | None, list[int]] = {}
    for op in operations:
        tally.setdefault(op.node, [0, 0, 0])[_TYPE_CODE.get(op.type, 2)] += 1
    nodes = sorted(tally, key=lambda n: (n is None, _natural(n or "")))
    totals = [sum(t[i] for t in tally.values()) for i in range(3)]
    rows = [(_e(n) if n is not None else "(no node)", tally[n], "") for n in nodes]
    rows.append(("total", totals, " class=\"total\""))
    body = "".join(
        f"<tr{cls}><td>{name}</td>" + "".join(f"<td>{c}</td>" for c in counts)
        + f"<td>{sum(counts)}</td></tr>" for name, counts, cls in rows
    )
    return ("<table class=\"counts\"><thead><tr><th>node</th><th>ok</th><th>fail</th>"
            f"<th>info</th><th>all</th></tr></thead><tbody>{body}</tbody></table>\n")


def _blamed_list(operations: Sequence[Operation], blamed: set[int]) -> str:
    if not blamed:
        return ""
    found = {op.invoke_index: op for op in operations if op.invoke_index in blamed}
    items = [
        f"<li><a href=\"#op-{i}\" data-op=\"{i}\">{_e(_clip(found[i].describe()))}</a></li>"
        if i in found else f"<li>operation {i}: not in this history</li>"
        for i in sorted(blamed)
    ]
    return (f"<section class=\"blamed\"><h2>Blamed by the checker ({len(blamed)})</h2>"
            f"<ol>{''.join(items)}</ol></section>\n")


def _fault_table(data: dict[str, Any]) -> str:
    faults = sorted(data["windows"] + data["marks"], key=lambda w: w.get("start", w.get("t", 0)))
    rows = []
    for w in faults:
        start, stop = w.get("start", w.get("t", 0)), w.get("end", w.get("t", 0))
        when = f"{start / 1000:.1f}" + (f" \u2013 {stop / 1000:.1f}" if "end" in w else "")
        rows.append(
            f"<tr><td><a href=\"#\" data-from=\"{start}\" data-to=\"{stop}\">{when}</a></td>"
            f"<td>{_e(w['kind'])}</td><td>{_e(w['node'] or '')}</td><td class=\"v\">"
            f"{_e(w['label'])}</td><td class=\"v\">{_e(w['detail'])}</td>"
            f"<td>{_e(w.get('until', ''))}</td></tr>"
        )
    return (f"<details class=\"faults\"><summary>Faults ({len(faults)})</summary><table><thead>"
            "<tr><th>ms</th><th>fault</th><th>node</th><th>what</th><th>detail</th><th>ended</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></details>\n")


_LEGEND = (
    "<div class=\"legend\">"
    "<span><i class=\"sw ok\"></i>ok</span><span><i class=\"sw fail\"></i>fail</span>"
    "<span><i class=\"sw info\"></i>info (outcome unknown)</span>"
    "<span><i class=\"sw open\"></i>may still take effect, up to the end</span>"
    "<span><i class=\"sw partition\"></i>partition</span><span><i class=\"sw kill\"></i>"
    "node killed</span><span><i class=\"sw pause\"></i>node paused</span>"
    "<span><i class=\"sw latency\"></i>latency</span>"
    "<span><i class=\"sw blamed\"></i>blamed by the checker</span></div>\n"
)
_TOOLBAR = (
    "<div class=\"toolbar\"><span>zoom</span><button type=\"button\" data-zoom=\"out\">\u2212"
    "</button><input type=\"range\" id=\"zoom\" min=\"0\" max=\"1000\" value=\"0\" "
    "aria-label=\"zoom\"><button type=\"button\" data-zoom=\"in\">+</button>"
    "<button type=\"button\" data-zoom=\"fit\">fit</button><label><input type=\"checkbox\" "
    "id=\"dim-keys\" checked> dim other keys when one is selected</label>"
    "<span id=\"cursor\"></span><span class=\"hint\">ctrl+wheel zooms, drag pans, hover for "
    "details</span></div>\n"
)


# -- small helpers ------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _us(ns: int) -> int:
    return ns // 1000


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _text(value: Any) -> str | None:
    """A value as JSON text (so "3" and 3 differ), clipped; repr for what JSON cannot hold."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # non-string dict keys, cycles
        text = repr(value)
    return _clip(text)


def _natural(text: str) -> list[tuple[int, int, str]]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p]


def _script_json(data: dict[str, Any]) -> str:
    """JSON that cannot end its <script> element: <, > and & only occur inside strings."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


# -- the command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_partition.report.timeline HISTORY [-o OUT]``: render a saved history."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_partition.report.timeline",
        description="Render a recorded history (JSON Lines or Jepsen EDN) as a self-contained "
                    "HTML timeline.")
    parser.add_argument("history", help="the history file")
    parser.add_argument("-o", "--output", default="timeline.html", help="where to write the page")
    parser.add_argument("--title", default="", help="the page's title (default: the file name)")
    parser.add_argument("--blamed", type=int, nargs="*", default=[], metavar="INDEX",
                        help="invoke indexes of the operations to highlight")
    args = parser.parse_args(argv)
    try:
        history = History.load(args.history)
        path = write_timeline(history, args.output, title=args.title or Path(args.history).name,
                              blamed=args.blamed)
    except HistoryError as error:
        parser.error(str(error))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
