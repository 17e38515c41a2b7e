"""The HTML timeline of a recorded history, as one self-contained file.

Lanes of client processes (grouped by the node they are pinned to), each
operation a bar from invoke to completion coloured by outcome, nemesis faults
as windows shaded across the lanes they touch, and the operations a checker
blamed outlined. The page is static HTML (verdict, counts, blamed operations,
the replicas' final values when they differ, fault table) plus one canvas
that inline JavaScript draws from a single JSON blob; nothing is fetched, so
it opens from the file system, and a canvas that redraws only the visible
part stays smooth with 10k operations.

The page opens zoomed to the first blamed operation (``data["focus"]``), with
a button to see the whole run. Above the lanes, a strip has one row per kind
of fault the history holds (and one for the blamed operations): labels are
written there once, never over the lanes' bars.

``python -m pytest_partition check HISTORY --timeline out.html`` checks a saved
history and writes its timeline; ``python -m pytest_partition.report.timeline
HISTORY -o out.html`` only draws it.
"""

from __future__ import annotations

import argparse
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..checkers import ConvergenceResult
from ..history import History, HistoryError, Operation
from .timeline_assets import SCRIPT, STYLE
from .timeline_data import TYPE_CODE, clip, natural, timeline_data

__all__ = ["main", "render_timeline", "write_timeline"]


def render_timeline(
    history: History,
    *,
    title: str = "",
    blamed: Iterable[Operation | int] = (),
    verdict: str = "",
    seed: int | None = None,
    spec: str | None = None,
    states: Mapping[str, Any] | None = None,
    convergence: ConvergenceResult | str | None = None,
) -> str:
    """The timeline of ``history`` as one HTML document (inline CSS and JS, no network).

    ``blamed`` are the operations a checker blamed (:class:`Operation` objects
    or their ``invoke_index``): they are outlined on the lanes, marked in a
    row of their own and listed at the top, and the page opens zoomed to the
    first of them. ``verdict``, ``seed`` and ``spec`` are shown in the header.

    ``states`` (node -> its final ``state()``, as ``RunResult.states``) and
    ``convergence`` (a :class:`~pytest_partition.checkers.ConvergenceResult`,
    or the sentence ``RunResult.convergence`` says) show the replicas' final
    values: a table of the keys on which they differ, node by node, and the
    same values in the details of each operation on such a key.

    Raises :class:`~pytest_partition.history.HistoryError` for a history whose
    invokes and completions do not pair up.
    """
    operations = history.operations()
    blamed_ids = {op.invoke_index if isinstance(op, Operation) else int(op) for op in blamed}
    data = timeline_data(history, operations, blamed_ids, states, convergence)
    replicas = data["replicas"]
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
        _replica_table(replicas),
        "</div>\n",
        _legend(data),
        "</header>\n",
        _toolbar(data),
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


# -- static HTML ------------------------------------------------------------------------


def _meta(operations: Sequence[Operation], data: dict[str, Any], seed: int | None,
          spec: str | None) -> str:
    items: list[tuple[str, str]] = []
    if seed is not None:
        items.append(("seed", f"<code>{seed}</code> "
                              f"(replay: <code>--partition-seed={seed}</code>)"))
    if spec:
        items.append(("spec", f"<code>{_e(spec)}</code>"))
    items += [
        ("operations", str(len(operations))),
        ("processes", str(len({op.process for op in operations}))),
        ("faults", str(len(data["windows"]) + len(data["marks"]))),
        ("duration", f"{(data['end'] - data['begin']) / 1000:.1f} ms"),
    ]
    rows = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in items)
    return f"<dl class=\"meta\">{rows}</dl>\n"


def _counts(operations: Sequence[Operation]) -> str:
    """ok / fail / info per node, and the totals."""
    tally: dict[str | None, list[int]] = {}
    for op in operations:
        tally.setdefault(op.node, [0, 0, 0])[TYPE_CODE.get(op.type, 2)] += 1
    nodes = sorted(tally, key=lambda n: (n is None, natural(n or "")))
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
        f"<li><a href=\"#op-{i}\" data-op=\"{i}\">{_e(clip(found[i].describe()))}</a></li>"
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


