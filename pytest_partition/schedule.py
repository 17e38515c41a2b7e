"""Fault schedules as data: what was done to the cluster, from when, until when.

A :class:`Schedule` is what a nemesis applied, recorded exactly: each
:class:`ScheduledFault` has its start and end, in seconds from the moment the
nemesis started, and its concrete shape (``"n1|n2,n3"``, not
``"random-halves"``; the node killed, not ``"random"``). Saved as
``schedule.json`` in a test's artifacts, it is replayed with
``--partition-replay`` or :meth:`Nemesis.replay
<pytest_partition.nemesis.Nemesis.replay>`, and shrunk by
``--partition-shrink``. :func:`plan_windows` draws the fault windows of a new
schedule from a seeded random stream.

The file::

    {"format": "pytest-partition/schedule", "version": 1, "test": "...",
     "seed": 123, "runs": [{"faults": [
        {"start": 0.31, "end": 2.52, "fault": "partition", "spec": "n1|n2,n3",
         "kind": "drop", "intent": "isolate:leader"},
        {"start": 3.1, "end": 3.4, "fault": "kill", "node": "n2"}]}]}

``runs`` holds one list per nemesis the test started, in order (each
``cluster.run(nemesis=...)`` and the nemesis marker start one).
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .durations import MAX_SECONDS, accepted, seconds_problem
from .errors import ArgumentError

__all__ = [
    "FAULTS",
    "SCHEDULE_FILE",
    "Schedule",
    "ScheduleError",
    "ScheduledFault",
    "plan_windows",
]

FORMAT = "pytest-partition/schedule"
VERSION = 1
SCHEDULE_FILE = "schedule.json"
#: The kinds of fault a schedule can hold.
FAULTS = ("partition", "kill", "pause", "latency")
_PARTITION_KINDS = ("drop", "reject")


class ScheduleError(ArgumentError):
    """A schedule that cannot be read or applied; the message says where and why."""


@dataclass(frozen=True)
class ScheduledFault:
    """One fault of a schedule, in force from ``start`` to ``end`` (seconds).

    ``fault`` is ``"partition"`` (with ``spec`` and ``kind``), ``"kill"`` or
    ``"pause"`` (with ``node``), or ``"latency"`` (with ``ms``, ``jitter_ms``
    and ``links``: None for every link). ``intent`` says what it was drawn
    from (``"isolate:leader"``); it is not used to apply it.
    """

    start: float
    end: float
    fault: str
    spec: str | None = None
    kind: str = "drop"
    node: str | None = None
    ms: float | None = None
    jitter_ms: float = 0.0
    links: tuple[tuple[str, str], ...] | None = None
    intent: str | None = None

    @property
    def length(self) -> float:
        """How long the fault is in force, in seconds."""
        return self.end - self.start

    def shape(self) -> str:
        """The fault without its times: ``partition n1|n2,n3``, ``kill n2``."""
        if self.fault == "partition":
            return f"partition {self.spec}" + (f" [{self.kind}]" if self.kind != "drop" else "")
        if self.fault in ("kill", "pause"):
            return f"{self.fault} {self.node}"
        jitter = f"±{self.jitter_ms:g}" if self.jitter_ms else ""
        where = "" if self.links is None else " on " + ";".join(f"{a}->{b}" for a, b in self.links)
        return f"latency {self.ms:g}{jitter} ms{where}"

    def describe(self) -> str:
        """One line: ``0.31-2.52 s  partition n1|n2,n3 (isolate:leader)``."""
        intent = f" ({self.intent})" if self.intent and self.intent not in self.shape() else ""
        return f"{self.start:.2f}-{self.end:.2f} s  {self.shape()}{intent}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: only the fields that apply to this kind of fault."""
        data: dict[str, Any] = {"start": round(self.start, 4), "end": round(self.end, 4),
                                "fault": self.fault}
        if self.fault == "partition":
            data.update(spec=self.spec, kind=self.kind)
        elif self.fault in ("kill", "pause"):
            data["node"] = self.node
        else:
            data.update(ms=self.ms, jitter_ms=self.jitter_ms,
                        links=None if self.links is None else [list(link) for link in self.links])
        if self.intent:
            data["intent"] = self.intent
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "fault") -> ScheduledFault:
        """Read one fault; :class:`ScheduleError` names the field and what is accepted."""
        if not isinstance(data, Mapping):
            raise ScheduleError(f"{where}: {data!r} is not an object; accepted: "
                                '{"start": 0.5, "end": 2.0, "fault": "partition", '
                                '"spec": "n1|n2,n3"}')
        fault = data.get("fault")
        if fault not in FAULTS:
            raise ScheduleError(f"{where}: fault {fault!r} is not one of {', '.join(FAULTS)}")
        start, end = (_seconds(data, name, where) for name in ("start", "end"))
        if end <= start:
            raise ScheduleError(f"{where}: end {end:g} must come after start {start:g}")
        known = {"start", "end", "fault", "intent"} | {
            "partition": {"spec", "kind"}, "kill": {"node"}, "pause": {"node"},
            "latency": {"ms", "jitter_ms", "links"}}[fault]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScheduleError(f"{where}: unknown field(s) {', '.join(unknown)} for a {fault} "
                                f"fault; accepted: {', '.join(sorted(known))}")
        intent = data.get("intent")
        if intent is not None and not isinstance(intent, str):
            raise ScheduleError(f"{where}: intent {intent!r} is not a string")
        if fault == "partition":
            spec, kind = data.get("spec"), data.get("kind", "drop")
            if not isinstance(spec, str) or not spec.strip():
                raise ScheduleError(f"{where}: a partition needs a spec such as 'n1|n2,n3', "
                                    f"got {spec!r}")
            if kind not in _PARTITION_KINDS:
                raise ScheduleError(f"{where}: kind {kind!r} is not one of "
                                    f"{', '.join(_PARTITION_KINDS)}")
            return cls(start, end, fault, spec=spec, kind=kind, intent=intent)
        if fault in ("kill", "pause"):
            node = data.get("node")
            if not isinstance(node, str) or not node.strip():
                raise ScheduleError(f"{where}: a {fault} needs the node's name, got {node!r}")
            return cls(start, end, fault, node=node, intent=intent)
        ms, jitter = data.get("ms"), data.get("jitter_ms", 0.0)
        for name, value in (("ms", ms), ("jitter_ms", jitter)):
            # The same rule as Latency's and the network's, checked at load.
            if seconds_problem(value, zero_ok=True, limit=MAX_SECONDS * 1000) is not None:
                raise ScheduleError(f"{where}: {name} {value!r} is not accepted; accepted: "
                                    + accepted(zero_ok=True, limit=MAX_SECONDS * 1000,
                                               unit="milliseconds"))
        links = data.get("links")
        if links is not None:
            if not isinstance(links, list) or not all(
                    isinstance(link, list) and len(link) == 2
                    and all(isinstance(n, str) for n in link) for link in links):
                raise ScheduleError(f"{where}: links {links!r} is not a list of [src, dst] "
                                    "pairs (or null: every link)")
            links = tuple((a, b) for a, b in links)
        return cls(start, end, fault, ms=float(ms), jitter_ms=float(jitter),  # type: ignore[arg-type]
                   links=links, intent=intent)

    def nodes(self) -> set[str]:
        """The node names this fault mentions (a partition's, or its node)."""
        if self.node is not None:
            return {self.node}
        names: set[str] = set()
        if self.spec is not None:
            for token in self.spec.replace("->", "|").replace(";", "|").split("|"):
                names.update(name.strip() for name in token.split(",") if name.strip())
        for link in self.links or ():
            names.update(link)
        return names


