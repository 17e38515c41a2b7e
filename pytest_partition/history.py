"""Recorded histories: events in Jepsen's model, and their JSON Lines form.

Every client call becomes two events: an ``invoke`` when the request leaves the
test process, and a completion when its outcome is known: ``ok`` (it
happened), ``fail`` (it definitely did not happen) or ``info`` (nobody can
tell). Faults injected by the test are single ``info`` events of the process
``"nemesis"``.

Values follow one rule so that any service can be recorded: the ``invoke``
event carries the call's input (the arguments after the key) and the ``ok``
event carries what the call returned. Models in :mod:`pytest_partition.checkers`
read both through :class:`Operation`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

EventType = Literal["invoke", "ok", "fail", "info"]
EVENT_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"

__all__ = [
    "NEMESIS",
    "Event",
    "History",
    "HistoryError",
    "Operation",
]


class HistoryError(ValueError):
    """A history file or event that does not follow the documented format."""


@dataclass(frozen=True)
class Event:
    """One line of a history.

    ``time`` is in nanoseconds on a monotonic clock, counted from the start of
    the history. ``process`` is an int for clients and ``"nemesis"`` for faults.
    ``error`` says why a ``fail`` or ``info`` completion ended that way.
    """

    index: int
    time: int
    process: int | str
    type: str
    f: str
    key: Any = None
    value: Any = None
    node: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict; ``error`` is left out when empty."""
        data = asdict(self)
        if data["error"] is None:
            del data["error"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "event") -> Event:
        """Build an event from a parsed JSON object, checking every field."""
        if not isinstance(data, dict):
            raise HistoryError(f"{where}: expected a JSON object, got {type(data).__name__}")
        missing = [name for name in ("process", "type", "f") if name not in data]
        if missing:
            raise HistoryError(
                f"{where}: missing field(s) {', '.join(missing)}; an event needs "
                "process, type and f (index, time, node, key, value are optional)"
            )
        kind = data["type"]
        if kind not in EVENT_TYPES:
            raise HistoryError(
                f"{where}: type {kind!r} is not one of {', '.join(EVENT_TYPES)}"
            )
        process = data["process"]
        if isinstance(process, bool) or not isinstance(process, (int, str)):
            raise HistoryError(f"{where}: process {process!r} must be an int or a string")
        if not isinstance(data["f"], str):
            raise HistoryError(f"{where}: f {data['f']!r} must be a string")
        unknown = set(data) - {f.name for f in cls.__dataclass_fields__.values()}
        if unknown:
            # Other tools add their own fields; they are kept out of our model
            # rather than rejected, so foreign histories still load.
            data = {k: v for k, v in data.items() if k not in unknown}
        index = data.get("index", -1)
        when = data.get("time", 0)
        for name, number in (("index", index), ("time", when)):
            if isinstance(number, bool) or not isinstance(number, int):
                raise HistoryError(f"{where}: {name} {number!r} must be an integer")
        return cls(
            index=index,
            time=when,
            process=process,
            type=kind,
            f=data["f"],
            key=data.get("key"),
            value=data.get("value"),
            node=data.get("node"),
            # Other tools put structured errors here ([:timeout "..."]): keep
            # them readable as text.
            error=None if data.get("error") is None else str(data["error"]),
        )


