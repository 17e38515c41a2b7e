"""Concurrent client workers while a nemesis acts: ``cluster.run(...)``.

Each worker is a thread with a recording client pinned to one node (workers
are spread over the nodes in order) and its own seeded random stream. A
worker whose operation ended ``info`` goes on as a new process.

A run has three phases, as Jepsen's tests end:

1. **Operations**: for ``duration`` seconds the workers call the service
   while the nemesis applies its schedule.
2. **The last cut**: the workers stop while the nemesis' last fault is still
   in force; it is held ``hold`` seconds more, past the system's own
   timeouts, so that a system which drops what it could not deliver (and
   has nothing to repair it) is caught; then everything is healed.
3. **Final reads**: when the nodes have settled, every key the run used is
   read on every node through its client, and recorded: convergence is
   judged as a client sees it, for services without ``state()`` too.
"""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from collections.abc import Callable, Mapping
from typing import Any

from ..checkers import ModelLike
from ..client import Client
from ..cluster import Cluster
from ..durations import check_seconds, seconds_problem
from ..errors import (
    ArgumentError,
    ClusterError,
    NotConverged,
    NotServed,
    OperationError,
    reported_at_the_call,
)
from ..history import NEMESIS, Event, History, outcome_counts
from ..nemesis import Nemesis, as_nemesis
from ..seeds import derive_rng
from ..waiting import until
from .result import FinalReads, RunResult
from .workload import Generate, Workload, make_workload, methods_problem

__all__ = ["DEFAULT_HOLD", "run"]

#: Seconds the last cut is held after the workers stop, at the least; a
#: run holds it for 1.5 client timeouts when that is longer.
DEFAULT_HOLD = 1.5


