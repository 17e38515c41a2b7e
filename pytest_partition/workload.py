"""Concurrent client workers and the result of a run: ``cluster.run(...)``.

Each worker is a thread with a recording client pinned to one node (workers
are spread over the nodes in order) and its own seeded random stream, so the
same seed gives every worker the same sequence of operations. As in Jepsen,
the generated operations do not depend on the answers, and a worker whose
operation ended ``info`` goes on as a new process.

After ``duration`` the workers finish their operation in flight, the nemesis
stops (every fault is undone), the cluster is given time to settle, and the
final ``state()`` of every node is read for the AP checks.
"""

from __future__ import annotations

import itertools
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkers import (
    AvailabilityResult,
    LinearizabilityResult,
    Verdict,
    availability,
    cap_verdict,
    linearizable,
)
from .durations import check_seconds, seconds_problem
from .errors import ClusterError, OperationError
from .history import History
from .nemesis import Nemesis, as_nemesis
from .reporting import faults_around
from .seeds import derive_rng

if TYPE_CHECKING:
    import random

    from .cluster import Cluster

__all__ = ["WORKLOADS", "RunResult", "run"]

WORKLOADS = ("register", "kv", "counter")
VALUES = 10  # writes and cas use values 0..9: small enough for cas to succeed often

Operation = tuple[str, tuple[Any, ...]]


def _register_op(rng: random.Random, key: str) -> Operation:
    roll = rng.random()
    if roll < 0.5:
        return "get", (key,)
    if roll < 0.8:
        return "put", (key, rng.randrange(VALUES))
    return "cas", (key, rng.randrange(VALUES), rng.randrange(VALUES))


def _key_names(workload: str, keys: int) -> list[str]:
    if workload == "register":
        return ["r"]
    if workload == "kv":
        return [f"k{i}" for i in range(keys)]
    return ["counter"]


def _fresh_keys(cluster: Cluster, names: list[str]) -> list[str]:
    """The workload's keys, renamed (``k0.2``) if any node already holds one.

    The checkers replay each key from empty, so a run must not start on keys
    that an earlier run, or the test body, already wrote.
    """
    held: set[Any] = set()
    for state in cluster.states().values():
        if isinstance(state, dict):
            held.update(state)
    for attempt in itertools.count(1):
        renamed = [name if attempt == 1 else f"{name}.{attempt}" for name in names]
        if held.isdisjoint(renamed):
            return renamed
    raise AssertionError("unreachable")  # pragma: no cover - count() never ends


def _generator(workload: str, names: list[str]) -> Callable[[random.Random], Operation]:
    if workload in ("register", "kv"):
        return lambda rng: _register_op(rng, rng.choice(names))
    # counter: mostly increments, some reads (Jepsen's counter workload); a
    # counter never incremented reads as None, which the model takes as 0
    return lambda rng: (("incr", (names[0], rng.randint(1, 5))) if rng.random() < 0.75
                        else ("get", (names[0],)))


MODELS = {"register": "kv", "kv": "kv", "counter": "counter"}


