"""Reference store figures: CP failover and AP convergence, medians over trials.

Run: python bench/bench_store.py [--quick]

- CP failover: a 3-node cluster, the leader cut off from both followers; time
  from the cut until a write through a majority node succeeds again.
- AP convergence: a 3-node cluster split n1,n2|n3; 1,000 keys written on each
  side (the same keys, so every one conflicts); time from the heal until
  every node's state() and replica fingerprint are equal.

Prints figures measured in this run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pytest_partition import Cluster, OperationError
from pytest_partition.client import rpc_call
from pytest_partition.network import CLIENT

POLL = 0.005  # seconds between probes: the resolution of the figures


def failover(trials: int) -> list[float]:
    times = []
    with Cluster(3, mode="cp") as cluster:
        for trial in range(trials):
            old = cluster.wait_leader()
            writer = next(name for name in cluster.names if name != old)
            # A short timeout: a probe stuck on the old leader must not hide
            # the moment the new one serves.
            client = cluster.client(writer, timeout=0.05)
            cluster.client(writer).put("k", trial)
            began = time.monotonic()
            cluster.partition(f"isolate:{old}")
            while True:
                try:
                    client.put("k", -trial)
                    break
                except OperationError:
                    time.sleep(POLL)  # a probe interval, in a bench, not a test wait
            times.append(time.monotonic() - began)
            cluster.heal()
            cluster.wait_converged(timeout=10)
    return times


def converged(cluster: Cluster) -> bool:
    prints = set()
    states = []
    for name in cluster.names:
        port = cluster.network.port(CLIENT, name)
        state, stats = rpc_call(port, "state", (), 2.0), rpc_call(port, "stats", (), 2.0)
        if state.type != "ok" or stats.type != "ok":
            return False
        states.append(state.value)
        prints.add(stats.value["fingerprint"])
    return len(prints) == 1 and all(s == states[0] for s in states)


def convergence(trials: int, keys: int) -> list[float]:
    times = []
    for trial in range(trials):
        with Cluster(3, mode="ap", seed=trial) as cluster:
            left, right = cluster.client("n1"), cluster.client("n3")
            cluster.partition("n1,n2|n3")
            for i in range(keys):
                left.put(f"key{i}", f"left-{trial}")
                right.put(f"key{i}", f"right-{trial}")
            began = time.monotonic()
            cluster.heal()
            while not converged(cluster):
                time.sleep(POLL)
            times.append(time.monotonic() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer trials")
    args = parser.parse_args()
    trials = 5 if args.quick else 15
    ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f}"  # noqa: E731
    times = failover(trials)
    print(f"CP failover, leader cut off until the majority writes again ({trials} trials): "
          f"{ms(times)} (goal: median <= 1000 ms)")
    times = convergence(max(3, trials // 3), 1000)
    print(f"AP convergence, 1,000 conflicting keys per side, heal until equal "
          f"({len(times)} trials): {ms(times)} (goal: median <= 500 ms)")


if __name__ == "__main__":
    main()