def _seconds(data: Mapping[str, Any], name: str, where: str) -> float:
    value = data.get(name)
    if seconds_problem(value, zero_ok=True) is not None:
        raise ScheduleError(f"{where}: {name} {value!r} is not a number of seconds from the "
                            f"nemesis' start; accepted: {accepted(zero_ok=True)}")
    return float(value)  # type: ignore[arg-type]  # a real number, checked above


@dataclass
class Schedule:
    """The faults a test's nemeses applied: one list per nemesis, in order."""

    runs: list[list[ScheduledFault]] = field(default_factory=list)
    test: str | None = None
    seed: int | None = None

    @property
    def faults(self) -> list[ScheduledFault]:
        """Every fault of every run, in order."""
        return [fault for run in self.runs for fault in run]

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def describe(self) -> list[str]:
        """One line per fault (run numbers shown when there are several runs)."""
        several = len(self.runs) > 1
        return [(f"run {number}: " if several else "") + fault.describe()
                for number, run in enumerate(self.runs, start=1) for fault in run]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module doc)."""
        return {"format": FORMAT, "version": VERSION, "test": self.test, "seed": self.seed,
                "runs": [{"faults": [fault.to_dict() for fault in run]} for run in self.runs]}

    def save(self, path: str | Path) -> Path:
        """Write the schedule as JSON and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_dict(cls, data: Any, where: str = "schedule") -> Schedule:
        """Read the JSON form; :class:`ScheduleError` says what is wrong and where."""
        if isinstance(data, list):  # a bare list of faults: one run
            data = {"runs": [{"faults": data}]}
        if not isinstance(data, Mapping) or not isinstance(data.get("runs"), list):
            raise ScheduleError(f"{where}: not a schedule; accepted: an object with \"runs\": "
                                "[{\"faults\": [...]}], or a list of faults")
        if data.get("format", FORMAT) != FORMAT or data.get("version", VERSION) != VERSION:
            raise ScheduleError(f"{where}: format {data.get('format')!r} version "
                                f"{data.get('version')!r} is not {FORMAT!r} version {VERSION}")
        runs = []
        for number, run in enumerate(data["runs"], start=1):
            faults = run.get("faults") if isinstance(run, Mapping) else None
            if not isinstance(faults, list):
                raise ScheduleError(f"{where}: run {number} has no \"faults\" list")
            runs.append(sorted((ScheduledFault.from_dict(item, f"{where}: run {number}, "
                                                               f"fault {position}")
                                for position, item in enumerate(faults, start=1)),
                               key=lambda fault: fault.start))
        seed = data.get("seed")
        schedule = cls(runs, test=data.get("test"),
                       seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None)
        for number, run in enumerate(schedule.runs, start=1):
            _check_overlaps(run, f"{where}: run {number}")
        return schedule

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        """Read a ``schedule.json``, or the one inside an artifacts folder."""
        source = find_schedule(Path(path))
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise ScheduleError(f"{source}: cannot read it: {error}") from None
        except json.JSONDecodeError as error:
            raise ScheduleError(f"{source}: line {error.lineno}: not JSON ({error.msg})") from None
        return cls.from_dict(data, str(source))

    @classmethod
    def of(cls, value: str | Path | Schedule | Sequence[ScheduledFault | Mapping[str, Any]]
           ) -> Schedule:
        """A schedule from a path, a Schedule, or a list of faults (one run)."""
        if isinstance(value, Schedule):
            return value
        if isinstance(value, (str, Path)):
            return cls.load(value)
        if isinstance(value, Iterable):
            items = list(value)
            if all(isinstance(item, ScheduledFault) for item in items):
                faults = sorted(items, key=lambda f: f.start)  # type: ignore[union-attr]
                _check_overlaps(faults, "faults")  # type: ignore[arg-type]
                return cls([faults])  # type: ignore[list-item]
            return cls.from_dict(items, "faults")
        raise ScheduleError(f"{value!r} is not a schedule; give a schedule.json path, an "
                            "artifacts folder, a Schedule, or a list of faults")

    def replaced(self, faults: Sequence[tuple[int, ScheduledFault]]) -> Schedule:
        """A schedule with the same runs holding only ``faults`` ((run, fault) pairs)."""
        runs: list[list[ScheduledFault]] = [[] for _ in self.runs]
        for number, fault in faults:
            runs[number].append(fault)
        return Schedule([sorted(run, key=lambda f: f.start) for run in runs],
                        test=self.test, seed=self.seed)

    def numbered(self) -> list[tuple[int, ScheduledFault]]:
        """(run index, fault) for every fault, in order."""
        return [(number, fault) for number, run in enumerate(self.runs) for fault in run]


