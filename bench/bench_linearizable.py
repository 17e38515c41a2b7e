"""Time the linearizability checker on realistic histories; print a table.

Histories come from a simulated linearizable key-value store: each client runs
one operation at a time with random think times and latencies, and every
operation takes effect at a random instant inside its interval. With
``--info``, a share of operations time out (``info``) and take effect or not.
Brute force is the baseline on small histories.

    python bench/bench_linearizable.py            # the full table
    python bench/bench_linearizable.py --quick    # 1k operations only
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from pytest_partition.checkers import linearizable, linearizable_bruteforce
from pytest_partition.history import History


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10k-operation rows")
    args = parser.parse_args()
    print("| history                            |    ops | clients | keys |  info "
          "|   valid | time (s) |     ops/s |")
    print("|------------------------------------|-------:|--------:|-----:|------:"
          "|--------:|---------:|----------:|")
    sizes = [1_000] if args.quick else [1_000, 10_000]
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
