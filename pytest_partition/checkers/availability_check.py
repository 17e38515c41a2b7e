"""``availability(history)``: how often did each node, and each side of each
partition, answer?

A client operation counts once, by its outcome: ``ok`` (answered), ``fail``
(definitely refused) or ``info`` (no answer: timeout, lost reply, or never
completed). Shares are of all such operations, so ``ok_share`` is "the share
of requests answered".

Partitions come from the nemesis' events (``process == "nemesis"``): an event
with ``f == "partition"`` and a value ``{"spec", "kind", "cut", "groups"}``
starts a window, ``f == "heal"`` ends it, and a new partition replaces the one
in force. Invocations are skipped (a partition is in force once its call
returned); other faults (kill, pause, latency, ...) are ignored here.

Jepsen's nemesis is understood too: its events are ``info`` in pairs (the
request, then what was done), ``f`` is ``start-partition`` / ``start`` (a
partition, when what was done names one, such as ``[:isolated {"n1" #{"n2"}}]``:
node -> the nodes it no longer hears) and ``stop-partition`` / ``stop`` (the
heal). Jepsen's operations carry no node, so its histories get partition
windows but no per-side counts. An
operation belongs to the window it was *invoked* in, and a *side* is one
group of nodes of that partition; operations on nodes outside every group
(or without a node) count only in the totals.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..history import NEMESIS, Event, History
from ..topology import sides

__all__ = ["AvailabilityResult", "PartitionWindow", "Side", "Tally", "availability",
           "partition_windows", "window_of"]


@dataclass
class Tally:
    """Counts of outcomes; the shares are None when nothing was counted."""

    ok: int = 0
    fail: int = 0
    info: int = 0

    @property
    def total(self) -> int:
        """All counted operations."""
        return self.ok + self.fail + self.info

    def share(self, count: int) -> float | None:
        """``count`` / ``total``."""
        return count / self.total if self.total else None

    @property
    def ok_share(self) -> float | None:
        """Share of operations answered ``ok``."""
        return self.share(self.ok)

    @property
    def info_share(self) -> float | None:
        """Share of operations with an unknown outcome."""
        return self.share(self.info)

    @property
    def fail_share(self) -> float | None:
        """Share of operations definitely refused."""
        return self.share(self.fail)

    def count(self, outcome: str) -> None:
        """Add one operation that ended with ``outcome``."""
        if outcome == "ok":
            self.ok += 1
        elif outcome == "fail":
            self.fail += 1
        else:
            self.info += 1

    def words(self) -> str:
        """``97% ok of 120 (2% fail, 1% info)``."""
        if not self.total:
            return "no requests"
        rest = ", ".join(f"{_pct(self.share(n))} {name}" for name, n in
                         (("fail", self.fail), ("info", self.info)) if n)
        return f"{_pct(self.ok_share)} ok of {self.total}" + (f" ({rest})" if rest else "")

    def to_dict(self) -> dict[str, Any]:
        """Counts and shares."""
        return {"ok": self.ok, "fail": self.fail, "info": self.info, "total": self.total,
                "ok_share": self.ok_share, "info_share": self.info_share,
                "fail_share": self.fail_share}


@dataclass
class Side:
    """One group of nodes during one partition spec (summed over its windows)."""

    spec: str
    nodes: tuple[str, ...]
    cluster_size: int
    tally: Tally = field(default_factory=Tally)
    windows: int = 0

    @property
    def minority(self) -> bool:
        """True when the side holds no majority of the partitioned nodes."""
        return 2 * len(self.nodes) <= self.cluster_size and len(self.nodes) < self.cluster_size

    @property
    def name(self) -> str:
        """``{A,B}``."""
        return "{" + ",".join(self.nodes) + "}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"spec": self.spec, "nodes": list(self.nodes), "minority": self.minority,
                "windows": self.windows, **self.tally.to_dict()}


@dataclass
class PartitionWindow:
    """One partition, from the event that set it to the next heal or partition."""

    spec: str
    kind: str
    start: int
    end: int | None
    groups: list[tuple[str, ...]]
    sides: list[Side]
    first_index: int = 0
    last_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"spec": self.spec, "kind": self.kind, "start_ns": self.start,
                "end_ns": self.end, "sides": [side.to_dict() for side in self.sides]}


@dataclass
class AvailabilityResult:
    """Outcome of :func:`availability`; ``sides`` sums each (spec, group) over windows.

    ``healthy`` counts the operations invoked outside every partition: the
    share they got answered is the baseline a side is held to, so that
    timeouts a loaded machine causes everywhere do not read as a side's
    unavailability.
    """

    overall: Tally
    per_node: dict[str, Tally]
    per_node_partitioned: dict[str, Tally]
    per_node_healthy: dict[str, Tally]
    windows: list[PartitionWindow]
    sides: list[Side]
    healthy: Tally = field(default_factory=Tally)

    @property
    def baseline(self) -> float:
        """The share of ok answers outside partitions (1.0 when there were none)."""
        share = self.healthy.ok_share
        return 1.0 if share is None else share

    @property
    def partitioned(self) -> bool:
        """True when the history holds at least one partition."""
        return bool(self.windows)

    def worst_side(self) -> Side | None:
        """The side with the lowest ok share among sides that got requests."""
        busy = [side for side in self.sides if side.tally.total]
        return min(busy, key=lambda side: side.tally.ok_share or 0.0) if busy else None

    def sides_below(self, threshold: float) -> list[Side]:
        """Sides that did not answer as an available system does, load aside.

        A side fails when it definitely refused more than ``1 - threshold`` of
        its requests (load makes requests time out, not fail), or when its
        unanswered requests (refused or timed out) exceed what the run shows
        outside partitions, plus ``1 - threshold``, by more than three
        standard deviations of the count: two timeouts among 70 requests on a
        loaded machine say nothing, a minority that stops answering does.
        """
        unanswered_outside = 1.0 - self.baseline
        expected = min(1.0, unanswered_outside + 1.0 - threshold)
        below = []
        for side in self.sides:
            total = side.tally.total
            if not total:
                continue
            refused = side.tally.fail / total > 1.0 - threshold
            bound = total * expected + 3 * math.sqrt(total * expected * (1 - expected))
            if refused or total - side.tally.ok > bound:
                below.append(side)
        return below

    def explain(self) -> str:
        """Totals, each node, and each side of each partition."""
        lines = [f"availability: {self.overall.words()}"]
        for node, tally in self.per_node.items():
            line = f"  node {node}: {tally.words()}"
            if node in self.per_node_partitioned:
                line += (f"; partitioned {self.per_node_partitioned[node].words()}"
                         f", otherwise {self.per_node_healthy.get(node, Tally()).words()}")
            lines.append(line)
        if self.windows and self.healthy.total:
            lines.append(f"  outside partitions: {self.healthy.words()}")
        for side in self.sides:
            lines.append(f"  during {side.spec} ({side.windows} window(s)), side {side.name}"
                         f"{' (minority)' if side.minority else ''}: {side.tally.words()}")
        if not self.windows:
            lines.append("  no partition in this history")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        return {
            "checker": "availability",
            "overall": self.overall.to_dict(),
            "per_node": {n: t.to_dict() for n, t in self.per_node.items()},
            "per_node_partitioned": {n: t.to_dict() for n, t in self.per_node_partitioned.items()},
            "per_node_healthy": {n: t.to_dict() for n, t in self.per_node_healthy.items()},
            "windows": [window.to_dict() for window in self.windows],
            "sides": [side.to_dict() for side in self.sides],
            "healthy": self.healthy.to_dict(),
            "text": self.explain(),
        }


def availability(history: History) -> AvailabilityResult:
    """Measure answers per node, per node in and out of partitions, and per side."""
    history = history.snapshot()  # clients may still be appending
    windows = partition_windows(history)
    starts = [window.first_index for window in windows]
    overall = Tally()
    per_node: dict[str, Tally] = {}
    partitioned: dict[str, Tally] = {}
    healthy: dict[str, Tally] = {}
    outside = Tally()
    for op in history.operations():
        node = op.node if op.node is not None else "?"
        overall.count(op.type)
        per_node.setdefault(node, Tally()).count(op.type)
        window = window_of(op.invoke_index, windows, starts)
        if window is None:
            healthy.setdefault(node, Tally()).count(op.type)
            outside.count(op.type)
            continue
        partitioned.setdefault(node, Tally()).count(op.type)
        for side in window.sides:
            if node in side.nodes:
                side.tally.count(op.type)
                break
    sides: dict[tuple[str, tuple[str, ...]], Side] = {}
    for window in windows:
        for side in window.sides:
            total = sides.setdefault((side.spec, side.nodes),
                                     Side(side.spec, side.nodes, side.cluster_size))
            total.windows += 1
            for outcome in ("ok", "fail", "info"):
                setattr(total.tally, outcome,
                        getattr(total.tally, outcome) + getattr(side.tally, outcome))
    return AvailabilityResult(overall, dict(sorted(per_node.items())), partitioned, healthy,
                              windows, list(sides.values()), outside)


def window_of(index: int, windows: list[PartitionWindow],
               starts: list[int]) -> PartitionWindow | None:
    position = bisect.bisect_right(starts, index) - 1
    if position < 0:
        return None
    window = windows[position]
    if window.last_index is not None and index > window.last_index:
        return None
    return window


def partition_windows(history: History) -> list[PartitionWindow]:
    """The history's partitions, each from the event that set it to the next heal
    or partition (its sides' tallies empty)."""
    faults = history.faults()
    nodes = sorted({e.node for e in history.client_events() if e.node is not None})
    windows: list[PartitionWindow] = []

    def close(event: Event) -> None:
        if windows and windows[-1].last_index is None:
            windows[-1].last_index = event.index
            windows[-1].end = event.time

    def open_window(event: Event, spec: str, kind: str, groups: list[tuple[str, ...]]) -> None:
        close(event)  # a new partition replaces the one in force
        size = sum(len(group) for group in groups)
        windows.append(PartitionWindow(
            spec=spec, kind=kind, start=event.time, end=None, groups=groups,
            sides=[Side(spec, group, size) for group in groups], first_index=event.index,
        ))

    requested: set[str] = set()  # Jepsen: nemesis requests awaiting what was done
    for event in faults:
        if event.process != NEMESIS or event.type == "invoke":
            continue
        f = event.f
        if event.type == "info" and (f in JEPSEN_STARTS or f in JEPSEN_STOPS):
            # Jepsen logs each nemesis operation twice, both as info: the
            # request first; act on the second, which says what was done.
            if f not in requested:
                requested.add(f)
                continue
            requested.discard(f)
            if f in JEPSEN_STOPS:
                close(event)
                continue
            grudge = _jepsen_grudge(event.value)
            if grudge is None and f == "start":
                continue  # some other fault (a kill, a clock change)
            cut = [(src, dst) for dst, srcs in (grudge or {}).items() for src in srcs]
            groups = _groups_from_cut(cut, nodes) if cut else [tuple(nodes)] if nodes else []
            spec = _grudge_spec(groups) if cut else f"{f} {event.value!r}"
            open_window(event, spec, "drop", groups)
        elif f == "heal":
            close(event)
        elif f == "partition":
            open_window(event, *_describe(event.value, nodes))
    return windows


JEPSEN_STARTS = frozenset({"start", "start-partition", "partition-start"})
JEPSEN_STOPS = frozenset({"stop", "stop-partition", "partition-stop"})


def _jepsen_grudge(value: Any) -> dict[str, list[str]] | None:
    """Jepsen's grudge (node -> nodes it drops traffic from) from what was done.

    Accepts ``{"n1" ["n2"]}`` and ``["isolated", {...}]`` (the keyword read as
    a string); None when the value names no partition.
    """
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], dict):
        value = value[1]
    if not isinstance(value, dict) or not value:
        return None
    grudge: dict[str, list[str]] = {}
    for node, others in value.items():
        if not isinstance(others, (list, tuple, set, frozenset)):
            return None
        grudge[str(node)] = [str(other) for other in others]
    return grudge


