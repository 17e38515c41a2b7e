"""Time the linearizability checker on realistic histories; print a table.

Histories come from a simulated linearizable key-value store: each client runs
one operation at a time with random think times and latencies, and every
operation takes effect at a random instant inside its interval. With
``--info``, a share of operations time out (``info``) and take effect or not.
Brute force is the baseline on small histories.

The *wide* histories are shaped like Porcupine's 50-client kv tests: 50
clients, each with an operation always in flight, on 10 keys; gets, puts and
appends of unique strings (Redis' APPEND). They are the hard case for the
search: every order of concurrent appends is a different state, and only the
reads that return the whole string tell which order happened. With
``--baseline REV`` the same wide histories are also timed with the checker of
git revision ``REV`` (in a child process), for a before/after figure from one
run on one machine.

    python bench/bench_linearizable.py            # the full table
    python bench/bench_linearizable.py --quick    # 1k operations only
    python bench/bench_linearizable.py --wide --baseline 0db6a7d
    python bench/bench_linearizable.py --wide --porcupine ~/src/porcupine
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if "--wide-child" not in sys.argv:
    # The checker of this tree, not whatever copy is installed (the child of
    # --baseline gets its revision's copy through PYTHONPATH instead).
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import pytest_partition
from pytest_partition import edn
from pytest_partition.checkers import (
    KVModel,
    Model,
    linearizable,
    linearizable_bruteforce,
)
from pytest_partition.history import History, Operation

WIDE_SEEDS = (1, 2, 3)
"""The wide histories timed: one per seed (their difficulty varies a lot)."""


def simulate(seed: int, operations: int, clients: int, keys: int, info_share: float,
             stale_reads: int = 0, latency_ms: float = 1.0) -> History:
    """A linearizable kv history (plus ``stale_reads`` corrupted reads)."""
    rng = random.Random(seed)
    names = [f"k{i}" for i in range(keys)]
    clock = [rng.uniform(0, 1.0) for _ in range(clients)]
    planned = []
    for number in range(operations):
        client = number % clients
        start = clock[client] + rng.expovariate(1 / 0.2)       # think time, ms
        end = start + 0.1 + rng.expovariate(1 / latency_ms)   # latency, ms
        clock[client] = end
        roll = rng.random()
        f = "get" if roll < 0.5 else "put" if roll < 0.9 else "cas"
        value: Any = None
        if f == "put":
            value = rng.randrange(10)
        elif f == "cas":
            value = [rng.randrange(10), rng.randrange(10)]
        outcome = "info" if rng.random() < info_share else "ok"
        applies = outcome == "ok" or rng.random() < 0.5
        planned.append({"process": client, "start": start, "end": end, "f": f,
                        "key": rng.choice(names), "value": value, "outcome": outcome,
                        "applies": applies, "point": rng.uniform(start, end),
                        "node": f"n{client % 3 + 1}"})
    state: dict[str, Any] = {}
    for op in sorted(planned, key=lambda op: op["point"]):
        if not op["applies"]:
            continue
        current = state.get(op["key"])
        if op["f"] == "get":
            op["output"] = current
        elif op["f"] == "put":
            state[op["key"]] = op["value"]
            op["output"] = True
        else:
            op["output"] = current == op["value"][0]
            if op["output"]:
                state[op["key"]] = op["value"][1]
    reads = [op for op in planned if op["f"] == "get" and op["outcome"] == "ok"]
    for op in rng.sample(reads, min(stale_reads, len(reads))):
        op["output"] = 99  # a value nobody wrote: the checker must find it
    events = []
    for op in planned:
        common = {"process": op["process"], "f": op["f"], "key": op["key"], "node": op["node"]}
        events.append((op["start"], dict(common, type="invoke", value=op["value"])))
        completion = op.get("output") if op["outcome"] == "ok" else op["value"]
        events.append((op["end"], dict(common, type=op["outcome"], value=completion)))
    events.sort(key=lambda pair: pair[0])
    return History.from_events([dict(e, time=int(t * 1e6)) for t, e in events])


def simulate_counter(seed: int, operations: int, clients: int, info_share: float) -> History:
    """A linearizable counter history: half ``add 1``, half reads."""
    rng = random.Random(seed)
    clock = [0.0] * clients
    planned = []
    for number in range(operations):
        client = number % clients
        start = clock[client] + rng.expovariate(1 / 0.2)
        end = start + 0.1 + rng.expovariate(1.0)
        clock[client] = end
        f = "read" if rng.random() < 0.5 else "add"
        outcome = "info" if f == "add" and rng.random() < info_share else "ok"
        planned.append({"process": client, "start": start, "end": end, "f": f,
                        "value": None if f == "read" else 1, "outcome": outcome,
                        "applies": outcome == "ok" or rng.random() < 0.5,
                        "point": rng.uniform(start, end)})
    total = 0
    for op in sorted(planned, key=lambda op: op["point"]):
        if op["applies"] and op["f"] == "add":
            total += 1
        elif op["applies"]:
            op["output"] = total
    events = []
    for op in planned:
        common = {"process": op["process"], "f": op["f"], "node": "n1"}
        events.append((op["start"], {**common, "type": "invoke", "value": op["value"]}))
        completion = op.get("output", op["value"])
        events.append((op["end"], {**common, "type": op["outcome"], "value": completion}))
    events.sort(key=lambda pair: pair[0])
    return History.from_events([{**e, "time": int(t * 1e6)} for t, e in events])


def simulate_wide(seed: int, operations: int = 1_722, clients: int = 50, keys: int = 10,
                  info_share: float = 0.0, bad_reads: int = 0) -> History:
    """A linearizable history shaped like Porcupine's ``c50-ok``.

    Each client starts its next operation right after the last one returned
    (a short think time, latencies of about 1 ms with a long tail), so about
    ``clients`` operations are in flight at any time. Gets (45%), puts (10%)
    and appends (45%) of a value unique to the client and its counter
    (``"x 7 3 y"``), on ``keys`` keys; a get of a key never written returns
    None. Every operation takes effect at a random instant inside its
    interval; with ``info_share``, that share of puts and appends time out.
    ``bad_reads`` reads of several pieces end with one more that nobody
    appended: the history is then not linearizable (as Porcupine's
    ``c50-bad``), and the search must rule out every order for that key.
    """
    rng = random.Random(seed)
    names = [str(i) for i in range(keys)]
    clock = [rng.uniform(0, 1.0) for _ in range(clients)]
    counters = [0] * clients
    planned = []
    for _ in range(operations):
        client = min(range(clients), key=clock.__getitem__)  # the next one to be free
        start = clock[client] + rng.expovariate(1 / 0.1)
        end = start + 0.05 + rng.expovariate(1.0)
        clock[client] = end
        roll = rng.random()
        f = "get" if roll < 0.45 else "put" if roll < 0.55 else "append"
        value = None if f == "get" else f"x {client} {counters[client]} y"
        counters[client] += 1
        outcome = "info" if f != "get" and rng.random() < info_share else "ok"
        planned.append({"process": client, "start": start, "end": end, "f": f,
                        "key": rng.choice(names), "value": value, "outcome": outcome,
                        "applies": outcome == "ok" or rng.random() < 0.5,
                        "point": rng.uniform(start, end)})
    state: dict[str, str] = {}
    for op in sorted(planned, key=lambda op: op["point"]):
        if not op["applies"]:
            continue
        if op["f"] == "get":
            op["output"] = state.get(op["key"])
        else:
            before = state.get(op["key"], "") if op["f"] == "append" else ""
            state[op["key"]] = before + op["value"]
    pieces = [op for op in planned if op["f"] == "get" and op["outcome"] == "ok"
              and (op.get("output") or "").count("y") >= 2]
    for op in rng.sample(pieces, min(bad_reads, len(pieces))):
        op["output"] += f"x {clients} 0 y"  # no client has that number
    events = []
    for op in planned:
        common = {"process": op["process"], "f": op["f"], "key": op["key"]}
        events.append((op["start"], dict(common, type="invoke", value=op["value"])))
        completion = op.get("output") if op["f"] == "get" else op["value"]
        events.append((op["end"], dict(common, type=op["outcome"], value=completion)))
    events.sort(key=lambda pair: pair[0])
    return History.from_events([dict(e, time=int(t * 1e6)) for t, e in events])


class StringAppendKV(Model):
    """Porcupine's kv model, written as a user would: get, put, append of strings.

    It uses only the model interface every version of the checker knows
    (``init``, ``step``, ``partition``, ``ignores``, ``read_only``), so that
    ``--baseline`` can time an older checker on the same histories. A missing
    key reads as ``missing`` (None here, ``""`` in Porcupine's files).
    """

    name = "string-append-kv"
    steps_on_payload_only = True

    def __init__(self, missing: str | None = None) -> None:
        self.missing = missing

    def init(self) -> Any:
        return self.missing

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        groups: dict[Any, list[Operation]] = {}
        for op in ops:
            groups.setdefault(op.key, []).append(op)
        return list(groups.values())

    def ignores(self, op: Operation) -> bool:
        return op.f == "get" and op.type != "ok"

    def read_only(self, op: Operation) -> bool:
        return op.f == "get"

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        if op.f == "get":
            return op.type != "ok" or op.output == state, state
        if op.f == "put":
            return True, op.value
        return True, (state or "") + op.value


def row(label: str, history: History, model: str = "kv") -> str:
    ops = history.operations()
    clients = len({op.process for op in ops})
    started = time.perf_counter()
    result = linearizable(ops, model, time_limit=120)
    elapsed = time.perf_counter() - started
    info = sum(op.type == "info" for op in ops) / len(ops)
    return (f"| {label:<34} | {len(ops):>6} | {clients:>7} | {result.keys:>4} | {info:>5.1%} "
            f"| {result.valid!s:>7} | {elapsed:>8.3f} | {len(ops) / elapsed:>9,.0f} |")


def brute_rows(count: int = 200) -> list[str]:
    rng = random.Random(7)
    # Half of them with one read of a value nobody wrote.
    histories = [simulate(rng.randrange(10**9), 8, 4, 1, 0.15, stale_reads=i % 2)
                 for i in range(count)]
    lines = []
    for name, check in (("WGL", lambda h: linearizable(h, "register").valid is True),
                        ("brute force", lambda h: linearizable_bruteforce(h, "register"))):
        started = time.perf_counter()
        verdicts = [check(h) for h in histories]
        elapsed = time.perf_counter() - started
        lines.append(f"| {name + f' x{count} (8 ops)':<34} | {8:>6} | {4:>7} | "
                     f"{1:>4} | {'15%':>5} | {sum(verdicts):>7} | {elapsed:>8.3f} | "
                     f"{count * 8 / elapsed:>9,.0f} |")
    return lines


def load_jepsen_log(path: Path) -> History:
    """A Jepsen ``jepsen.util`` log (``INFO  jepsen.util - 3\t:ok\t:read\t1``) as a History."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        _, sep, rest = line.partition("jepsen.util - ")
        fields = rest.split("\t")
        if not sep or len(fields) != 4:
            continue
        process, kind, f, value = fields
        events.append({"process": int(process), "type": kind.lstrip(":"), "f": f.lstrip(":"),
                       "value": edn.parse(value)})
    return History.from_events(events)


def wide_cases(porcupine: Path | None) -> list[tuple[str, History, str | None]]:
    """(label, history, what a missing key reads as) for the wide table."""
    cases = [(f"50 clients, appends, seed {seed}", simulate_wide(seed), None)
             for seed in WIDE_SEEDS]
    cases.append(("50 clients, appends, 5% info", simulate_wide(4, info_share=0.05), None))
    cases += [(f"50 clients, appends, bad read, seed {seed}", simulate_wide(seed, bad_reads=1),
               None) for seed in WIDE_SEEDS]
    if porcupine is not None:
        for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"):
            path = porcupine / "test_data" / "kv" / f"{name}.txt"
            if path.exists():  # Porcupine's files read "" for a key never written
                cases.append((f"porcupine kv/{name}", History.load(path), ""))
    return cases


REPEAT = 3
"""Each wide history is checked this many times; the fastest run counts."""


def time_check(history: History, model: Any) -> dict[str, Any]:
    """The verdict, the best CPU time of :data:`REPEAT` checks and the search steps.

    CPU time of this process, not wall time: on a shared machine other
    processes take turns on the cores, and wall time would count their turns.
    """
    ops = history.operations()
    best = float("inf")
    for _ in range(REPEAT):
        started = time.process_time()
        result = linearizable(ops, model, time_limit=600)
        best = min(best, time.process_time() - started)
    return {"valid": result.valid, "seconds": best, "steps": result.steps,
            "ops": len(ops), "keys": result.keys}


def wide_child(porcupine: Path | None) -> None:
    """Time the wide cases with :class:`StringAppendKV` only; print JSON (for --baseline)."""
    timings = [dict(time_check(history, StringAppendKV(missing)), label=label)
               for label, history, missing in wide_cases(porcupine)]
    print(json.dumps({"package": pytest_partition.__file__, "timings": timings}))


def baseline_timings(revision: str, porcupine: Path | None) -> dict[str, dict[str, Any]]:
    """Run :func:`wide_child` with the package of git ``revision``; its timings by label."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as folder:
        archive = subprocess.run(["git", "-C", str(root), "archive", revision, "pytest_partition"],
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        command = [sys.executable, __file__, "--wide-child"]
        if porcupine is not None:
            command += ["--porcupine", str(porcupine)]
        env = {**os.environ, "PYTHONPATH": folder}
        output = subprocess.run(command, check=True, capture_output=True, text=True,
                                env=env).stdout
    report = json.loads(output)
    if not report["package"].startswith(folder):
        raise SystemExit(f"the baseline imported {report['package']}, not revision {revision}")
    return {timing["label"]: timing for timing in report["timings"]}


def wide_table(baseline: str | None, porcupine: Path | None) -> None:
    """The wide histories: this tree's checker, and the baseline's when asked.

    ``before`` is revision ``baseline`` with :class:`StringAppendKV` (older
    checkers have no string append in ``kv``); ``after`` is this tree, with
    the same model and with the built-in ``kv`` model (its pruning hooks).
    """
    before = baseline_timings(baseline, porcupine) if baseline else {}
    print(f"\nwide histories; before = revision {baseline or '(not run)'}, "
          f"after = this tree ({Path(pytest_partition.__file__).parent}), same run; CPU "
          f"seconds, best of {REPEAT}; speed-up = before / after with kv")
    print("| history                               |  ops | valid | before (s) | after, same "
          "model (s) | after, kv (s) |  kv steps | speed-up |")
    print("|---------------------------------------|-----:|------:|-----------:|------------------"
          ":|--------------:|----------:|---------:|")
    for label, history, missing in wide_cases(porcupine):
        plain = time_check(history, StringAppendKV(missing))
        built_in = time_check(history, KVModel(initial=missing))
        old = before.get(label)
        verdicts = {plain["valid"], built_in["valid"]} | ({old["valid"]} if old else set())
        if len(verdicts) > 1:
            raise SystemExit(f"{label}: the verdicts differ: before {old and old['valid']}, "
                             f"after {plain['valid']} and {built_in['valid']} (kv)")
        then = f"{old['seconds']:>10.3f}" if old else f"{'-':>10}"
        measurable = old and min(old["seconds"], built_in["seconds"]) >= 0.001
        ratio = f"{old['seconds'] / built_in['seconds']:>7.1f}x" if measurable else f"{'-':>8}"
        print(f"| {label:<37} | {plain['ops']:>4} | {plain['valid']!s:>5} | {then} "
              f"| {plain['seconds']:>17.3f} | {built_in['seconds']:>13.3f} "
              f"| {built_in['steps']:>9,} | {ratio} |", flush=True)
    jepsen = sorted((porcupine / "test_data" / "jepsen").glob("etcd_*.log")) if porcupine else []
    if jepsen:
        started = time.perf_counter()
        verdicts = [linearizable(load_jepsen_log(path), "register").valid for path in jepsen]
        elapsed = time.perf_counter() - started
        print(f"porcupine jepsen/etcd_*.log: {len(jepsen)} histories, "
              f"{verdicts.count(True)} linearizable, {verdicts.count(False)} not, "
              f"{len(jepsen) - verdicts.count(True) - verdicts.count(False)} unknown, "
              f"{elapsed:.3f} s in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10k-operation rows")
    parser.add_argument("--wide", action="store_true", help="only the wide (50-client) table")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time the wide histories with the checker of git revision REV")
    parser.add_argument("--porcupine", metavar="DIR", type=Path,
                        help="a local copy of Porcupine's repository: time its test_data too")
    parser.add_argument("--wide-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wide_child:
        wide_child(args.porcupine)
        return
    if not args.wide:
        narrow_table(args.quick)
    wide_table(args.baseline, args.porcupine)


def narrow_table(quick: bool) -> None:
    """The table of kv, register and counter histories from 5-10 clients."""
    print("| history                            |    ops | clients | keys |  info "
          "|   valid | time (s) |     ops/s |")
    print("|------------------------------------|-------:|--------:|-----:|------:"
          "|--------:|---------:|----------:|")
    sizes = [1_000] if quick else [1_000, 10_000]
    for size in sizes:
        for clients in (5, 10):
            for info in (0.0, 0.05):
                label = f"{size // 1000}k kv, {clients} clients" + (", info" if info else "")
                print(row(label, simulate(size + clients, size, clients, 10, info)), flush=True)
    big = sizes[-1]
    print(row(f"{big // 1000}k kv, 5 clients, 1 stale read",
              simulate(3, big, 5, 10, 0.0, stale_reads=1)), flush=True)
    print(row(f"{big // 1000}k register, 5 clients, info",
              simulate(4, big, 5, 1, 0.05), model="register"), flush=True)
    print(row(f"{big // 1000}k register, 10 clients, info, 10ms",
              simulate(5, big, 10, 1, 0.05, latency_ms=10.0), model="register"), flush=True)
    # Counters are the hard case: every unknown "add" may or may not count.
    for size, clients, info in ((2_000, 5, 0.1), (2_000, 10, 0.2), (big, 5, 0.05)):
        print(row(f"{size // 1000}k counter, {clients} clients, info",
                  simulate_counter(6, size, clients, info), model="counter"), flush=True)
    for line in brute_rows():
        print(line, flush=True)


if __name__ == "__main__":
    main()
