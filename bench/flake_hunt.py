"""Run the test suite N times with a CPU hog beside it; print every failure.

Run: python bench/flake_hunt.py [--runs 20] [--hogs 2] [-- PYTEST ARGS...]

A hog is a process that spins (``while True: pass``); one per core makes
the suite compete for the CPU as it does on a busy CI machine. Each run is
the README's test command (``python -m pytest``, plus any arguments after
``--``); the script prints one line per run (outcome, time, failed tests)
and, at the end, each test that ever failed with the runs it failed in. The
hogs are stopped however the script ends.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2,
                        help="busy processes beside the suite (default: one per core)")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             start_new_session=True) for _ in range(args.hogs)]
    failures: dict[str, list[int]] = defaultdict(list)
    green = 0
    try:
        for number in range(1, args.runs + 1):
            began = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                                  *args.pytest_args], cwd=ROOT, capture_output=True, text=True)
            took = time.monotonic() - began
            failed = FAILED.findall(run.stdout)
            for test in failed:
                failures[test].append(number)
            summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
            green += run.returncode == 0
            print(f"run {number}: exit {run.returncode} in {took:.0f} s: {summary}"
                  + ("".join(f"\n    {test}" for test in failed)), flush=True)
    finally:
        for hog in hogs:
            os.killpg(hog.pid, signal.SIGKILL)
            hog.wait()
    print(f"\n{green} of {args.runs} runs passed with {args.hogs} hog(s) beside them")
    for test, runs in sorted(failures.items()):
        print(f"  {test}: failed in run(s) {', '.join(map(str, runs))}")
    return 0 if green == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
