"""Concurrent client workers while a nemesis acts: ``cluster.run(...)``.

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

import threading
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from ..cluster import Cluster
from ..durations import check_seconds, seconds_problem
from ..errors import ClusterError, NotConverged, OperationError
from ..history import NEMESIS, History, outcome_counts
from ..nemesis import Nemesis, as_nemesis
from ..seeds import derive_rng
from .result import RunResult
from .workload import WORKLOADS, fresh_keys, generator, key_names

__all__ = ["run"]


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
    names = cluster.running_nodes()  # (raises when the cluster is not started or stopped)
    if not names:
        raise ClusterError("run(): no node is running")
    schedule = as_nemesis(nemesis) if nemesis is not None else None
    generate = generator(workload, fresh_keys(cluster, key_names(workload, keys)))
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