@dataclass
class RunResult:
    """What a run recorded, and the checks to apply to it.

    ``history`` holds the run's events only; ``states`` the final
    ``state()`` of every node after the heal (None if they could not be read);
    ``convergence`` says why they differ when they do.
    """

    history: History
    workload: str
    seed: int
    nemesis: str | None
    duration: float
    states: dict[str, Any] | None
    convergence: str | None
    workdir: Path
    number: int = 1
    _linearizable: LinearizabilityResult | None = field(default=None, repr=False)
    _verdict: Verdict | None = field(default=None, repr=False)
    _timeline: Path | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        """The checker model of this workload."""
        return MODELS[self.workload]

    @property
    def counts(self) -> dict[str, int]:
        """Completed client operations by outcome: ok, fail, info."""
        tally = {"ok": 0, "fail": 0, "info": 0}
        for op in self.history.operations():
            tally[op.type] = tally.get(op.type, 0) + 1
        return tally

    def check_linearizable(self, time_limit: float | None = 30.0) -> LinearizabilityResult:
        """The linearizability check of the history against the workload's model."""
        if self._linearizable is None:
            self._linearizable = linearizable(self.history, self.model, time_limit=time_limit)
        return self._linearizable

    @property
    def availability(self) -> AvailabilityResult:
        """Share of ok answers per node, and per side of each partition."""
        return availability(self.history)

    @property
    def verdict(self) -> Verdict:
        """CP, AP, neither or unknown, with its one-sentence reason."""
        if self._verdict is None:
            self._verdict = cap_verdict(self.history, states=self.states, model=self.model)
        return self._verdict

    @property
    def timeline(self) -> Path:
        """The self-contained HTML timeline of this run (written on first use).

        It lies in the cluster's work dir (``run-N-timeline.html``), which the
        plugin keeps for failed tests; the operations a failed linearizability
        check blamed are highlighted.
        """
        if self._timeline is None:
            from .report import write_timeline

            lin = self._linearizable
            blamed = lin.culprits if lin is not None and lin.valid is False else ()
            self._timeline = write_timeline(
                self.history, self.workdir / f"run-{self.number}-timeline.html",
                title=f"{self.workload} run {self.number}", blamed=blamed,
                verdict=self.verdict.sentence, seed=self.seed, spec=self.nemesis)
        return self._timeline

    def assert_cp(self) -> None:
        """Fail unless the history is linearizable (the minority may refuse)."""
        result = self.check_linearizable()
        if result.valid is True:
            return
        head = ("CP could not be decided: " + result.explain() if result.valid == "unknown"
                else "not CP: " + result.explain())
        raise AssertionError(self._report(head, result.culprits))

    def assert_ap(self) -> None:
        """Fail unless every side answered, replicas converged and nothing was lost."""
        verdict = self.verdict
        if verdict.valid_ap is True:
            return
        if verdict.valid_ap == "unknown":
            head = ("AP could not be judged: no side of a partition got a request (did the "
                    "run have a nemesis?)")
        else:
            head = "not AP: " + "\n".join(_ap_failures(verdict))
        raise AssertionError(self._report(f"{head}\nverdict: {verdict.sentence}", ()))

    def _report(self, head: str, culprits: Any) -> str:
        lines = [head]
        if self.convergence:
            lines.append(self.convergence)
        around = faults_around(self.history, list(culprits or ()))
        if around:
            lines.append("faults around it:")
            lines.extend(f"  {line}" for line in around)
        lines.append(f"run: workload {self.workload}, nemesis {self.nemesis or 'none'}, "
                     f"seed {self.seed}, {self.duration:g} s, ops {self.counts}")
        return "\n".join(lines)


def _ap_failures(verdict: Verdict) -> list[str]:
    """What broke the AP rules, most telling first: divergence, losses, refusals."""
    details = verdict.details
    found = []
    convergence = details.get("convergence")
    if convergence is not None and not convergence.valid:
        found.append(convergence.explain())
    for counter in details.get("counters") or []:
        if not counter.valid:
            found.append(counter.explain())
    lost = details.get("lost_updates")
    if lost is not None and not lost.valid:
        found.append(lost.explain())
    avail = details.get("availability")
    if avail is not None and avail.sides_below(0.99):
        found.append(avail.explain())
    return found or [verdict.sentence]


