"""Core figures: cluster start, partition() latency, RTT through a client link vs direct.

Run: python bench/bench_core.py [--quick]
Prints medians and ratios measured in this run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from pytest_partition import Cluster
from pytest_partition.client import rpc_call
from pytest_partition.network import CLIENT

NODE = [sys.executable, str(Path(__file__).with_name("minimal_node.py"))]


def start_times(nodes: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        with Cluster(nodes, command=NODE):
            times.append(time.perf_counter() - began)
    return times


def partition_times(runs: int) -> list[float]:
    times = []
    with Cluster(5, command=NODE) as cluster:
        for i in range(runs):
            spec = "random-halves" if i % 2 == 0 else "n1|n2,n3,n4,n5"
            began = time.perf_counter()
            cluster.partition(spec)
            times.append(time.perf_counter() - began)
            cluster.heal()
    return times


def round_trips(calls: int, method: str = "echo", args: tuple[object, ...] = ("x",),
                **cluster: Any) -> tuple[list[float], list[float]]:
    """Time ``method(*args)`` on n1 through its client link and directly, interleaved."""
    proxied: list[float] = []
    direct: list[float] = []
    with Cluster(3, **cluster) as started:
        if cluster.get("mode") == "cp":
            started.wait_leader()
        node = started.nodes["n1"]
        link = started.network.port(CLIENT, "n1")
        for _ in range(50):  # warm up both paths
            rpc_call(link, method, args, 1.0)
            rpc_call(node.port, method, args, 1.0)
        for i in range(calls):
            # Interleave so that machine load hits both paths alike.
            for port, sink in ((link, proxied), (node.port, direct)) if i % 2 else (
                    (node.port, direct), (link, proxied)):
                began = time.perf_counter()
                outcome = rpc_call(port, method, args, 1.0)
                sink.append(time.perf_counter() - began)
                assert outcome.type == "ok", outcome.error
    return proxied, direct


def ms(samples: list[float]) -> float:
    """The median in milliseconds."""
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    runs, calls = (5, 200) if args.quick else (15, 1000)
    for nodes in (3, 5):
        times = start_times(nodes, runs)
        goal = "; goal <= 500 ms" if nodes == 3 else ""
        print(f"start {nodes} nodes to all ready: median {ms(times):7.1f} ms "
              f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}{goal})")
    times = partition_times(runs * 4)
    print(f"partition() on 5 nodes, call to cut in force: median {ms(times):6.2f} ms "
          f"(max {max(times) * 1000:.2f}; goal <= 5 ms)")
    for label, method, call_args, cluster in (
            ("minimal node, echo", "echo", ("x",), {"command": NODE}),
            ("reference store AP, get", "get", ("k",), {"mode": "ap"}),
            ("reference store CP, get", "get", ("k",), {"mode": "cp"})):
        proxied, direct = round_trips(calls, method, call_args, **cluster)
        print(f"XML-RPC round trip, {label}: through client link median {ms(proxied):.3f} ms, "
              f"direct {ms(direct):.3f} ms, ratio "
              f"{statistics.median(proxied) / statistics.median(direct):.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
