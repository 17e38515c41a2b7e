"""linearizable() must agree with the brute-force reference on small random histories.

Histories come from a real sequential execution (each operation takes effect
at a random instant inside its interval; unknown outcomes may or may not take
effect), some with one output corrupted and some with random outputs, so that
both verdicts are well represented.
"""

from __future__ import annotations

import json
import random
from typing import Any, cast

import pytest

from pytest_partition.checkers import Model, linearizable, linearizable_bruteforce
from pytest_partition.checkers.models import resolve_model
from pytest_partition.checkers.realtime import precedes
from pytest_partition.history import History, Operation

VALUES = [0, 1, 2, 3]
STRINGS = ["a", "ab", "ba", "abc", "aa"]


def _register_op(rng: random.Random, keys: list[str | None]) -> tuple[str, Any, Any]:
    key = rng.choice(keys)
    f = rng.choice(["read", "write", "cas"]) if key is None else rng.choice(
        ["get", "put", "cas", "get", "incr", "delete"])
    if f in ("read", "get"):
        return f, key, None
    if f in ("write", "put"):
        return f, key, rng.choice(VALUES)
    if f == "cas":
        return f, key, [rng.choice([None, *VALUES]), rng.choice(VALUES)]
    if f == "incr":
        return f, key, rng.choice([1, 2])
    return f, key, None  # delete


def _append_op(rng: random.Random, keys: list[str | None]) -> tuple[str, Any, Any]:
    """Mostly string appends and reads, with a few resets (put, delete) and list appends."""
    key = rng.choice(keys)
    f = rng.choices(["append", "get", "put", "delete"], weights=[8, 7, 1, 1])[0]
    if f == "append":
        return f, key, rng.choice(["a", "b", "c", "a"]) if rng.random() < 0.9 else 7
    if f == "put":
        return f, key, rng.choice(["a", "", [1]])
    return f, key, None


def _counter_op(rng: random.Random) -> tuple[str, Any, Any]:
    f = rng.choice(["incr", "add", "read", "read"])
    if f == "read":
        return f, None, None
    return f, None, rng.choice([-1, 1, 2, 3])


def _apply(state: dict[Any, Any], f: str, key: Any, value: Any) -> tuple[bool, Any]:
    """Run one operation sequentially: (did it succeed, its output)."""
    current = state.get(key)
    if f in ("read", "get"):
        return True, (current if current is not None or key is None else None)
    if f in ("write", "put"):
        state[key] = value
        return True, None
    if f == "cas":
        applied = current == value[0]
        if applied:
            state[key] = value[1]
        return True, applied
    if f == "delete":
        state[key] = None
        return True, None
    if f == "append":
        if isinstance(value, str) and (current is None or isinstance(current, str)):
            state[key] = (current or "") + value
        elif current is None or isinstance(current, list):
            state[key] = [*(current or []), value]
        else:
            return False, None  # the store refuses: the op becomes a fail
        return True, None
    # incr / add
    total = (current or 0)
    if not isinstance(total, int) or isinstance(total, bool):
        return False, None  # the store would refuse: the op becomes a fail
    state[key] = total + value
    return True, (state[key] if f == "incr" else value)