@dataclass(frozen=True)
class Operation:
    """An invocation paired with its completion.

    ``value`` is the input (from the invoke event), ``output`` what an ``ok``
    completion returned. ``type`` is the completion's type; an invocation that
    never completed counts as ``info`` with ``end`` = None (it may take effect
    at any time after ``start``).
    """

    process: int | str
    node: str | None
    f: str
    key: Any
    value: Any
    output: Any
    type: str
    start: int
    end: int | None
    invoke_index: int
    complete_index: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the operation definitely happened."""
        return self.type == "ok"

    def describe(self) -> str:
        """One line a person can read: who did what, and how it ended."""
        key = "" if self.key is None else f" {self.key!r}"
        args = "" if self.value is None else f" {self.value!r}"
        # A read that returned nothing says so: "-> None" is the point of it.
        shows_output = self.output is not None or self.f in ("read", "get")
        result = f" -> {self.output!r}" if self.type == "ok" and shows_output else ""
        node = f" on {self.node}" if self.node else ""
        end = "..." if self.end is None else f"{self.end / 1e6:.1f}"
        outcome = self.type if self.error is None else f"{self.type} ({self.error})"
        return (
            f"process {self.process}{node}: {self.f}{key}{args}{result}  "
            f"[{outcome}, {self.start / 1e6:.1f}-{end} ms]"
        )


@dataclass
class History:
    """A thread-safe, append-only list of :class:`Event`.

    Clients append from many threads; ``index`` and ``time`` are assigned under
    one lock so that index order is time order.
    """

    events: list[Event] = field(default_factory=list)
    origin_ns: int = field(default_factory=time.monotonic_ns)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- recording ---------------------------------------------------------

    def append(
        self,
        *,
        process: int | str,
        type: str,
        f: str,
        key: Any = None,
        value: Any = None,
        node: str | None = None,
        error: str | None = None,
    ) -> Event:
        """Record an event now and return it."""
        if type not in EVENT_TYPES:
            raise HistoryError(f"type {type!r} is not one of {', '.join(EVENT_TYPES)}")
        with self._lock:
            event = Event(
                index=len(self.events),
                time=time.monotonic_ns() - self.origin_ns,
                process=process,
                type=type,
                f=f,
                key=key,
                value=value,
                node=node,
                error=error,
            )
            self.events.append(event)
        return event

    # -- reading -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self.events))

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def snapshot(self) -> History:
        """A copy that later appends do not change."""
        with self._lock:
            return History(events=list(self.events), origin_ns=self.origin_ns)

    def client_events(self) -> list[Event]:
        """Every event except the nemesis' ones."""
        return [e for e in self.events if e.process != NEMESIS]

    def faults(self) -> list[Event]:
        """The nemesis' events (partitions, heals, kills, ...), in order."""
        return [e for e in self.events if e.process == NEMESIS]

    def operations(self) -> list[Operation]:
        """Pair each invoke with the next completion of the same process.

        Raises :class:`HistoryError` when a process invokes twice without a
        completion in between, or completes something it never invoked:
        such a history cannot be checked.
        """
        pending: dict[int | str, Event] = {}
        done: list[tuple[Event, Event | None]] = []
        for event in self.events:
            if event.process == NEMESIS:
                continue
            if event.type == "invoke":
                if event.process in pending:
                    first = pending[event.process]
                    raise HistoryError(
                        f"event {event.index}: process {event.process!r} invokes {event.f!r} "
                        f"while its {first.f!r} from event {first.index} has not completed; "
                        "each process runs one operation at a time (after an 'info' "
                        "completion, continue as a new process)"
                    )
                pending[event.process] = event
            else:
                invoke = pending.pop(event.process, None)
                if invoke is None:
                    raise HistoryError(
                        f"event {event.index}: process {event.process!r} completes {event.f!r} "
                        f"({event.type}) without an invoke before it"
                    )
                if invoke.f != event.f:
                    raise HistoryError(
                        f"event {event.index}: completion f {event.f!r} does not match "
                        f"the invoke at event {invoke.index} (f {invoke.f!r})"
                    )
                done.append((invoke, event))
        done.extend((invoke, None) for invoke in pending.values())
        done.sort(key=lambda pair: pair[0].index)
        return [_pair(invoke, completion) for invoke, completion in done]

    # -- files -------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the history as JSON Lines (one event per line) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            lines = [json.dumps(e.to_dict(), default=repr) for e in self.events]
        target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return target

    @classmethod
    def from_events(cls, events: Iterable[Event | dict[str, Any]]) -> History:
        """Build a history from events or dicts; missing indexes are numbered in order."""
        built: list[Event] = []
        for position, item in enumerate(events):
            event = item if isinstance(item, Event) else Event.from_dict(
                item, where=f"event {position}"
            )
            if event.index != position:
                event = Event(**{**asdict(event), "index": position})
            built.append(event)
        return cls(events=built, origin_ns=0)

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a history file: our JSON Lines, or Jepsen's one-map-per-line EDN.

        Jepsen keywords become strings (``:read`` -> ``"read"``) and ``nil``
        becomes None. A line that is neither names its line number.
        """
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as error:
            raise HistoryError(f"{source}: cannot read history ({error.strerror})") from error
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith(";"):
                continue
            rows.append(_parse_line(stripped, f"{source}:{number}"))
        return cls.from_events(
            _event_from_row(row, f"{source}:{position + 1}") for position, row in enumerate(rows)
        )


def _parse_line(line: str, where: str) -> dict[str, Any]:
    # Jepsen prints maps ({:type :invoke ...}) and, lately, records
    # (#jepsen.history.Op{...}); our JSON objects start with {" instead.
    if line.startswith("#") or line[1:].lstrip().startswith(":"):
        from .edn import parse_map  # Jepsen's EDN, a small reader of our own

        try:
            return parse_map(line)
        except ValueError as error:
            raise HistoryError(f"{where}: not a Jepsen EDN map: {error}") from error
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise HistoryError(
            f"{where}: not JSON ({error.msg} at column {error.colno}); expected one JSON "
            "object per line, or one Jepsen EDN map per line"
        ) from error
    if not isinstance(data, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def _event_from_row(row: dict[str, Any], where: str) -> Event:
    return Event.from_dict(row, where=where)


def _pair(invoke: Event, completion: Event | None) -> Operation:
    if completion is None:
        return Operation(
            process=invoke.process,
            node=invoke.node,
            f=invoke.f,
            key=invoke.key,
            value=invoke.value,
            output=None,
            type="info",
            start=invoke.time,
            end=None,
            invoke_index=invoke.index,
            complete_index=None,
            error="never completed",
        )
    return Operation(
        process=invoke.process,
        node=invoke.node if invoke.node is not None else completion.node,
        f=invoke.f,
        key=invoke.key if invoke.key is not None else completion.key,
        value=invoke.value,
        output=completion.value if completion.type == "ok" else None,
        type=completion.type,
        start=invoke.time,
        # An info completion says nothing about when (or whether) the operation
        # took effect: it stays open to the end of time.
        end=None if completion.type == "info" else completion.time,
        invoke_index=invoke.index,
        complete_index=completion.index,
        error=completion.error,
    )