def run(cluster: Cluster, workload: str = "register", *, clients: int = 5,
        duration: float = 5.0, nemesis: Nemesis | str | list[str] | None = None,
        keys: int = 10, rate: float | None = 50.0, client_timeout: float | None = None,
        settle_timeout: float = 10.0,
        progress: Callable[[str], None] | None = None) -> RunResult:
    """Run ``clients`` workers for ``duration`` seconds while the nemesis acts.

    ``rate`` is operations per second per worker (None: as fast as the node
    answers). Returns a :class:`RunResult`; nothing is asserted here.
    """
    if workload not in WORKLOADS:
        raise ValueError(f"workload {workload!r} is not one of {', '.join(WORKLOADS)}")
    for name, count in (("clients", clients), ("keys", keys)):
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            raise ValueError(f"run(): {name}={count!r}; accepted: a whole number from 1 "
                             "to 10000")
    duration = check_seconds(duration, "run(): duration")
    settle_timeout = check_seconds(settle_timeout, "run(): settle_timeout")
    if client_timeout is not None:
        client_timeout = check_seconds(client_timeout, "run(): client_timeout")
    if rate is not None and seconds_problem(rate, limit=100_000) is not None:
        raise ValueError(f"run(): rate={rate!r}; accepted: operations per second per "
                         "worker, a number > 0 and <= 100000, or None (as fast as "
                         "the nodes answer)")
    names = cluster._running()  # (raises when the cluster is not started or stopped)
    if not names:
        raise ClusterError("run(): no node is running")
    schedule = as_nemesis(nemesis) if nemesis is not None else None
    generate = _generator(workload, _fresh_keys(cluster, _key_names(workload, keys)))
    first_event = len(cluster.history)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            rng = derive_rng(cluster.seed, "worker", index)
            client = cluster.client(names[index % len(names)], timeout=client_timeout)
            period = 1.0 / rate if rate else 0.0
            due = time.monotonic()
            while not stop.is_set():
                method, args = generate(rng)
                try:
                    client.call(method, *args)
                except (OperationError, xmlrpc.client.Fault):
                    pass  # recorded as fail or info: that is the data
                due += period
                stop.wait(max(0.0, due - time.monotonic()))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}", daemon=True)
               for i in range(clients)]
    began = time.monotonic()
    if schedule is not None:
        schedule.start(cluster, derive_rng(cluster.seed, "nemesis"))
    try:
        for thread in threads:
            thread.start()
        while not stop.wait(min(1.0, max(0.0, began + duration - time.monotonic()))):
            if time.monotonic() >= began + duration:
                break
            if progress is not None:
                progress(_progress_line(cluster, first_event, began, duration))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        if schedule is not None:
            schedule.stop()
    if errors:
        raise errors[0]
    states, convergence = _settle(cluster, settle_timeout)
    events = cluster.history.events[first_event:]
    return RunResult(
        history=History.from_events(events),
        workload=workload,
        seed=cluster.seed,
        nemesis=schedule.describe() if schedule is not None else None,
        duration=duration,
        states=states,
        convergence=convergence,
        workdir=cluster.workdir,
        number=len(cluster.runs) + 1,
    )


def _settle(cluster: Cluster, timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    from .cluster import NotConverged

    try:
        cluster.wait_converged(timeout=timeout)
    except NotConverged as error:
        states = cluster.states()
        return {n: s for n, s in states.items() if isinstance(s, dict)} or None, str(error)
    except ClusterError as error:
        # A node without state(): the run's history still stands; convergence
        # just cannot be judged.
        return None, f"convergence not checked: {error}"
    return cluster.states(), None


def _progress_line(cluster: Cluster, first_event: int, began: float, duration: float) -> str:
    events = cluster.history.events[first_event:]
    tally = {"ok": 0, "fail": 0, "info": 0}
    for event in events:
        if event.type in tally and event.process != "nemesis":
            tally[event.type] += 1
    faults = [e for e in events if e.process == "nemesis"]
    fault = ""
    if faults:
        last = faults[-1]
        value = last.value if isinstance(last.value, dict) else {}
        fault = f", {last.f} {value.get('spec', last.node or '')}".rstrip()
    elapsed = time.monotonic() - began
    return (f"{elapsed:4.1f}/{duration:g} s: {tally['ok']} ok, {tally['fail']} fail, "
            f"{tally['info']} info{fault}")