def _grudge_spec(groups: list[tuple[str, ...]]) -> str:
    """A grudge in our spec syntax: ``n1|n2,n3``."""
    return "|".join(",".join(group) for group in groups)


def _describe(value: Any, nodes: list[str]) -> tuple[str, str, list[tuple[str, ...]]]:
    if not isinstance(value, dict):
        return str(value), "drop", [tuple(nodes)] if nodes else []
    spec = str(value.get("spec", "?"))
    kind = str(value.get("kind", "drop"))
    raw = value.get("groups") or []
    groups = [tuple(sorted(str(n) for n in group)) for group in raw if group]
    if groups:
        return spec, kind, groups
    return spec, kind, _groups_from_cut(value.get("cut") or [], nodes)


def _groups_from_cut(cut: Iterable[Any], nodes: list[str]) -> list[tuple[str, ...]]:
    """Nodes that still talk both ways, grouped (connected components)."""
    broken = {(str(pair[0]), str(pair[1])) for pair in cut if len(pair) == 2}
    members = sorted(set(nodes) | {n for pair in broken for n in pair})
    return list(sides(members, broken))


def _pct(share: float | None) -> str:
    if share is None:
        return "-"
    if 0 < share < 0.01:
        return "<1%"
    if 0.99 < share < 1:
        return ">99%"
    return f"{share:.0%}"