def generate(rng: random.Random, model: str, sizes: tuple[int, int] = (1, 8),
             *, corrupt: bool = True, processes: tuple[int, int] = (2, 4)) -> History:
    """A history of at most 8 operations (by default) from several processes.

    With ``corrupt``, half of them have one or all outputs changed; the others
    are real sequential executions, so linearizable.
    """
    processes = rng.randint(*processes)
    count = rng.randint(*sizes)
    keys: list[str | None] = ["a", "b"] if model.startswith("kv") else [None]
    specs = []
    clock = [rng.uniform(0, 3) for _ in range(processes)]
    for _ in range(count):
        process = rng.randrange(processes)
        start = clock[process] + rng.uniform(0, 2)
        end = start + rng.uniform(0.1, 4)
        clock[process] = end
        if model == "counter":
            f, key, value = _counter_op(rng)
        elif model == "kv-append":
            f, key, value = _append_op(rng, ["a"] if rng.random() < 0.85 else keys)
        else:
            f, key, value = _register_op(rng, keys)
        point = rng.uniform(start, end)
        roll = rng.random()
        outcome = "ok" if roll < 0.7 else "info" if roll < 0.88 else "fail"
        applies = outcome == "ok" or (outcome == "info" and rng.random() < 0.5)
        specs.append({"process": process, "start": start, "end": end, "f": f, "key": key,
                      "value": value, "point": point, "outcome": outcome, "applies": applies})
    state: dict[Any, Any] = {}
    if model == "counter":
        state[None] = 0
    for spec in sorted(specs, key=lambda s: s["point"]):
        if spec["applies"]:
            done, output = _apply(state, spec["f"], spec["key"], spec["value"])
            spec["output"] = output
            if not done:
                spec["outcome"] = "fail"
    mode = rng.random() if corrupt else 1.0
    oks = [s for s in specs if s["outcome"] == "ok" and "output" in s]
    if mode < 0.35 and oks:  # corrupt one output
        victim = rng.choice(oks)
        if isinstance(victim["output"], bool):
            victim["output"] = not victim["output"]
        elif victim["f"] in ("read", "get", "incr"):
            victim["output"] = rng.choice([None, *VALUES, 5, *STRINGS])
    elif mode < 0.5:  # random outputs everywhere
        for spec in oks:
            if spec["f"] in ("read", "get"):
                spec["output"] = rng.choice([None, *VALUES, *STRINGS])
            elif spec["f"] == "cas":
                spec["output"] = rng.choice([True, False])
    # Processes take one operation at a time: never-completed ones end a process.
    last_of = {s["process"]: s for s in specs}
    events = []
    for spec in specs:
        name = f"n{spec['process'] % 3 + 1}"
        common = {"process": spec["process"], "f": spec["f"], "key": spec["key"], "node": name}
        events.append((spec["start"], dict(common, type="invoke", value=spec["value"])))
        if spec["outcome"] == "info" and last_of[spec["process"]] is spec and rng.random() < 0.5:
            continue  # never completed
        value = spec.get("output") if spec["outcome"] == "ok" else spec["value"]
        events.append((spec["end"], dict(common, type=spec["outcome"], value=value)))
    events.sort(key=lambda pair: pair[0])
    return History.from_events(
        [dict(event, time=int(when * 1e6)) for when, event in events]
    )


def _check_prefix(result: Any, model_name: str) -> None:
    """The longest prefix reported must itself be a legal, real-time-respecting order."""
    model = resolve_model(model_name)
    states: dict[Any, Any] = {}
    placed: list[Operation] = []
    for step in result.longest_prefix:
        key = repr(step.op.key)
        legal, after = model.step(states.get(key, model.init()), step.op)
        assert legal
        assert after == step.state
        states[key] = after
        assert not any(precedes(step.op, earlier) for earlier in placed)
        placed.append(step.op)


MODEL_OF = {"kv-append": "kv"}
"""Operation mixes that are checked with another mix's model."""
SIZES = {"kv-append": (4, 9)}
"""Longer histories for appends: the interesting ones read a string of several."""
CASES = [("register", 900), ("kv", 650), ("kv-append", 1000), ("counter", 650)]


@pytest.mark.parametrize(("mix", "count"), CASES)
def test_agrees_with_bruteforce(mix: str, count: int) -> None:
    model = MODEL_OF.get(mix, mix)
    rng = random.Random(f"crosscheck-{mix}")
    verdicts = {True: 0, False: 0}
    for number in range(count):
        history = generate(rng, mix, SIZES.get(mix, (1, 8)))
        expected = linearizable_bruteforce(history, model)
        result = linearizable(history, model)
        assert result.valid == expected, (
            f"history #{number} ({mix}): fast={result.valid} brute={expected}\n"
            + "\n".join(op.describe() for op in history.operations())
            + "\n" + result.explain()
        )
        verdicts[expected] += 1
        if not expected:
            assert result.culprits and result.explanation
            assert "not linearizable" in result.explain()
            _check_prefix(result, model)
            json.dumps(result.to_dict())
    # Both verdicts must be well represented, or the cross-check proves little.
    assert min(verdicts.values()) > count // 5, verdicts