def find_schedule(path: Path) -> Path:
    """``path`` itself, or the ``schedule.json`` in the folder ``path`` (or one level
    down, as in a test's artifacts folder with one folder per cluster)."""
    if path.is_dir():
        direct = path / SCHEDULE_FILE
        if direct.is_file():
            return direct
        nested = sorted(path.glob(f"*/{SCHEDULE_FILE}"))
        if len(nested) == 1:
            return nested[0]
        if nested:
            raise ScheduleError(f"{path} holds several schedules "
                                f"({', '.join(str(p) for p in nested)}); name one of them")
        raise ScheduleError(f"{path} holds no {SCHEDULE_FILE}; give the file, or the artifacts "
                            "folder of a test that applied faults")
    if not path.exists():
        raise ScheduleError(f"{path}: no such file or folder; give a {SCHEDULE_FILE} or an "
                            "artifacts folder that holds one")
    return path


def _check_overlaps(faults: Sequence[ScheduledFault], where: str) -> None:
    """Partitions replace each other and latencies too: two of one at once, or two
    faults of one node at once, cannot both be applied as recorded."""
    active: dict[str, ScheduledFault] = {}
    for fault in sorted(faults, key=lambda f: f.start):
        slot = fault.fault if fault.fault in ("partition", "latency") else f"node {fault.node}"
        earlier = active.get(slot)
        if earlier is not None and earlier.end > fault.start:
            raise ScheduleError(f"{where}: {fault.describe()} overlaps {earlier.describe()}; "
                                f"one {slot if slot.startswith('node') else fault.fault} fault "
                                "at a time")
        active[slot] = fault


