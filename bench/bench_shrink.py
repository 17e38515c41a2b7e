"""Shrinking figures: each planted bug, from a failing mixed schedule to the smallest.

Run: python bench/bench_shrink.py [--budget 120] [--tries 2] [--replays 5] [--only BUG]

For each planted bug: draw runs under a mixed nemesis until one fails with
at least 6 faults, shrink its schedule (the same search ``--partition-shrink``
runs, with each candidate replayed ``--tries`` times, two at once), then
replay the smallest schedule ``--replays`` times. Prints, per bug, the
original fault count, the shrunk one, the shrink time and how many replays
of the small schedule failed.
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pytest_partition import Cluster, Nemesis, UntestedWarning
from pytest_partition.run import RunResult
from pytest_partition.schedule import Schedule
from pytest_partition.shrink import Attempt, Shrinker

BUGS = [("cp", "stale-read", "register"), ("cp", "ack-before-commit", "register"),
        ("ap", "no-anti-entropy", "kv"), ("ap", "lost-update", "counter")]
MIXED = {"cp": ["isolate:leader", "random-halves", "random-node", "majority-ring"],
         "ap": ["random-halves", "random-node", "majority-ring", "n1->n2"]}
DURATION = 8.0


@dataclass
class Outcome:
    failed: bool
    result: RunResult


def one_run(mode: str, bug: str, workload: str, seed: int,
            nemesis: Nemesis) -> Outcome:
    with Cluster(nodes=3, mode=mode, bug=bug, seed=seed) as cluster:
        result = cluster.run(workload, duration=DURATION, nemesis=nemesis)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UntestedWarning)
                (result.assert_cp if mode == "cp" else result.assert_ap)()
        except AssertionError:
            return Outcome(True, result)
    return Outcome(False, result)


def hint_of(result: RunResult) -> float | None:
    """Seconds from the nemesis' start to the first blamed operation, if any."""
    lin = result.check_linearizable()
    if lin.valid is not False or not lin.culprits or not result.schedule:
        return None
    partitions = [e for e in result.history.faults() if e.f == "partition"]
    if not partitions:
        return None
    first = result.schedule[0].start  # the first fault's offset, in both clocks
    return first + (min(op.start for op in lin.culprits) - partitions[0].time) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--tries", type=int, default=2)
    parser.add_argument("--replays", type=int, default=5)
    parser.add_argument("--only")
    args = parser.parse_args()
    rows = []
    for mode, bug, workload in BUGS:
        if args.only and args.only != bug:
            continue
        original = None
        seed = 9000
        for seed in range(9000, 9020):
            outcome = one_run(mode, bug, workload, seed, Nemesis(*MIXED[mode]))
            if outcome.failed and len(outcome.result.schedule) >= 6:
                original = outcome.result
                break
        if original is None:
            print(f"{bug}: no failing run with >= 6 faults in 20 seeds")
            continue
        schedule = Schedule([original.schedule], seed=seed)

        def fails(candidate: Schedule, bug: str = bug, mode: str = mode,
                  workload: str = workload, seed: int = seed) -> bool:
            with ThreadPoolExecutor(max_workers=2) as pool:
                runs = list(pool.map(lambda _: one_run(mode, bug, workload, seed,
                                                       Nemesis.replay(candidate)),
                                     range(args.tries)))
            return all(run.failed for run in runs)

        def show(attempt: Attempt, bug: str = bug) -> None:
            print(f"  {bug}: {attempt.line()}", flush=True)

        began = time.monotonic()
        shrinker = Shrinker(schedule, fails, budget=args.budget, estimate=DURATION + 4,
                            hint=hint_of(original), progress=show)
        smallest = shrinker.run()
        took = time.monotonic() - began
        replays = sum(one_run(mode, bug, workload, seed, Nemesis.replay(smallest)).failed
                      for _ in range(args.replays))
        print(f"{bug}: {len(schedule)} -> {len(smallest)} fault(s) in {took:.0f} s; "
              f"replays failed {replays}/{args.replays}: {smallest.describe()}", flush=True)
        rows.append((bug, len(schedule), len(smallest), took, f"{replays}/{args.replays}"))
    print()
    print(f"{'planted bug':20} {'faults':>7} {'shrunk':>7} {'shrink time':>12} "
          f"{'replays failed':>15}")
    for bug, before, after, took, replayed in rows:
        print(f"{bug:20} {before:>7} {after:>7} {took:>10.0f} s {replayed:>15}")


if __name__ == "__main__":
    main()