@pytest.mark.parametrize("mix", ["register", "kv", "kv-append", "counter"])
def test_real_executions_are_linearizable(mix: str) -> None:
    # The models against the sequential executor above: a history it ran is
    # legal, whatever the interleaving (this is where a model's semantics,
    # which the brute force shares, are checked).
    rng = random.Random(f"executions-{mix}")
    for number in range(300):
        history = generate(rng, mix, sizes=(4, 30), corrupt=False)
        result = linearizable(history, MODEL_OF.get(mix, mix), time_limit=10)
        assert result.valid is True, f"history #{number} ({mix}):\n{result.explain()}"


class WithoutPruning(Model):
    """A built-in model minus ``read_only``: the search without its pruning."""

    def __init__(self, name: str) -> None:
        self.inner = cast(Model, resolve_model(name))
        self.name = name

    def init(self) -> Any:
        return self.inner.init()

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        return self.inner.step(state, op)

    def partition(self, ops: Any) -> list[list[Operation]]:
        return self.inner.partition(ops)


PRUNING_CASES = [
    # Histories of 10-40 operations from 2-4 clients are too long for brute
    # force but long enough for the read-first pruning to cut real branches.
    *(pytest.param(mix, (10, 40), (2, 4), 150, id=f"pure-{mix}")
      for mix in ("register", "kv", "kv-append", "counter")),
    # Many clients at once: the orders of concurrent appends (increments)
    # multiply, and a read that can no longer be reached cuts them short.
    *(pytest.param(mix, (20, 45), (5, 9), 120, id=f"growth-{mix}")
      for mix in ("kv-append", "counter")),
]


@pytest.mark.parametrize(("mix", "sizes", "processes", "count"), PRUNING_CASES)
def test_pruning_changes_no_verdict(mix: str, sizes: tuple[int, int],
                                    processes: tuple[int, int], count: int) -> None:
    model = MODEL_OF.get(mix, mix)
    rng = random.Random(f"pruning-{mix}-{processes}")
    plain = WithoutPruning(model)
    verdicts = {True: 0, False: 0}
    for number in range(count):
        history = generate(rng, mix, sizes=sizes, processes=processes)
        pruned = linearizable(history, model, time_limit=20)
        reference = linearizable(history, plain, time_limit=20)
        assert pruned.valid == reference.valid, f"history #{number}"
        verdicts[pruned.valid is True] += 1
    assert min(verdicts.values()) > count // 8, verdicts


def test_the_culprit_is_the_read_of_a_piece_nobody_appended() -> None:
    # The pruned search ends a path where some read became unreachable, which
    # may be on a path that went wrong earlier: the culprit it would name is
    # then an innocent read. Once the verdict is known, the culprit comes
    # from the plain search (tried within a budget).
    rng = random.Random("culprit")
    checked = 0
    for number in range(200):
        history = generate(rng, "kv-append", sizes=(20, 40), corrupt=False, processes=(5, 9))
        events = [event.to_dict() for event in history]
        reads = [i for i, event in enumerate(events)
                 if event["type"] == "ok" and event["f"] == "get"
                 and isinstance(event["value"], str) and len(event["value"]) >= 2]
        if not reads:
            continue
        bad = rng.choice(reads)
        events[bad]["value"] += "z"  # no append ever added a "z"
        result = linearizable(History.from_events(events), "kv")
        assert result.valid is False
        assert result.culprits[0].complete_index == bad, f"history #{number}"
        checked += 1
    assert checked > 150