# -- planning new schedules ------------------------------------------------------------

#: Bounds of a fault window drawn with the long tail (seconds).
SHORTEST_WINDOW, LONGEST_WINDOW = 0.15, 3.0
#: Bounds of the healed time between two windows (seconds).
SHORTEST_GAP, LONGEST_GAP = 0.2, 1.0
#: Shorter than this is a blip; at least this long outlasts common timeouts.
BLIP, LONG = 0.5, 1.5


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    """Log-uniform on [low, high]: as many windows of 0.2-0.4 s as of 1.5-3 s."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def plan_windows(rng: random.Random, duration: float | None = None, *, hold: float = 0.0,
                 interval: float | None = None, heal_interval: float | None = None,
                 long: float = LONG) -> Iterator[tuple[float, float]]:
    """Fault windows ``(start, end)`` in seconds from the nemesis' start.

    With ``interval``, every window lasts ``interval`` and every gap
    ``heal_interval`` (default: ``interval``). Otherwise windows have random
    lengths with a long tail (:data:`SHORTEST_WINDOW` to
    :data:`LONGEST_WINDOW`, log-uniform), so that a run sees both blips and
    cuts that outlast timeouts: the first window is a blip, the second lasts
    at least ``long`` seconds.

    With ``duration`` (a bounded run), the windows end by ``duration + hold``,
    and the last one is in force at ``duration`` and held until
    ``duration + hold``: the run's clients stop while it is still cut, and
    the system's own timeouts expire before it heals. When the run is too
    short for a long window before the last one, the last one is the long
    one. Without ``duration`` the windows go on for ever.
    """
    if interval is not None:
        yield from _fixed_windows(float(interval), heal_interval, duration, hold)
        return

    def gap() -> float:
        return float(heal_interval) if heal_interval is not None else _log_uniform(
            rng, SHORTEST_GAP, LONGEST_GAP)

    if duration is None:
        now = gap()
        for number in itertools.count():
            low, high = ((SHORTEST_WINDOW, BLIP) if number == 0 else
                         (long, max(long, LONGEST_WINDOW)) if number == 1 else
                         (SHORTEST_WINDOW, LONGEST_WINDOW))
            length = _log_uniform(rng, low, high)
            yield now, now + length
            now += length + gap()
    assert duration is not None
    now = min(_log_uniform(rng, SHORTEST_GAP, 0.5), duration / 2)  # a healthy start, briefly
    # The last window is cut for most of a long window before the clients stop.
    last_start = max(now, duration - _log_uniform(rng, 0.75 * long, long))
    if last_start - now < long + SHORTEST_GAP:
        # No room for a long window before it: the last one is the long one,
        # after a blip if one fits.
        last_start = max(now, duration - long)
        blip = _log_uniform(rng, SHORTEST_WINDOW, BLIP)
        if now + blip + SHORTEST_GAP <= last_start:
            yield now, now + blip
        yield last_start, duration + hold
        return
    for number in itertools.count():
        room = last_start - SHORTEST_GAP - now
        if number == 0:
            length = _log_uniform(rng, SHORTEST_WINDOW, BLIP)
            if room - length - 2 * SHORTEST_GAP < long:  # the long window comes first
                length = 0.0
        elif number == 1:
            length = min(_log_uniform(rng, long, max(long, LONGEST_WINDOW)), room)
        else:
            length = _log_uniform(rng, SHORTEST_WINDOW, LONGEST_WINDOW)
            if length > room:
                break
        if length > 0:
            yield now, now + length
            # The gap leaves room for what must still come: after the blip, a
            # long window; after that, the last one.
            later = long + SHORTEST_GAP if number == 0 else 0.0
            now += length + min(gap(), max(SHORTEST_GAP, last_start - now - length - later))
        if now >= last_start - SHORTEST_GAP:
            break
    yield max(now, last_start), duration + hold


def _fixed_windows(interval: float, heal_interval: float | None, duration: float | None,
                   hold: float) -> Iterator[tuple[float, float]]:
    """Windows of ``interval`` seconds every ``interval + heal_interval``; bounded
    by ``duration`` as :func:`plan_windows` says."""
    gap = interval if heal_interval is None else heal_interval
    now = 0.0
    while duration is None or now + interval + gap < duration:
        yield now, now + interval
        now += interval + gap
    if duration is not None:
        yield min(now, max(0.0, duration - interval)), duration + hold


def shortened(fault: ScheduledFault, factor: float = 0.5, shortest: float = 0.05
              ) -> ScheduledFault:
    """The fault with its window ``factor`` times as long (keeping its start)."""
    return replace(fault, end=fault.start + max(shortest, fault.length * factor))
