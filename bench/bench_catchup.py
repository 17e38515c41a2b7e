"""Catch-up time against gap size: a replica cut off while 1-64 MiB were written.

Run: python bench/bench_catchup.py [--trials N] [--modes cp,ap] [--limit SECONDS]

For each gap size, a 3-node cluster: one replica (a CP follower, or AP node
n3) is isolated while values of 256 KiB are written through another node
until the gap holds that many MiB; then the network heals and the clock
runs until the replica holds everything: its commit index reaches the
leader's (CP), or its replica fingerprint equals the writer's (AP).

Prints medians over trials measured in this run; nothing is asserted. A
replica that does not catch up within --limit seconds is reported as such.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from pytest_partition import Cluster

GAPS_MIB = (1, 4, 16, 64)
VALUE = 256 * 1024  # four values per MiB; each well under a call's 1 MiB limit
POLL = 0.02  # seconds between probes: the resolution of the figures


def caught_up_after(cluster: Cluster, lagging: str, done: Callable[[], bool],
                    limit: float) -> float | None:
    cluster.heal()
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if done():
            return time.monotonic() - began
        time.sleep(POLL)  # a probe interval, in a bench, not a test wait
    return None


def trial(mode: str, gap_mib: int, limit: float) -> float | None:
    with Cluster(3, mode=mode) as cluster:
        if mode == "cp":
            writer = cluster.wait_leader()
            lagging = next(name for name in cluster.names if name != writer)
        else:
            writer, lagging = "n1", "n3"
        cluster.partition(f"isolate:{lagging}")
        client = cluster.client(writer, timeout=30)
        for number in range(gap_mib * (1 << 20) // VALUE):
            client.put(f"k{number % 16}", chr(ord("a") + number % 26) * VALUE)
        if mode == "cp":
            target = cluster.call(writer, "stats")["commit_index"]

            def done() -> bool:
                return int(cluster.call(lagging, "stats", timeout=5)["commit_index"]) >= target
        else:
            fingerprint = cluster.call(writer, "stats")["fingerprint"]

            def done() -> bool:
                return cluster.call(lagging, "stats", timeout=5)["fingerprint"] == fingerprint
        return caught_up_after(cluster, lagging, done, limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--modes", default="cp,ap")
    parser.add_argument("--limit", type=float, default=60.0,
                        help="seconds to wait for a catch-up (default 60)")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        for gap in GAPS_MIB:
            times = [trial(mode, gap, args.limit) for _ in range(args.trials)]
            done = [t for t in times if t is not None]
            missed = len(times) - len(done)
            line = f"{mode.upper()} catch-up after a {gap:2d} MiB gap ({args.trials} trials): "
            if done:
                line += (f"median {statistics.median(done) * 1000:6.0f} ms, "
                         f"min {min(done) * 1000:.0f}, max {max(done) * 1000:.0f}")
            if missed:
                line += f"{'; ' if done else ''}{missed} never caught up within {args.limit:g} s"
            print(line, flush=True)


if __name__ == "__main__":
    main()
