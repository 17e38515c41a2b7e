"""Cluster start against the floor of one interpreter start, measured in one run.

Run: python bench/bench_start.py [--runs N]

Prints, for the reference store in AP and CP mode with 3 and 5 nodes, the
median time from ``Cluster.start()`` to every node ready (and, in CP, a
leader elected), with nodes forked by the zygote and, for comparison, with
nodes started as subprocesses; beside it the median of ``python -c pass``
measured in between, and where the time goes (proxy start, forks, readiness,
election). Runs of every kind are interleaved so that machine load hits them
alike. Nothing is asserted; goals: 3 nodes <= 100 ms, 5 nodes <= 150 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pytest_partition import Cluster
from pytest_partition import cluster as cluster_module
from pytest_partition import network as network_module
from pytest_partition import node as node_module
from pytest_partition.zygote import shared_zygote

GOALS = {3: 100.0, 5: 150.0}
PHASES = (("proxy start", network_module.Network, "__init__"),
          ("links", network_module.Network, "add_link"),
          ("links", network_module.Network, "set_upstream"),
          ("forks", cluster_module.Cluster, "_spawn"),
          ("readiness", cluster_module.Cluster, "_wait_ready"),
          ("election", cluster_module.Cluster, "wait_leader"))


def floor_once() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - began


class Phases:
    """Time spent in the methods of PHASES, summed per cluster start."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        for label, owner, name in PHASES:
            setattr(owner, name, self._timed(label, getattr(owner, name)))

    def _timed(self, label: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.current[label] += time.perf_counter() - began
        return timed

    def take(self) -> dict[str, float]:
        taken, self.current = dict(self.current), defaultdict(float)
        return taken


@contextmanager
def subprocess_nodes() -> Iterator[None]:
    """Start reference-store nodes as subprocesses (as before the zygote)."""
    real = node_module.shared_zygote
    node_module.shared_zygote = lambda: None  # type: ignore[assignment]
    try:
        yield
    finally:
        node_module.shared_zygote = real


def start_once(mode: str, nodes: int) -> float:
    cluster = Cluster(nodes, mode=mode)
    began = time.perf_counter()
    try:
        cluster.start()
        return time.perf_counter() - began
    finally:
        cluster.stop()


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="starts of each kind (default 15)")
    args = parser.parse_args()

    began = time.perf_counter()
    zygote = shared_zygote()
    assert zygote is not None
    with Cluster(1, mode="ap"):  # waits for the zygote to be ready
        pass
    zygote_ready = time.perf_counter() - began

    phases = Phases()
    kinds = [(mode, nodes, forked) for mode in ("ap", "cp") for nodes in (3, 5)
             for forked in (True, False)]
    times: dict[tuple[str, int, bool], list[float]] = defaultdict(list)
    parts: dict[tuple[str, int, bool], list[dict[str, float]]] = defaultdict(list)
    floor: list[float] = []
    for _ in range(args.runs):
        for kind in kinds:
            mode, nodes, forked = kind
            floor.append(floor_once())
            phases.take()
            if forked:
                times[kind].append(start_once(mode, nodes))
            else:
                with subprocess_nodes():
                    times[kind].append(start_once(mode, nodes))
            parts[kind].append(phases.take())

    base = ms(floor)
    print(f"python -c pass (the floor): median {base:.1f} ms over {len(floor)} runs; "
          f"the zygote's own start (once per test process): {zygote_ready * 1000:.0f} ms")
    for mode in ("ap", "cp"):
        for nodes in (3, 5):
            forked, spawned = times[(mode, nodes, True)], times[(mode, nodes, False)]
            labels = dict.fromkeys(label for label, _, _ in PHASES
                                   if mode == "cp" or label != "election")
            breakdown = ", ".join(
                f"{label} {statistics.median(p.get(label, 0.0) for p in parts[(mode, nodes, True)]) * 1000:.1f}"
                for label in labels)
            print(f"{mode.upper()} {nodes} nodes: forked median {ms(forked):6.1f} ms "
                  f"(min {min(forked) * 1000:.1f}, max {max(forked) * 1000:.1f}; "
                  f"{ms(forked) / base:.2f}x the floor; goal <= {GOALS[nodes]:.0f} ms); "
                  f"as subprocesses {ms(spawned):6.1f} ms ({ms(spawned) / ms(forked):.1f}x "
                  f"slower)\n    where the forked start goes (medians, ms): {breakdown}")


if __name__ == "__main__":
    main()