@reported_at_the_call
def run(cluster: Cluster, workload: str | Generate | Workload = "register", *,
        clients: int = 30, duration: float = 5.0,
        nemesis: Nemesis | str | list[str] | None = None, keys: int | None = None,
        rate: float | None = 15.0, client_timeout: float | None = None,
        settle_timeout: float = 5.0, hold: float | None = None,
        methods: Mapping[str, str] | None = None, model: ModelLike | str | None = None,
        progress: Callable[[str], None] | None = None) -> RunResult:
    """Run ``clients`` workers for ``duration`` seconds while the nemesis acts.

    ``workload`` is ``"register"``, ``"kv"`` or ``"counter"``, or your own
    generator ``generate(rng) -> (method, args)`` with ``model=``. ``methods``
    maps the workload's operation names to your service's method names
    (``{"get": "fetch", "put": "store"}``): the calls use yours, the history
    records the model's. ``keys``: keys in use at once (kv). ``rate``:
    operations per second per worker (None: as fast as the node answers).
    ``hold``: seconds the last cut is held after the workers stop (default:
    the longer of 1.5 s and 1.5 client timeouts; 0: no closing phase).
    ``settle_timeout``: how long the final reads wait for the nodes to agree.
    Returns a :class:`RunResult`; nothing is asserted here.
    """
    for name, count in (("clients", clients), ("keys", keys)):
        if count is None and name == "keys":
            continue
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            raise ArgumentError(f"run(): {name}={count!r}; accepted: a whole number from 1 "
                             "to 10000")
    duration = check_seconds(duration, "run(): duration")
    settle_timeout = check_seconds(settle_timeout, "run(): settle_timeout")
    if client_timeout is not None:
        client_timeout = check_seconds(client_timeout, "run(): client_timeout")
    if hold is not None:
        hold = check_seconds(hold, "run(): hold", zero_ok=True)
    if rate is not None and seconds_problem(rate, limit=100_000) is not None:
        raise ArgumentError(f"run(): rate={rate!r}; accepted: operations per second per "
                         "worker, a number > 0 and <= 100000, or None (as fast as "
                         "the nodes answer)")
    names = cluster.running_nodes()  # (raises when the cluster is not started or stopped)
    if not names:
        raise ClusterError("run(): no node is running")
    if nemesis is not None:
        as_nemesis(nemesis)  # a bad nemesis is refused before anything runs
    work = make_workload(workload, model=model, keys=keys,
                         used=(event.key for event in cluster.history.events))
    if methods is not None:
        problem = methods_problem(methods, work.operations)
        if problem is not None:
            raise ArgumentError(f"run(): methods={methods!r} {problem}")
    set_workers = getattr(work, "set_workers", None)
    if callable(set_workers):
        set_workers(clients)
    timeout = client_timeout if client_timeout is not None else cluster.client_timeout
    if hold is None:
        hold = max(DEFAULT_HOLD, 1.5 * timeout)
    first_event = len(cluster.history)
    workers = _Workers(cluster, names, work, clients, rate, client_timeout, methods)
    began = time.monotonic()
    schedule = (cluster.start_nemesis(nemesis, duration=duration, hold=hold)
                if nemesis is not None else None)
    finished = False
    try:
        workers.start()
        while not workers.stopped.wait(min(1.0, max(0.0, began + duration - time.monotonic()))):
            if time.monotonic() >= began + duration:
                break
            if progress is not None:
                progress(_progress_line(cluster, first_event, began, duration))
        finished = not workers.errors
    finally:
        workers.stop()
        if schedule is not None:
            try:
                # The last cut is held past the workers' end, then healed; a run
                # that broke off (a crashed worker, Ctrl-C) heals at once.
                if finished:
                    ends = schedule.ends_at if schedule.ends_at is not None else 0.0
                    schedule.wait(max(0.0, ends - (time.monotonic() - began)) + 10.0)
            finally:
                schedule.stop()
    workers.raise_errors()
    if progress is not None and schedule is not None:
        progress("healed; waiting for the nodes to settle, then reading every key on every node")
    settle_began = time.monotonic()
    states, convergence = _settle(cluster, settle_timeout)
    keys_used = _keys_of(cluster.history.events[first_event:])
    # The final reads wait for agreement within what is left of the settle
    # time; when state() already showed divergence, one round says it.
    deadline = settle_began + settle_timeout if states is None or convergence is None else 0.0
    finals = _final_reads(cluster, names, work, keys_used, methods, timeout, deadline)
    events = cluster.history.events[first_event:]
    return RunResult(
        history=History.from_events(events),
        workload=workload if isinstance(workload, str) else _name_of(workload),
        seed=cluster.seed,
        nemesis=schedule.describe() if schedule is not None else None,
        duration=duration,
        states=states,
        convergence=convergence,
        workdir=cluster.workdir,
        number=len(cluster.runs) + 1,
        model=work.model,
        schedule=schedule.schedule if schedule is not None else [],
        final_reads=finals,
        hold=hold if schedule is not None else 0.0,
    )


class _Workers:
    """The run's worker threads; an error in one is raised again by the run."""

    def __init__(self, cluster: Cluster, names: list[str], work: Workload, clients: int,
                 rate: float | None, client_timeout: float | None,
                 methods: Mapping[str, str] | None) -> None:
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._work, name=f"worker-{index}", daemon=True,
                             args=(index, cluster.client(names[index % len(names)],
                                                         timeout=client_timeout,
                                                         methods=methods),
                                   derive_rng(cluster.seed, "worker", index)))
            for index in range(clients)]
        self._work_source = work
        self._period = 1.0 / rate if rate else 0.0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _work(self, index: int, client: Client, rng: Any) -> None:
        try:
            due = time.monotonic()
            while not self.stopped.is_set():
                method, args = self._work_source.next(index, rng)
                try:
                    client.call(method, *args)
                except (OperationError, xmlrpc.client.Fault):
                    pass  # recorded as fail or info: that is the data
                due += self._period
                self.stopped.wait(max(0.0, due - time.monotonic()))
        except BaseException as error:  # re-raised in the caller's thread
            self.errors.append(error)
            self.stopped.set()

    def stop(self) -> None:
        self.stopped.set()
        for thread in self._threads:
            thread.join()

    def raise_errors(self) -> None:
        if self.errors:
            raise self.errors[0]


