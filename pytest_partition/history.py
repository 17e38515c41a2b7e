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

NaN is not a value (:data:`NAN_RULE`): it equals nothing, not even itself, so
a checker comparing what was written with what was read would call a correct
store wrong. :meth:`History.load` refuses a file holding one, and the
checkers refuse a history holding one (:func:`refuse_nan`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .edn import EdnError, looks_like_edn, read_events

EventType = Literal["invoke", "ok", "fail", "info"]
EVENT_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"

__all__ = [
    "NAN_RULE",
    "NEMESIS",
    "Event",
    "History",
    "HistoryError",
    "Operation",
    "PLUMBING",
    "nan_path",
    "outcome_counts",
    "refuse_nan",
]

NAN_RULE = ("NaN is not a value: it equals nothing, not even itself, so no checker could "
            "compare it with what was written; use None, a string or a finite number")
"""Why a NaN is refused, the end of every such error message."""


#: Calls that read a node's health or replica rather than operate on it.
PLUMBING = frozenset({"ping", "state", "role", "stats"})


class HistoryError(ValueError):
    """A history file or event that does not follow the documented format."""


def nan_path(value: Any) -> str | None:
    """Where a NaN sits in ``value``, or None when it holds none.

    ``""`` for ``value`` itself, else the subscripts that reach it:
    ``"[1]"``, ``"['price'][0]"`` (dict keys are looked at too).
    """
    if isinstance(value, float):
        return "" if value != value else None  # noqa: PLR0124 - only NaN differs from itself
    if isinstance(value, dict):
        for key, item in value.items():
            inner = nan_path(key)
            if inner is not None:
                return f" (as a key){inner}"
            inner = nan_path(item)
            if inner is not None:
                return f"[{key!r}]{inner}"
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            inner = nan_path(item)
            if inner is not None:
                return f"[{position}]{inner}"
    return None


def refuse_nan(history: History | Iterable[Operation]) -> None:
    """Raise :class:`HistoryError` (a ValueError) naming the first event that holds NaN.

    For a :class:`History` the event is named by :meth:`History.source`
    (file and line for a loaded one); for a list of :class:`Operation` by
    the operation and its event indexes. Anything else is left for the
    caller to refuse.
    """
    if isinstance(history, History):
        for event in history.events:
            if type(event.key) in _SCALARS and type(event.value) in _SCALARS:
                continue  # the common case, without a call
            where = _nan_field({"key": event.key, "value": event.value})
            if where is not None:
                raise HistoryError(
                    f"{history.source(event.index)}: the {event.type} event of process "
                    f"{event.process!r} ({event.f}) holds NaN in its {where}; {NAN_RULE}"
                )
        return
    if isinstance(history, (str, bytes)) or not isinstance(history, Iterable):
        return
    for op in list(history):
        if not isinstance(op, Operation):
            return
        if type(op.key) in _SCALARS and type(op.value) in _SCALARS and type(
                op.output) in _SCALARS:
            continue
        where = _nan_field({"key": op.key, "input": op.value, "output": op.output})
        if where is not None:
            events = f"event {op.invoke_index}" + (
                "" if op.complete_index is None else f" and {op.complete_index}")
            raise HistoryError(f"{op.describe()} ({events}) holds NaN in its {where}; {NAN_RULE}")


_SCALARS = frozenset({str, int, bool, type(None)})
"""Types that cannot hold a NaN (a float can; so can anything holding values)."""


def _nan_field(fields: dict[str, Any]) -> str | None:
    """``value[1]`` for the first of ``fields`` that holds NaN, None if none does."""
    for name, value in fields.items():
        inner = nan_path(value)
        if inner is not None:
            return name + inner
    return None


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
        """Build an event from a parsed JSON object, checking every field.

        ``index`` defaults to -1 and ``time`` to 0 (:meth:`History.from_events`
        and :meth:`History.load` number the events and carry the previous
        event's time forward instead). ``where`` starts every error message.
        """
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


def outcome_counts(events: Iterable[Event]) -> dict[str, int]:
    """How many client operations among ``events`` completed ``ok``, ``fail``
    and ``info`` (nemesis events and :data:`PLUMBING` calls left out)."""
    tally = {"ok": 0, "fail": 0, "info": 0}
    for event in events:
        if event.type in tally and event.process != NEMESIS and event.f not in PLUMBING:
            tally[event.type] += 1
    return tally


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
        # Where loaded events came from: event i is line _source_lines[i] of
        # _source_file. Kept here rather than on Event, which is public and
        # saved: a line number is a fact about one file, not about the event.
        self._source_file: str | None = None
        self._source_lines: list[int] = []

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
            copy = History(events=list(self.events), origin_ns=self.origin_ns)
        copy._source_file, copy._source_lines = self._source_file, self._source_lines
        return copy

    def source(self, index: int) -> str:
        """Where event ``index`` came from, as error messages name it.

        ``"path:line"`` for an event read by :meth:`load` (the line where it
        starts), ``"event <index>"`` for any other.
        """
        if self._source_file is not None and 0 <= index < len(self._source_lines):
            return f"{self._source_file}:{self._source_lines[index]}"
        return f"event {index}"

    def client_events(self) -> list[Event]:
        """Every event except the nemesis' ones."""
        return [e for e in self.events if e.process != NEMESIS]

    def faults(self) -> list[Event]:
        """The nemesis' events (partitions, heals, kills, ...), in order."""
        return [e for e in self.events if e.process == NEMESIS]

    def counts(self) -> dict[str, int]:
        """Completed client operations by outcome (``ok``, ``fail``, ``info``).

        The harness's own calls (:data:`PLUMBING`: ping, state, role, stats)
        are left out: they are not operations of the system under test.
        """
        return outcome_counts(self.events)

    def operations(self) -> list[Operation]:
        """Pair each invoke with the next completion of the same process.

        Raises :class:`HistoryError` when a process invokes twice without a
        completion in between, or completes something it never invoked:
        such a history cannot be checked. The message names the events by
        :meth:`source`: file and line for a loaded history.
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
                        f"{self.source(event.index)}: process {event.process!r} invokes "
                        f"{event.f!r} while its {first.f!r} from {self.source(first.index)} "
                        "has not completed; "
                        "each process runs one operation at a time (after an 'info' "
                        "completion, continue as a new process)"
                    )
                pending[event.process] = event
            else:
                invoke = pending.pop(event.process, None)
                if invoke is None:
                    raise HistoryError(
                        f"{self.source(event.index)}: process {event.process!r} completes "
                        f"{event.f!r} ({event.type}) without an invoke before it"
                    )
                if invoke.f != event.f:
                    raise HistoryError(
                        f"{self.source(event.index)}: completion f {event.f!r} does not match "
                        f"the invoke at {self.source(invoke.index)} (f {invoke.f!r})"
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
        """Build a history from events or dicts; missing indexes are numbered in order.

        The order given is the history's order: a dict without ``"time"``
        takes the time of the event before it (0 for the first), so that it
        keeps its place among timed events instead of moving to the start.
        """
        return cls._build((f"event {position}", item) for position, item in enumerate(events))

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a history file: our JSON Lines, or Jepsen's or Knossos' EDN.

        JSON Lines: one object per line. EDN: maps one after another (one per
        line, or spread over lines), or one vector/list of maps. Keywords
        become strings (``:read`` -> ``"read"``), ``nil`` becomes None, sets
        become sorted lists. Blank lines, ``;`` comment lines and a UTF-8
        byte-order mark are skipped. Events keep the file's order, and one
        without a time takes the time of the event before it.

        Raises :class:`HistoryError` naming the file and the line (where the
        bad event starts) for anything else, and for a NaN anywhere (JSON's
        ``NaN``, EDN's ``##NaN``: see :data:`NAN_RULE`). Pairing problems (a completion
        without an invoke, ...) are left for :meth:`operations`, whose
        messages name the same file and line.
        """
        source = Path(path)
        try:
            data = source.read_bytes()
        except OSError as error:
            raise HistoryError(f"{source}: cannot read history ({error.strerror})") from error
        text = _decode(data, source)
        rows = _edn_rows(text, source) if looks_like_edn(text) else _json_rows(text, source)
        lines: list[int] = []

        def located() -> Iterator[tuple[str, dict[str, Any]]]:
            # One pass, rows read as they are built: the first error in file
            # order is the one reported, syntax or field.
            for line, row in rows:
                lines.append(line)
                where = _nan_field({f"field {name!r}": value for name, value in row.items()})
                if where is not None:  # JSON's NaN, EDN's ##NaN
                    raise HistoryError(f"{source}:{line}: NaN in {where}; {NAN_RULE}")
                yield f"{source}:{line}", row

        history = cls._build(located())
        history._source_file, history._source_lines = str(source), lines
        return history

    @classmethod
    def _build(cls, items: Iterable[tuple[str, Event | dict[str, Any]]]) -> History:
        """A history of ``(where, event or dict)`` items, numbered in order."""
        built: list[Event] = []
        previous_time = 0
        for position, (where, item) in enumerate(items):
            if isinstance(item, Event):
                event = item
            else:
                if isinstance(item, dict) and "time" not in item:
                    # The file order is the history order: time 0 would move
                    # this event before every timed one.
                    item = {**item, "time": previous_time}
                event = Event.from_dict(item, where=where)
            if event.index != position:
                event = Event(**{**asdict(event), "index": position})
            previous_time = event.time
            built.append(event)
        return cls(events=built, origin_ns=0)


_ACCEPTED = ("a history is UTF-8 text, JSON Lines or Jepsen EDN (one JSON object per line; "
             "EDN maps, or one vector/list of them)")


def _decode(data: bytes, source: Path) -> str:
    """The file's text, without a byte-order mark; HistoryError if not UTF-8."""
    try:
        # utf-8-sig drops the BOM some Windows editors put first.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise HistoryError(
            f"{source}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x} at byte "
            f"{column} of the line); {_ACCEPTED}"
        ) from None


def _edn_rows(text: str, source: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from read_events(text)
    except EdnError as error:
        raise HistoryError(f"{source}:{error.line}: not a Jepsen EDN map: {error}") from error


def _json_rows(text: str, source: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # Split on "\n" only, as editors number lines: str.splitlines would also
    # split at characters like U+2028, which JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        where = f"{source}:{number}"
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise HistoryError(
                f"{where}: not JSON ({error.msg} at column {error.colno}); {_ACCEPTED}"
            ) from error
        except RecursionError:
            raise HistoryError(
                f"{where}: values nested too deep for Python's JSON reader; {_ACCEPTED}"
            ) from None
        if not isinstance(data, dict):
            raise HistoryError(f"{where}: expected a JSON object, got {type(data).__name__}")
        yield number, data


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
