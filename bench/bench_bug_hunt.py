"""Catch rates with default settings: how often does a default run find each planted bug?

Run: python bench/bench_bug_hunt.py [--runs 10] [--correct-runs 20] [--only BUG]

Every run is what a new user writes: ``cluster.run(workload, nemesis=...)``,
with ``duration=5`` and nothing else tuned; ``isolate:leader`` for the CP
store, ``random-halves`` for the AP one. For each planted bug and workload it
prints how many of ``--runs`` runs failed ``assert_cp()`` / ``assert_ap()``;
for the correct stores, how many of ``--correct-runs`` runs raised a false
alarm. Two rows try a service the plugin has never seen: a naive replicated
one (tests/nodes/naive_node.py: local writes pushed once, never repaired),
called in the model's words and in its own (``methods=``). Seeds are fixed
(one per run), so a row repeats its schedules.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from pytest_partition import Cluster, UntestedWarning

#: A user's naive replicated service (writes applied locally, pushed once to
#: the peers, never repaired), in the model's words and in its own.
NAIVE = [sys.executable, str(Path(__file__).resolve().parent.parent / "tests" / "nodes" /
                             "naive_node.py")]
VOCABULARY = {"get": "fetch", "put": "store", "cas": "swap", "incr": "bump"}
OWN_WORDS = [*NAIVE, "--methods", ",".join(f"{a}={b}" for a, b in VOCABULARY.items())]

NEMESIS = {"cp": "isolate:leader", "ap": "random-halves"}
BUGS = [
    ("cp", "stale-read", ("register", "kv")),
    ("cp", "ack-before-commit", ("register", "kv")),
    ("ap", "no-anti-entropy", ("register", "kv")),
    ("ap", "lost-update", ("counter", "kv", "register")),
    ("ap", "naive service", ("kv", "register")),
    ("ap", "naive service, own words", ("kv",)),
]
EXTRA: dict[str, object] = {}
CORRECT = [("cp", ("register", "kv")), ("ap", ("register", "kv", "counter"))]


def one_run(mode: str, bug: str | None, workload: str, seed: int) -> tuple[bool, str, float]:
    """(failed, first line of the failure, seconds) for one default run."""
    began = time.monotonic()
    service: dict[str, object] = {"mode": mode, "bug": bug}
    methods = None
    if bug == "naive service":
        service = {"command": NAIVE}
    elif bug == "naive service, own words":
        service, methods = {"command": OWN_WORDS}, VOCABULARY
    with Cluster(nodes=3, seed=seed, **service) as cluster:  # type: ignore[arg-type]
        result = cluster.run(workload, duration=5.0, nemesis=NEMESIS[mode], methods=methods,
                             **EXTRA)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UntestedWarning)
                (result.assert_cp if mode == "cp" else result.assert_ap)()
        except AssertionError as error:
            return True, str(error).splitlines()[0][:110], time.monotonic() - began
    return False, "", time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--correct-runs", type=int, default=20)
    parser.add_argument("--only", help="one planted bug, or 'correct'")
    args = parser.parse_args()
    rows = []

    def rate(mode: str, bug: str | None, workload: str, runs: int, first_seed: int) -> None:
        """Run ``runs`` default runs; add a row: how many failed, the slowest run."""
        failed_runs, seconds = 0, []
        for number in range(runs):
            failed, why, took = one_run(mode, bug, workload, seed=first_seed + number)
            failed_runs += failed
            seconds.append(took)
            if bug is not None or failed:
                outcome = ("caught" if failed else "MISSED") if bug else "FALSE ALARM"
                print(f"  {bug or 'correct ' + mode} {workload} run {number}: {outcome} "
                      f"({took:.1f} s) {why}", flush=True)
        label = bug or f"correct {mode} (false alarms)"
        rows.append((label, workload, f"{failed_runs}/{runs}", max(seconds)))

    for mode, bug, workloads in BUGS:
        if not args.only or args.only == bug:
            for workload in workloads:
                rate(mode, bug, workload, args.runs, 7000)
    for mode, workloads in CORRECT:
        if not args.only or args.only == "correct":
            for workload in workloads:
                rate(mode, None, workload, args.correct_runs, 8000)
    print()
    print(f"{'planted bug':30} {'workload':9} {'caught':>7}  slowest run")
    for bug, workload, rate, slowest in rows:
        print(f"{bug:30} {workload:9} {rate:>7}  {slowest:.1f} s")


if __name__ == "__main__":
    main()
