"""The data the timeline's script draws, as one JSON-ready dict.

Lanes (processes packed per node), operations as flat arrays (the script
indexes them by position: see ``timeline_assets.SCRIPT``), nemesis faults as
windows and marks, the rows of the strip above the lanes, the blamed
operations and the view the page opens with, and the replicas' final values.
Everything recorded is passed as JSON text, clipped: the page escapes it once
more, so a value never becomes markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..checkers import MISSING, ConvergenceResult, converged
from ..history import NEMESIS, Event, History, Operation

__all__ = ["FOCUS_SHARE", "MAX_REPLICA_KEYS", "MAX_TEXT", "TYPE_CODE", "clip", "natural",
           "timeline_data"]

MAX_TEXT = 300  # characters kept of one key or value: the system under test may return megabytes
TYPE_CODE = {"ok": 0, "fail": 1, "info": 2}
# Jepsen's nemeses say start-partition / stop-partition for what we call partition / heal.
_ALIASES = {"start-partition": "partition", "stop-partition": "heal"}
_ENDS = {"heal": "partition", "restart": "kill", "resume": "pause"}
_NODE_FAULTS = {"kill", "restart", "pause", "resume"}
FOCUS_SHARE = 0.03  # the view opened on a blamed operation shows it and 3% of the run each side
MAX_REPLICA_KEYS = 200  # differing keys listed (and given to the script); the rest are counted


def timeline_data(history: History, operations: Sequence[Operation], blamed: set[int],
                  states: Mapping[str, Any] | None = None,
                  convergence: ConvergenceResult | str | None = None) -> dict[str, Any]:
    """Everything the page shows of ``history``; see the module doc.

    ``operations`` are ``history.operations()``; ``blamed`` the invoke
    indexes of the blamed ones; ``states`` and ``convergence`` as
    :func:`~pytest_partition.report.render_timeline` takes them.
    """
    events = history.events
    times = {event.index: event.time for event in events}
    begin = min((e.time for e in events), default=0)
    end = max((e.time for e in events), default=0)
    strings: dict[str, int] = {}

    def intern(text: str) -> int:
        return strings.setdefault(text, len(strings))

    lanes, lane_of = _lanes(operations, times)
    ops = [
        [
            lane_of[op.process],
            _us(op.start),
            None if op.complete_index is None else _us(times.get(op.complete_index, op.start)),
            TYPE_CODE.get(op.type, 2),
            op.invoke_index,
            op.complete_index,
            intern(op.f),
            -1 if op.node is None else intern(op.node),
            _text(op.key),
            _text(op.value),
            # A read that returned nothing shows null: that answer is often the point.
            _json_text(op.output) if op.ok and op.f in ("read", "get") else _text(op.output),
            None if op.error is None else clip(op.error),
            1 if op.invoke_index in blamed else 0,
            intern(str(op.process)),
        ]
        for op in operations
    ]
    windows, marks = _faults(events, end)
    found = [op for op in operations if op.invoke_index in blamed]
    return {
        "begin": _us(begin), "end": _us(end), "strings": list(strings), "lanes": lanes,
        "ops": ops, "windows": windows, "marks": marks,
        "rows": _strip_rows(windows, marks, bool(found)),
        "blamed": [op.invoke_index for op in found],
        "labels": {str(op.invoke_index): _blamed_label(op) for op in found},
        "pad": _us(int((end - begin) * FOCUS_SHARE)),
        "focus": _focus(found[0], times, begin, end) if found else None,
        "replicas": _replica_values(states, convergence),
    }


def _blamed_label(op: Operation) -> str:
    """What the blamed row says of ``op``: ``blamed: get "k2" -> 0``."""
    parts = ["blamed:", op.f]
    parts += [text for text in (_text(op.key), _text(op.value)) if text is not None]
    if op.ok and (op.output is not None or op.f in ("read", "get")):
        parts += ["\u2192", _json_text(op.output)]
    elif not op.ok:
        parts.append(f"({op.type})")
    return clip(" ".join(parts))


def _strip_rows(windows: list[dict[str, Any]], marks: list[dict[str, Any]],
                blamed: bool) -> list[str]:
    """The rows of the strip above the lanes: only those with something to show.

    Partitions (and heals), node faults (kill, pause, ...; "faults" when the
    nemesis did anything else), latency, and the blamed operations. Each
    window and mark gets the index of its row as ``row``.
    """
    def name(kind: str) -> str:
        return ("partitions" if kind in ("partition", "heal")
                else "latency" if kind == "latency" else "nodes")

    used = {name(item["kind"]) for item in windows + marks}
    if any(name(item["kind"]) == "nodes" and item["kind"] not in _NODE_FAULTS
           for item in windows + marks):
        other = "faults"
    else:
        other = "nodes"
    rows: list[str] = [row for row in ("partitions", "nodes", "latency") if row in used]
    for item in windows + marks:
        item["row"] = rows.index(name(item["kind"]))
    shown = [other if row == "nodes" else row for row in rows]
    return [*shown, "blamed"] if blamed else shown


def _focus(op: Operation, times: dict[int, int], begin: int, end: int) -> dict[str, int]:
    """The view the page opens with: ``op`` with some context on either side (µs)."""
    stop = end if op.complete_index is None else times.get(op.complete_index, op.start)
    pad = max(2 * (stop - op.start), int((end - begin) * FOCUS_SHARE))
    return {"op": op.invoke_index, "from": _us(max(begin, op.start - pad)),
            "to": _us(min(end, stop + pad))}


def _lanes(operations: Sequence[Operation],
           times: dict[int, int]) -> tuple[list[dict[str, Any]], dict[Any, int]]:
    """Lanes of the processes of each node, packed: one lane per client thread, not per process.

    A client whose call ended ``info`` goes on as a new process (Jepsen's
    rule), so a run of 5 clients may hold 75 processes, most of them one
    operation long. A process takes the first lane of its node that is free
    when it starts: a lane is free after its last process' last completion
    (an ``info`` completion included: that client gave up and went on). Lanes
    are grouped by node in natural order (n2 before n10); processes on no
    single node come last, with their nodes.
    """
    nodes: dict[int | str, set[str]] = {}
    first: dict[int | str, int] = {}
    free_at: dict[int | str, float] = {}
    for op in operations:
        nodes.setdefault(op.process, set()).update([op.node] if op.node is not None else [])
        first.setdefault(op.process, op.start)
        done = op.complete_index
        free_at[op.process] = float("inf") if done is None else times.get(done, op.start)

    def where(process: int | str) -> tuple[str | None, str]:
        found = nodes[process]
        if len(found) == 1:
            return next(iter(found)), next(iter(found))
        return None, ", ".join(sorted(found, key=natural))

    def order(process: int | str) -> tuple[Any, ...]:
        node, shown = where(process)
        return (node is None, natural(shown), first[process], natural(str(process)))

    lanes: list[dict[str, Any]] = []
    members: list[list[int | str]] = []
    lane_of: dict[Any, int] = {}
    for process in sorted(nodes, key=order):
        node, shown = where(process)
        lane = next((i for i, entry in enumerate(lanes)
                     if entry["where"] == shown and entry["free"] <= first[process]), None)
        if lane is None:
            lane = len(lanes)
            lanes.append({"node": node, "where": shown, "free": 0.0})
            members.append([])
        lanes[lane]["free"] = free_at[process]
        members[lane].append(process)
        lane_of[process] = lane
    for entry, processes in zip(lanes, members):
        del entry["free"]
        listed = ", ".join(str(p) for p in processes[:3])
        more = f" +{len(processes) - 3}" if len(processes) > 3 else ""
        noun = "process" if len(processes) == 1 else "processes"
        entry["label"] = f"{entry['where'] or '(no node)'} \u00b7 {noun} {listed}{more}"
        entry["processes"] = [str(p) for p in processes]
        del entry["where"]
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
            if f == "partition" and isinstance(event.value, dict) and event.value.get("resolved"):
                # What the spec resolved to: the label that fits a narrow window.
                window["short"] = clip(str(event.value["resolved"]))
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
        return clip(label), clip(detail)
    if f == "latency" and isinstance(value, dict):
        jitter = f" \u00b1{value.get('jitter_ms')}" if value.get("jitter_ms") else ""
        links = value.get("links")
        count = f" on {len(links)} link(s)" if isinstance(links, list) else ""
        return clip(f"latency {value.get('ms', 0)}{jitter} ms{count}"), _text(value) or ""
    label = f if event.node is None else f"{f} {event.node}"
    return clip(label if value is None else f"{label} {_text(value)}"), _text(value) or ""


def _replica_values(states: Mapping[str, Any] | None,
                    convergence: ConvergenceResult | str | None) -> dict[str, Any] | None:
    """The replicas' final values for the page (None when neither was given).

    ``diff`` lists the keys on which they differ (at most
    :data:`MAX_REPLICA_KEYS`): the key and each node's value as JSON text
    (None where the node lacks the key), and ``odd``, the nodes that hold a
    value fewer nodes hold, when one value is held by more nodes than any
    other. ``silent`` names the nodes whose state could not be read.
    """
    said = convergence.strip().split("\n", 1)[0] if isinstance(convergence, str) else ""
    result = convergence if isinstance(convergence, ConvergenceResult) else None
    silent: dict[str, str] = {}
    if result is None and states:
        readable = {str(n): s for n, s in states.items() if isinstance(s, Mapping)}
        silent = {str(n): clip(repr(s)) for n, s in states.items() if not isinstance(s, Mapping)}
        result = converged(readable) if readable else None
    if result is None and not said and not silent:
        return None
    nodes = result.nodes if result is not None else []
    diff = []
    for key, values in list((result.diff if result is not None else {}).items()):
        texts = [None if values.get(n, MISSING) is MISSING else _json_text(values[n])
                 for n in nodes]
        diff.append({"key": _json_text(key), "values": texts, "odd": _odd_nodes(texts)})
    if result is not None:
        found = result.explain().split("\n", 1)[0].rstrip(":")
        # "replicas did not converge within 3 s: they differ on 2 of 3 key(s)"
        said = (found if not said else said if result.valid
                else f"{said}: {found.replace('replicas ', 'they ', 1)}")
    return {"sentence": said, "valid": None if result is None else result.valid,
            "nodes": nodes, "keys": 0 if result is None else result.keys,
            "differ": len(diff), "diff": diff[:MAX_REPLICA_KEYS], "silent": silent}


def _odd_nodes(texts: list[str | None]) -> list[int]:
    """Indexes of the values outside the one group larger than every other, if any."""
    sizes: dict[str | None, int] = {}
    for text in texts:
        sizes[text] = sizes.get(text, 0) + 1
    ranked = sorted(sizes.values(), reverse=True)
    if len(ranked) < 2 or ranked[0] == ranked[1]:
        return []
    common = max(sizes, key=lambda text: sizes[text])
    return [i for i, text in enumerate(texts) if text != common]


# -- small helpers ------------------------------------------------------------------------


def _us(ns: int) -> int:
    return ns // 1000


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"


def clip(text: str) -> str:
    """``text`` cut to :data:`MAX_TEXT` characters, with an ellipsis when cut."""
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _json_text(value: Any) -> str:
    """Like :func:`_text`, but None is ``null``: a value, not a missing one."""
    return "null" if value is None else _text(value) or ""


def _text(value: Any) -> str | None:
    """A value as JSON text (so "3" and 3 differ), clipped; repr for what JSON cannot hold."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # non-string dict keys, cycles
        text = repr(value)
    return clip(text)


def natural(text: str) -> list[tuple[int, int, str]]:
    """A sort key that puts n2 before n10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p]
