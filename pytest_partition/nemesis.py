"""Seeded fault schedules, run in the background against a cluster.

A :class:`Nemesis` composes faults. Each fault knows how to start and how to
end itself: a :class:`Cut` cuts links and heals them, :class:`Latency`
slows links and clears the delay, :class:`Kill` kills a node and restarts it,
:class:`Pause` stops a node and resumes it. The schedule is a loop over fault
windows: choose a fault, start it, keep it for the window, end it, stay
healed for a while, repeat. Windows have random lengths with a long tail
(:func:`~pytest_partition.schedule.plan_windows`), or a fixed ``interval``.
All choices (which fault, which window, which random shape, which node) come
from one seeded :class:`random.Random`, so the same seed draws the same
schedule.

What was applied is recorded exactly (:attr:`Nemesis.schedule`: each fault's
start and end and its concrete shape), and :meth:`Nemesis.replay` applies a
recorded schedule again. Every fault is also recorded in the history as a
``nemesis`` event by the cluster and reported to the
``pytest_partition_fault`` hook.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .durations import MAX_SECONDS, check_seconds, seconds_problem
from .errors import ArgumentError, ArgumentTypeError, ClusterError, reported_at_the_call
from .network import FAULT_KINDS
from .schedule import Schedule, ScheduledFault, ScheduleError, plan_windows
from .topology import Link, parse_links, validate_spec

if TYPE_CHECKING:
    from .cluster import Cluster

__all__ = ["Cut", "Fault", "Kill", "Latency", "Nemesis", "NodeFault", "Pause", "as_nemesis"]

#: What a fault's ``start`` returns: its concrete shape, as the fields of a
#: :class:`~pytest_partition.schedule.ScheduledFault` (``fault``, ``spec``,
#: ``node``, ...), or None when it cannot say (it is then recorded by name).
Shape = dict[str, Any]


class Fault(Protocol):
    """One kind of fault: ``start`` it, later ``stop`` it."""

    def start(self, cluster: Cluster, rng: random.Random) -> Shape | None:
        """Inject the fault (choices drawn from ``rng``); return what it did exactly."""

    def stop(self, cluster: Cluster) -> None:
        """Undo it: heal, restart, resume, clear."""

    def describe(self) -> str:
        """A short name for reports."""


@dataclass
class Cut:
    """Cut the links of a partition spec (``"random-halves"``, ``"A,B|C"``, ...)."""

    spec: str
    kind: str = "drop"

    def __post_init__(self) -> None:
        # Checked now: in the schedule's thread a bad value would only
        # surface when the nemesis stops, after the run. Node names are
        # checked against the cluster when the Nemesis starts.
        if not isinstance(self.spec, str) or not self.spec.strip():
            raise ArgumentError(f"Cut: spec={self.spec!r} is not accepted; give a partition spec "
                             "such as 'A,B|C', 'A->C' or 'random-halves'")
        if self.kind not in FAULT_KINDS:
            raise ArgumentError(f"Cut: kind={self.kind!r} is not one of {', '.join(FAULT_KINDS)}")

    def start(self, cluster: Cluster, rng: random.Random) -> Shape:
        part = cluster.partition(self.spec, self.kind, rng=rng)
        return {"fault": "partition", "spec": part.exact, "kind": self.kind}

    def stop(self, cluster: Cluster) -> None:
        cluster.heal()

    def describe(self) -> str:
        return self.spec if self.kind == "drop" else f"{self.spec} ({self.kind})"


@dataclass
class Latency:
    """Delay traffic on ``links`` (default: every node-to-node link)."""

    ms: float
    jitter_ms: float = 0.0
    links: str | Iterable[Link] | None = None

    def __post_init__(self) -> None:
        for name in ("ms", "jitter_ms"):
            check_seconds(getattr(self, name), f"Latency: {name}=", zero_ok=True,
                          limit=MAX_SECONDS * 1000, unit="milliseconds")
        if self.links is None or (isinstance(self.links, str) and self.links.strip()):
            return

        def refused(links: object) -> ArgumentError:
            return ArgumentError(f"Latency: links={links!r} is not accepted; give None (every "
                              "link), a spec such as 'A->B;B->C', or a list of (src, dst) pairs")

        if isinstance(self.links, str) or not isinstance(self.links, Iterable):
            raise refused(self.links)
        links = list(self.links)  # an iterator would be used up by the first round
        if not all(isinstance(link, (tuple, list)) and len(link) == 2
                   and all(isinstance(name, str) for name in link) for link in links):
            raise refused(links)
        self.links = [(src, dst) for src, dst in links]

    def start(self, cluster: Cluster, rng: random.Random) -> Shape:
        cluster.set_latency(self.ms, self.jitter_ms, self.links)
        links = None if self.links is None else [list(link) for link in
                                                 parse_links(self.links, cluster.names)]
        return {"fault": "latency", "ms": float(self.ms), "jitter_ms": float(self.jitter_ms),
                "links": links}

    def stop(self, cluster: Cluster) -> None:
        cluster.set_latency(0, 0, self.links)

    def describe(self) -> str:
        return f"latency {self.ms:g}±{self.jitter_ms:g} ms"


def _check_node(fault: str, node: object) -> None:
    if not isinstance(node, str) or not node.strip():
        raise ArgumentError(f"{fault}: node={node!r} is not accepted; give a node name or 'random'")


def _pick(cluster: Cluster, node: str, rng: random.Random) -> str:
    if node != "random":
        return node
    running = [name for name, n in cluster.nodes.items() if n.running and not n.paused]
    if not running:
        raise ClusterError("no running node to fault")
    return rng.choice(running)


@dataclass
class NodeFault:
    """A fault done to one node and undone to it: ``do`` it when the fault
    starts (``"random"`` picks a running node), ``undo`` it when it ends."""

    node: str = "random"
    _victims: list[str] = field(default_factory=list, repr=False)

    #: The Cluster methods that do and undo the fault (``"kill"``, ``"restart"``).
    do: ClassVar[str]
    undo: ClassVar[str]

    def __post_init__(self) -> None:
        _check_node(type(self).__name__, self.node)

    def start(self, cluster: Cluster, rng: random.Random) -> Shape:
        victim = _pick(cluster, self.node, rng)
        getattr(cluster, self.do)(victim)
        self._victims.append(victim)
        return {"fault": self.do, "node": victim}

    def stop(self, cluster: Cluster) -> None:
        while self._victims:
            getattr(cluster, self.undo)(self._victims.pop())

    def describe(self) -> str:
        return f"{self.do} {self.node}"


class Kill(NodeFault):
    """SIGKILL a node (``"random"`` picks one); restart it when the fault ends."""

    do, undo = "kill", "restart"


class Pause(NodeFault):
    """SIGSTOP a node (``"random"`` picks one); resume it when the fault ends."""

    do, undo = "pause", "resume"


class _Recorded:
    """A recorded fault applied again exactly: the inverse of recording it."""

    def __init__(self, fault: ScheduledFault) -> None:
        self.fault = fault

    def start(self, cluster: Cluster, rng: random.Random) -> Shape:
        fault = self.fault
        if fault.fault == "partition":
            assert fault.spec is not None
            cluster.partition(fault.spec, fault.kind)
        elif fault.fault == "latency":
            assert fault.ms is not None
            cluster.set_latency(fault.ms, fault.jitter_ms, fault.links)
        else:
            assert fault.node is not None
            getattr(cluster, fault.fault)(fault.node)
        return fault.to_dict()

    def stop(self, cluster: Cluster) -> None:
        fault = self.fault
        if fault.fault == "partition":
            cluster.heal()
        elif fault.fault == "latency":
            cluster.set_latency(0, 0, fault.links)
        else:
            assert fault.node is not None
            getattr(cluster, "restart" if fault.fault == "kill" else "resume")(fault.node)

    def describe(self) -> str:
        return self.fault.intent or self.fault.shape()


class Nemesis:
    """A schedule of faults run in a background thread.

    ``faults`` are :class:`Fault` objects or partition specs (strings). Each
    round picks one fault with the seeded rng, keeps it for a window, ends it,
    and stays healed for a while. Without ``interval`` the windows have
    random lengths with a long tail, from blips to cuts that outlast the
    system's timeouts (:func:`~pytest_partition.schedule.plan_windows`);
    with ``interval`` every window lasts ``interval`` seconds and every gap
    ``heal_interval`` (default: ``interval``). An error in the schedule stops
    it and is raised again by :meth:`stop`.

    :attr:`schedule` is what was applied; :meth:`replay` applies it again.
    """

    @reported_at_the_call
    def __init__(self, *faults: Fault | str, interval: float | None = None,
                 heal_interval: float | None = None) -> None:
        if not faults:
            raise ArgumentError("a Nemesis needs at least one fault, e.g. Nemesis('random-halves')")
        for position, fault in enumerate(faults, start=1):
            if not isinstance(fault, str) and not all(
                    callable(getattr(fault, method, None))
                    for method in ("start", "stop", "describe")):
                raise ArgumentTypeError(
                    f"fault {position} of the Nemesis, {fault!r}, is not a fault; give a "
                    "partition spec (a string), a Cut, Latency, Kill or Pause, or an object "
                    "with start(cluster, rng), stop(cluster) and describe()")
        # An unbounded or NaN interval would make the schedule never end a fault.
        if interval is not None and seconds_problem(interval) is not None:
            raise ArgumentError(f"interval must be > 0 and <= {MAX_SECONDS:g} seconds (or None: "
                             f"random windows with a long tail), got {interval!r}")
        if heal_interval is not None and seconds_problem(heal_interval, zero_ok=True) is not None:
            raise ArgumentError(f"heal_interval must be >= 0 and <= {MAX_SECONDS:g} seconds (or "
                             f"None: the interval), got {heal_interval!r}")
        self._setup([Cut(f) if isinstance(f, str) else f for f in faults], interval,
                    heal_interval, None)

    def _setup(self, faults: list[Fault], interval: float | None, heal_interval: float | None,
               replaying: list[ScheduledFault] | None) -> None:
        self.faults = faults
        self.interval = interval
        self.heal_interval = interval if heal_interval is None else heal_interval
        self.rounds = 0
        self._replaying = replaying
        self._cluster: Cluster | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active: Fault | None = None
        self._error: BaseException | None = None
        self._applied: list[ScheduledFault] = []
        self._lock = threading.Lock()
        #: ``time.monotonic_ns()`` when the schedule started (its offsets count from it).
        self.started_ns: int | None = None
        #: Seconds from the start when a bounded or replayed schedule is done.
        self.ends_at: float | None = None

    @classmethod
    @reported_at_the_call
    def replay(cls, schedule: str | Path | Schedule | Sequence[ScheduledFault | Mapping[str, Any]],
               run: int = 0) -> Nemesis:
        """A nemesis that applies a recorded schedule exactly: the same faults, with
        the same shapes, at the same offsets from its start, and nothing else.

        ``schedule`` is a ``schedule.json`` path, an artifacts folder holding
        one, a :class:`~pytest_partition.schedule.Schedule`, or a list of
        faults; ``run`` picks one of its runs (the first by default).
        """
        recorded = Schedule.of(schedule)
        if not 0 <= run < max(len(recorded.runs), 1):
            raise ScheduleError(f"run {run} is not in the schedule, which has "
                                f"{len(recorded.runs)} run(s)")
        faults = list(recorded.runs[run]) if recorded.runs else []
        nemesis = cls.__new__(cls)  # (no faults to check: the schedule was checked)
        nemesis._setup([_Recorded(fault) for fault in faults], None, None, faults)
        return nemesis

    @property
    def replaying(self) -> bool:
        """True for a nemesis made by :meth:`replay`."""
        return self._replaying is not None

    def describe(self) -> str:
        """The faults and timing, for reports."""
        if self._replaying is not None:
            return f"replay of {len(self._replaying)} recorded fault(s)"
        faults = ", ".join(dict.fromkeys(f.describe() for f in self.faults))
        if self.interval is None:
            return f"{faults} (windows of random length)"
        return f"{faults} every {self.interval:g} s"

    @property
    def schedule(self) -> list[ScheduledFault]:
        """The faults applied so far, exactly: shapes, and offsets from the start."""
        with self._lock:
            return list(self._applied)

    @reported_at_the_call
    def start(self, cluster: Cluster, rng: random.Random, *, duration: float | None = None,
              hold: float = 0.0) -> None:
        """Run the schedule against ``cluster`` until :meth:`stop`.

        With ``duration`` (seconds), the windows end by ``duration + hold``:
        the last one is in force at ``duration`` and held ``hold`` seconds
        more (the closing phase of a run), after which the schedule is done
        (:meth:`wait`). A replay applies its recorded offsets whatever these say.
        """
        if self._thread is not None:
            raise ClusterError("this Nemesis is already running")
        names = set(cluster.names)
        for fault in self.faults:
            if isinstance(fault, Cut):
                # A typo should fail now, in the test, not in the thread.
                validate_spec(fault.spec, cluster.names)
                if "isolate:leader" in fault.spec.replace(" ", ""):
                    cluster.leader()  # a node without role() is said now, not later
            elif isinstance(fault, _Recorded):
                unknown = sorted(fault.fault.nodes() - names)
                if unknown:
                    raise ScheduleError(
                        f"the schedule's {fault.fault.describe()} names node(s) "
                        f"{', '.join(unknown)}, which this cluster does not have (its nodes: "
                        f"{', '.join(cluster.names)})")
                if fault.fault.spec is not None:
                    validate_spec(fault.fault.spec, cluster.names)
        self._cluster = cluster
        self._stop.clear()
        self.started_ns = time.monotonic_ns()
        if self._replaying is not None:
            self.ends_at = max((f.end for f in self._replaying), default=0.0)
        else:
            self.ends_at = None if duration is None else duration + hold
        # Windows and choices draw from separate streams of the one seed, so
        # that changing one fault's shape does not move the windows.
        windows = self._windows(random.Random(rng.getrandbits(64)), duration, hold)
        self._thread = threading.Thread(target=self._run, args=(rng, windows), name="nemesis",
                                        daemon=True)
        self._thread.start()

    def _windows(self, rng: random.Random, duration: float | None,
                 hold: float) -> Iterator[tuple[Fault | None, float, float]]:
        if self._replaying is not None:
            return ((fault, recorded.start, recorded.end)
                    for fault, recorded in zip(self.faults, self._replaying))
        return ((None, start, end) for start, end in plan_windows(
            rng, duration, hold=hold, interval=self.interval, heal_interval=self.heal_interval))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a bounded schedule has applied and ended its last fault."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """End the active fault, stop the schedule, and re-raise its error if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise ClusterError(f"the nemesis failed: {type(error).__name__}: {error}") from error

    @property
    def running(self) -> bool:
        """True while the schedule runs."""
        return self._thread is not None and self._thread.is_alive()

    def _since_start(self) -> float:
        assert self.started_ns is not None
        return (time.monotonic_ns() - self.started_ns) / 1e9

    def _run(self, rng: random.Random,
             windows: Iterator[tuple[Fault | None, float, float]]) -> None:
        cluster = self._cluster
        assert cluster is not None
        began = 0.0
        shape: Shape | None = None
        try:
            for chosen, start, end in windows:
                if self._stop.wait(max(0.0, start - self._since_start())):
                    break
                fault = chosen or self.faults[rng.randrange(len(self.faults))]
                self._active, shape = fault, None
                shape = fault.start(cluster, rng)
                began = self._since_start()  # in force from here (isolate:leader may wait)
                self.rounds += 1
                # A window that began late (a busy machine, a leader to find)
                # keeps its length: timeouts, not offsets, are what it tests.
                end = max(end, began + (end - start))
                stopped = self._stop.wait(max(0.0, end - self._since_start()))
                self._active = None
                fault.stop(cluster)
                self._record(fault, shape, began)
                if stopped:
                    break
        except BaseException as error:  # raised again in the test's thread by stop()
            self._error = error
        finally:
            active, self._active = self._active, None
            if active is not None:
                try:
                    active.stop(cluster)
                    if shape is not None:  # (None: it failed to start, or cannot say)
                        self._record(active, shape, began)
                except BaseException as error:
                    self._error = self._error or error

    def _record(self, fault: Fault, shape: Shape | None, began: float) -> None:
        ended = max(self._since_start(), began + 1e-3)
        if shape is None:  # a fault of the user's that cannot say what it did
            shape = {"fault": "custom"}
        intent = fault.describe()
        if shape.get("fault") not in ("partition", "kill", "pause", "latency"):
            return  # only faults that can be replayed go into the schedule
        data = {**shape, "start": began, "end": ended, "intent": intent}
        with self._lock:
            self._applied.append(ScheduledFault.from_dict(data))


@reported_at_the_call
def as_nemesis(value: Nemesis | str | Sequence[str], interval: float | None = None,
               heal_interval: float | None = None) -> Nemesis:
    """A Nemesis from a spec name, a list of them, or a Nemesis (returned as is)."""
    if isinstance(value, Nemesis):
        return value
    if isinstance(value, str):
        return Nemesis(value, interval=interval, heal_interval=heal_interval)
    if not isinstance(value, Iterable):
        raise ArgumentTypeError(f"nemesis {value!r}: give a spec name, a list of them, "
                                "or a Nemesis")
    specs = list(value)
    if not specs or not all(isinstance(s, str) for s in specs):
        raise ArgumentError(f"nemesis {value!r}: give a spec name, a list of them, or a Nemesis")
    return Nemesis(*specs, interval=interval, heal_interval=heal_interval)