def _name_of(workload: object) -> str:
    return str(getattr(workload, "__qualname__", None) or type(workload).__name__)


def _keys_of(events: list[Event]) -> list[Any]:
    """The keys the run's operations touched, in first-use order."""
    seen: dict[Any, None] = {}
    for event in events:
        if event.process != NEMESIS and event.type == "invoke" and event.key is not None:
            try:
                seen.setdefault(event.key, None)
            except TypeError:  # an unhashable key cannot be read back by name
                continue
    return list(seen)


def _settle(cluster: Cluster, timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    """Every node's ``state()`` once they agree, or why they did not."""
    try:
        cluster.wait_converged(timeout=timeout)
    except NotConverged as error:
        states = cluster.states()
        return {n: s for n, s in states.items() if isinstance(s, dict)} or None, str(error)
    except NotServed as error:
        # A node without state(): the run's history still stands, and the
        # final reads judge convergence.
        return None, f"state() not served ({error}); convergence judged by the final reads"
    return cluster.states(), None


class _ReadFailed:
    """A final read that did not answer ok: it converges with nothing."""

    def __init__(self, error: str | None) -> None:
        self.error = error or "no answer"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<read failed: {self.error}>"


def _final_reads(cluster: Cluster, names: list[str], work: Workload, keys: list[Any],
                 methods: Mapping[str, str] | None, timeout: float,
                 deadline: float) -> FinalReads | None:
    """Read every key on every node, once they agree (or at ``deadline``); recorded.

    Unrecorded rounds wait for agreement, so that a system still repairing
    after the heal is given the time it needs; the recorded round that
    follows is what the checkers judge.
    """
    reads: dict[Any, tuple[str, tuple[Any, ...]]] = {}
    for key in keys:
        op = work.final_read(key)
        if op is not None:
            reads[key] = op
    if not reads:
        return None
    renamed = dict(methods or {})

    def one_round() -> dict[str, dict[Any, Any]]:
        seen: dict[str, dict[Any, Any]] = {}
        for node in names:
            seen[node] = {}
            for key, (f, args) in reads.items():
                try:
                    seen[node][key] = cluster.call(node, renamed.get(f, f), *args,
                                                   timeout=timeout)
                except (OperationError, xmlrpc.client.Fault) as error:
                    seen[node][key] = _ReadFailed(str(error))
        return seen

    def agreed() -> bool:
        seen = one_round()
        return all(all(view[key] == seen[names[0]][key] for view in seen.values())
                   for key in reads)

    until(agreed, max(0.0, deadline - time.monotonic()), first_wait=0.05, max_wait=0.5)
    recorded: FinalReads = {}
    for node in names:
        client = cluster.client(node, timeout=timeout, methods=methods)
        recorded[node] = {}
        for key, (f, args) in reads.items():
            try:
                recorded[node][key] = client.call(f, *args)
            except (OperationError, xmlrpc.client.Fault) as error:
                recorded[node][key] = _ReadFailed(str(error))
    return recorded


def _progress_line(cluster: Cluster, first_event: int, began: float, duration: float) -> str:
    events = cluster.history.events[first_event:]
    tally = outcome_counts(events)
    faults = [e for e in events if e.process == NEMESIS]
    fault = ""
    if faults:
        last = faults[-1]
        value = last.value if isinstance(last.value, dict) else {}
        fault = f", {last.f} {value.get('spec', last.node or '')}".rstrip()
    elapsed = time.monotonic() - began
    return (f"{elapsed:4.1f}/{duration:g} s: {tally['ok']} ok, {tally['fail']} fail, "
            f"{tally['info']} info{fault}")