def _replica_table(replicas: dict[str, Any] | None) -> str:
    if replicas is None:
        return ""
    parts = ["<section class=\"replicas\"><h2>Final values of the replicas</h2>",
             f"<p>{_e(replicas['sentence'])}</p>" if replicas["sentence"] else ""]
    parts += [f"<p class=\"silent\">{_e(node)}: {_e(why)}</p>"
              for node, why in replicas["silent"].items()]
    if replicas["diff"]:
        head = "".join(f"<th>{_e(node)}</th>" for node in replicas["nodes"])
        rows = []
        for row in replicas["diff"]:
            cells = "".join(
                f"<td class=\"v{' odd' if i in row['odd'] else ''}\">"
                + (_e(text) if text is not None else "<i>missing</i>") + "</td>"
                for i, text in enumerate(row["values"]))
            rows.append(f"<tr><td class=\"v\"><a href=\"#\" data-key=\"{_e(row['key'])}\" "
                        f"title=\"show this key's operations\">{_e(row['key'])}</a></td>"
                        f"{cells}</tr>")
        parts.append(f"<table><thead><tr><th>key</th>{head}</tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table>")
        if replicas["differ"] > len(replicas["diff"]):
            parts.append(f"<p>... and {replicas['differ'] - len(replicas['diff'])} more "
                         "key(s)</p>")
    return "".join(parts) + "</section>\n"


_LEGEND_ITEMS = (
    ("ok", "ok"), ("fail", "fail"), ("info", "info (outcome unknown)"),
    ("open", "may still take effect later"), ("partition", "partition"),
    ("kill", "node killed"), ("pause", "node paused"), ("latency", "latency"),
    ("blamed", "blamed by the checker"),
)


def _legend(data: dict[str, Any]) -> str:
    """What the lanes and the strip show, for what this history holds (always the outcomes)."""
    present = {"ok", "fail", "info"} | {w["kind"] for w in data["windows"]}
    if any(op[3] == TYPE_CODE["info"] for op in data["ops"]):
        present.add("open")
    if data["blamed"]:
        present.add("blamed")
    items = "".join(f"<span><i class=\"sw {cls}\"></i>{text}</span>"
                    for cls, text in _LEGEND_ITEMS if cls in present)
    return f"<div class=\"legend\">{items}</div>\n"


def _toolbar(data: dict[str, Any]) -> str:
    focus = ("<button type=\"button\" data-zoom=\"focus\">blamed operation</button>"
             if data["focus"] else "")
    return (
        "<div class=\"toolbar\"><button type=\"button\" data-zoom=\"fit\">whole run</button>"
        f"{focus}<span>zoom</span><button type=\"button\" data-zoom=\"out\">\u2212</button>"
        "<input type=\"range\" id=\"zoom\" min=\"0\" max=\"1000\" value=\"0\" "
        "aria-label=\"zoom\"><button type=\"button\" data-zoom=\"in\">+</button>"
        "<label title=\"when an operation is selected\"><input type=\"checkbox\" id=\"dim-keys\" "
        "checked> dim other keys</label><span id=\"view\"></span><span id=\"cursor\"></span>"
        "<span class=\"hint\">ctrl+wheel zooms, drag pans</span></div>\n"
    )


# -- small helpers ------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _script_json(data: dict[str, Any]) -> str:
    """JSON that cannot end its <script> element: <, > and & only occur inside strings."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


# -- the command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_partition.report.timeline HISTORY [-o OUT]``: draw a saved history.

    It runs no checker; ``python -m pytest_partition check HISTORY --timeline
    OUT.html`` checks the history and marks what the checker blamed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pytest_partition.report.timeline",
        description="Render a recorded history (JSON Lines or Jepsen EDN) as a self-contained "
                    "HTML timeline, without checking it. To check it too, and mark the "
                    "operations the checker blames: python -m pytest_partition check HISTORY "
                    "--timeline OUT.html")
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
