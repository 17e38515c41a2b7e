"""Seeded fault schedules, run in the background against a cluster.

A :class:`Nemesis` composes faults. Each fault knows how to start and how to
end itself: a :class:`Cut` cuts links and heals them, :class:`Latency`
slows links and clears the delay, :class:`Kill` kills a node and restarts it,
:class:`Pause` stops a node and resumes it. The schedule is a loop: choose a
fault, start it, wait ``interval``, end it, wait ``heal_interval``, repeat.
All choices (which fault, which random shape, which node) come from one seeded
:class:`random.Random`, so the same seed replays the same sequence of faults.

Every fault is recorded in the history as a ``nemesis`` event by the cluster
and reported to the ``pytest_partition_fault`` hook.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from .durations import MAX_SECONDS, check_seconds, seconds_problem
from .errors import ClusterError
from .network import FAULT_KINDS
from .topology import Link, validate_spec

if TYPE_CHECKING:
    from .cluster import Cluster

__all__ = ["Cut", "Fault", "Kill", "Latency", "Nemesis", "NodeFault", "Pause", "as_nemesis"]


class Fault(Protocol):
    """One kind of fault: ``start`` it, later ``stop`` it."""

    def start(self, cluster: Cluster, rng: random.Random) -> None:
        """Inject the fault (choices drawn from ``rng``)."""

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
            raise ValueError(f"Cut: spec={self.spec!r} is not accepted; give a partition spec "
                             "such as 'A,B|C', 'A->C' or 'random-halves'")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Cut: kind={self.kind!r} is not one of {', '.join(FAULT_KINDS)}")

    def start(self, cluster: Cluster, rng: random.Random) -> None:
        cluster.partition(self.spec, self.kind, rng=rng)

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

        def refused(links: object) -> ValueError:
            return ValueError(f"Latency: links={links!r} is not accepted; give None (every "
                              "link), a spec such as 'A->B;B->C', or a list of (src, dst) pairs")

        if isinstance(self.links, str) or not isinstance(self.links, Iterable):
            raise refused(self.links)
        links = list(self.links)  # an iterator would be used up by the first round
        if not all(isinstance(link, (tuple, list)) and len(link) == 2
                   and all(isinstance(name, str) for name in link) for link in links):
            raise refused(links)
        self.links = [(src, dst) for src, dst in links]

    def start(self, cluster: Cluster, rng: random.Random) -> None:
        cluster.set_latency(self.ms, self.jitter_ms, self.links)

    def stop(self, cluster: Cluster) -> None:
        cluster.set_latency(0, 0, self.links)

    def describe(self) -> str:
        return f"latency {self.ms:g}±{self.jitter_ms:g} ms"


def _check_node(fault: str, node: object) -> None:
    if not isinstance(node, str) or not node.strip():
        raise ValueError(f"{fault}: node={node!r} is not accepted; give a node name or 'random'")


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

    def start(self, cluster: Cluster, rng: random.Random) -> None:
        victim = _pick(cluster, self.node, rng)
        getattr(cluster, self.do)(victim)
        self._victims.append(victim)

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


class Nemesis:
    """A schedule of faults run in a background thread.

    ``faults`` are :class:`Fault` objects or partition specs (strings).
    Each round picks one fault with the seeded rng, keeps it ``interval``
    seconds, ends it, and waits ``heal_interval`` (default: ``interval``).
    An error in the schedule stops it and is raised again by :meth:`stop`.
    """

    def __init__(self, *faults: Fault | str, interval: float = 0.5,
                 heal_interval: float | None = None) -> None:
        if not faults:
            raise ValueError("a Nemesis needs at least one fault, e.g. Nemesis('random-halves')")
        for position, fault in enumerate(faults, start=1):
            if not isinstance(fault, str) and not all(
                    callable(getattr(fault, method, None))
                    for method in ("start", "stop", "describe")):
                raise TypeError(
                    f"fault {position} of the Nemesis, {fault!r}, is not a fault; give a "
                    "partition spec (a string), a Cut, Latency, Kill or Pause, or an object "
                    "with start(cluster, rng), stop(cluster) and describe()")
        # An unbounded or NaN interval would make the schedule never end a fault.
        if seconds_problem(interval) is not None:
            raise ValueError(f"interval must be > 0 and <= {MAX_SECONDS:g} seconds, "
                             f"got {interval!r}")
        if heal_interval is not None and seconds_problem(heal_interval, zero_ok=True) is not None:
            raise ValueError(f"heal_interval must be >= 0 and <= {MAX_SECONDS:g} seconds (or "
                             f"None: the interval), got {heal_interval!r}")
        self.faults: list[Fault] = [Cut(f) if isinstance(f, str) else f for f in faults]
        self.interval = interval
        self.heal_interval = interval if heal_interval is None else heal_interval
        self.rounds = 0
        self._cluster: Cluster | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active: Fault | None = None
        self._error: BaseException | None = None

    def describe(self) -> str:
        """The faults and timing, for reports."""
        faults = ", ".join(f.describe() for f in self.faults)
        return f"{faults} every {self.interval:g} s"

    def start(self, cluster: Cluster, rng: random.Random) -> None:
        """Run the schedule against ``cluster`` until :meth:`stop`."""
        if self._thread is not None:
            raise ClusterError("this Nemesis is already running")
        for fault in self.faults:
            if isinstance(fault, Cut):
                # A typo should fail now, in the test, not in the thread.
                validate_spec(fault.spec, cluster.names)
        self._cluster = cluster
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(rng,), name="nemesis",
                                        daemon=True)
        self._thread.start()

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

    def _run(self, rng: random.Random) -> None:
        cluster = self._cluster
        assert cluster is not None
        try:
            while not self._stop.is_set():
                fault = self.faults[rng.randrange(len(self.faults))]
                self._active = fault
                fault.start(cluster, rng)
                self.rounds += 1
                self._stop.wait(self.interval)
                self._active = None
                fault.stop(cluster)
                if self._stop.wait(self.heal_interval):
                    break
        except BaseException as error:  # raised again in the test's thread by stop()
            self._error = error
        finally:
            active, self._active = self._active, None
            if active is not None:
                try:
                    active.stop(cluster)
                except BaseException as error:
                    self._error = self._error or error


def as_nemesis(value: Nemesis | str | Sequence[str], interval: float = 0.5,
               heal_interval: float | None = None) -> Nemesis:
    """A Nemesis from a spec name, a list of them, or a Nemesis (returned as is)."""
    if isinstance(value, Nemesis):
        return value
    if isinstance(value, str):
        return Nemesis(value, interval=interval, heal_interval=heal_interval)
    if not isinstance(value, Iterable):
        raise TypeError(f"nemesis {value!r}: give a spec name, a list of them, or a Nemesis")
    specs = list(value)
    if not specs or not all(isinstance(s, str) for s in specs):
        raise ValueError(f"nemesis {value!r}: give a spec name, a list of them, or a Nemesis")
    return Nemesis(*specs, interval=interval, heal_interval=heal_interval)
