"""Bug-catch figures: each planted bug within 3 runs, and false alarms over 20 runs.

Run: python bench/bench_bug_hunt.py [--correct-runs N]

Uses the hunting settings of tests/test_bug_hunt.py (also in docs/checkers.md):
for each planted bug, the run (1-3) in which assert_cp()/assert_ap() failed;
for the correct store in each setting, how many of N runs raised a false alarm.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_bug_hunt import BUGS, check, hunt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--correct-runs", type=int, default=20)
    args = parser.parse_args()
    for mode, bug, how in BUGS:
        began = time.monotonic()
        caught = None
        for attempt in range(1, 4):
            try:
                check(hunt(mode, bug, how, seed=5000 + attempt), mode)
            except AssertionError:
                caught = attempt
                break
        outcome = f"caught in run {caught}" if caught else "NOT caught in 3 runs"
        print(f"{bug:18} ({how:10}): {outcome} ({time.monotonic() - began:.0f} s)")
    for mode, how in (("cp", "cp"), ("ap", "ap-kv"), ("ap", "ap-counter")):
        alarms = 0
        verdicts: dict[str, int] = {}
        for run in range(args.correct_runs):
            result = hunt(mode, None, how, seed=6000 + run)
            try:
                check(result, mode)
            except AssertionError as error:
                alarms += 1
                print(f"  false alarm in run {run}: {str(error).splitlines()[0]}")
            verdicts[result.verdict.verdict] = verdicts.get(result.verdict.verdict, 0) + 1
        print(f"correct {mode} store ({how:10}): {alarms} false alarm(s) in "
              f"{args.correct_runs} runs; verdicts {verdicts}")


if __name__ == "__main__":
    main()
