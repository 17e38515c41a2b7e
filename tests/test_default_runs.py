"""What a default run does: its schedule, its closing phase, its keys, its words.

Catch rates with default settings are measured by bench/bench_bug_hunt.py;
these tests pin the mechanisms, with short runs.
"""

from __future__ import annotations

import random
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_partition import (
    Cluster,
    Latency,
    Nemesis,
    NotJudged,
    UntestedWarning,
)
from pytest_partition.errors import ArgumentError, ArgumentTypeError
from pytest_partition.history import NEMESIS
from pytest_partition.run.workload import make_workload

NAIVE = Path(__file__).resolve().parent / "nodes" / "naive_node.py"
VOCABULARY = {"get": "fetch", "put": "store", "cas": "swap", "incr": "bump"}


def naive(mode: str, *extra: str) -> list[str]:
    return [sys.executable, str(NAIVE), "--mode", mode, *extra]


@pytest.fixture(scope="module")
def ap_run() -> Any:
    with Cluster(3, mode="ap", seed=11) as cluster:
        result = cluster.run("kv", clients=4, duration=2.0, nemesis="random-halves")
        yield cluster, result


def test_a_run_records_the_exact_faults_it_applied(ap_run: Any) -> None:
    cluster, result = ap_run
    assert result.schedule and all(f.fault == "partition" for f in result.schedule)
    for fault in result.schedule:
        assert "random" not in fault.spec and fault.intent == "random-halves"
    partitions = [e for e in result.history.faults() if e.f == "partition"]
    assert [e.value["exact"] for e in partitions] == [f.spec for f in result.schedule]
    assert cluster.schedule.runs == [result.schedule]


def test_the_last_cut_outlasts_the_clients_then_every_key_is_read_everywhere(
        ap_run: Any) -> None:
    _, result = ap_run
    events = result.history.events
    heals = [e for e in events if e.process == NEMESIS and e.f == "heal"]
    last_cut = [e for e in events if e.process == NEMESIS and e.f == "partition"][-1]
    reads = result.final_reads
    assert reads is not None and set(reads) == {"n1", "n2", "n3"}
    keys = {op.key for op in result.history.operations()}
    assert all(set(view) == keys for view in reads.values())
    final = [e for e in events if e.process != NEMESIS and e.time > heals[-1].time]
    work = [e for e in events if e.process != NEMESIS and e.time < heals[-1].time]
    assert last_cut.time < work[-1].time, "the clients worked while the last cut held"
    # The workers stopped before the heal; what follows it is the final reads.
    assert final and {e.f for e in final} == {"get"}
    assert len([e for e in final if e.type == "invoke"]) == 3 * len(keys)
    assert result.schedule[-1].end - result.schedule[-1].start >= result.hold
    # A correct AP store: every node reads every key alike after the heal.
    first = reads["n1"]
    assert all(view == first for view in reads.values())
    result.assert_ap()


def test_keys_go_cold() -> None:
    with Cluster(3, mode="ap", seed=3) as cluster:
        result = cluster.run("register", clients=3, duration=1.0, rate=200.0)
    per_key: dict[str, int] = {}
    for op in result.history.operations():
        per_key[op.key] = per_key.get(op.key, 0) + 1
    # Each worker moves on after 33 of its operations: a quiet machine makes
    # about six keys here, a loaded one fewer (the flake loop found it), never one.
    # The exact sequence of keys is test_more_workers_work_on_more_registers_at_once's.
    assert len(per_key) >= 2, "a register run moves on to fresh keys"
    # 100 operations per key, plus each node's final read of it.
    assert max(per_key.values()) <= 100 + 3


def test_more_workers_work_on_more_registers_at_once() -> None:
    # Thirty workers: three groups of ten consecutive workers (each group
    # spans the three nodes), each group on a register of its own.
    work = make_workload("register", model=None, keys=None, used=())
    work.set_workers(30)  # type: ignore[attr-defined]
    rng = random.Random(1)
    first = [work.next(worker, rng)[1][0] for worker in range(30)]
    assert first == ["r0"] * 10 + ["r1"] * 10 + ["r2"] * 10
    # A group's key changes after its ten workers made 100 operations.
    later = [work.next(0, rng)[1][0] for _ in range(10)]
    assert later == ["r0"] * 9 + ["r3"]


@pytest.mark.slow
def test_the_services_own_vocabulary_is_called_and_the_models_recorded() -> None:
    with Cluster(3, command=naive("primary", "--methods",
                                  ",".join(f"{a}={b}" for a, b in VOCABULARY.items())),
                 seed=5) as cluster:
        result = cluster.run("register", clients=3, duration=1.0, methods=VOCABULARY,
                             nemesis="random-halves")
        counter = cluster.run("counter", clients=2, duration=0.5, methods=VOCABULARY)
    assert {op.f for op in result.history.operations()} <= {"get", "put", "cas"}
    assert {op.f for op in counter.history.operations()} == {"incr", "get"}
    result.assert_cp()
    with pytest.warns(UntestedWarning, match="the run applied no fault"):
        counter.assert_cp()


def test_a_generator_of_your_own_with_its_model() -> None:
    def generate(rng: random.Random) -> tuple[str, tuple[Any, ...]]:
        return ("incr", ("hits", 1)) if rng.random() < 0.7 else ("get", ("hits",))

    with Cluster(3, command=naive("primary"), seed=6) as cluster:
        result = cluster.run(generate, model="counter", clients=3, duration=0.8,
                             nemesis="random-halves")
    assert result.workload == "test_a_generator_of_your_own_with_its_model.<locals>.generate"
    assert {op.f for op in result.history.operations()} == {"incr", "get"}
    assert result.final_reads is not None and set(result.final_reads["n1"]) == {"hits"}
    result.assert_cp()


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda c: c.run("kv", methods={"gett": "fetch"}), ArgumentError,
     "renames 'gett', which is no operation of the models; accepted keys: get, put, cas"),
    (lambda c: c.run("kv", methods={"get": "fe tch"}), ArgumentError,
     "maps 'get' to 'fe tch', which is not an XML-RPC method name"),
    (lambda c: c.run(lambda rng: ("get", ("k",))), ArgumentError,
     "run(generate, ...) needs model=: 'register', 'kv', 'counter' or a Model"),
    (lambda c: c.run("kv", model="counter"), ArgumentError,
     "model='counter' is for your own generator"),
    (lambda c: c.run("kv", hold=-1), ArgumentError, "run(): hold -1 is out of range"),
    (lambda c: c.run(42), ArgumentTypeError, "workload 42: give 'register', 'kv'"),
    (lambda c: c.run("kv", nemesis="random-halfs"), ArgumentError, "random-halfs"),
])
def test_bad_run_arguments_are_refused_before_anything_runs(
        call: Any, error: type[Exception], message: str) -> None:
    with Cluster(2, mode="ap", seed=1) as cluster:
        with pytest.raises(error) as raised:
            call(cluster)
        assert message in str(raised.value)
        assert raised.traceback[-1].name == "call", "raised from the public call"
        assert not cluster.runs and not cluster.nemeses and len(cluster.history) == 0


def test_a_generator_that_returns_nonsense_is_named() -> None:
    def broken(rng: random.Random) -> Any:
        return "get k"

    with Cluster(2, mode="ap", seed=1) as cluster:
        with pytest.raises(ArgumentTypeError, match="the generator .*broken returned 'get k'"):
            cluster.run(broken, model="kv", clients=1, duration=0.3)


def test_a_second_run_never_starts_on_keys_the_first_used() -> None:
    # A correct service without state(): fresh keys come from the history.
    with Cluster(3, command=naive("primary"), seed=8) as cluster:
        cluster.client("n1").put("r0", 99)  # the test body used a workload key
        first = cluster.run("register", clients=3, duration=0.6)
        second = cluster.run("register", clients=3, duration=0.6)
    keys = [{op.key for op in run.history.operations()} for run in (first, second)]
    assert keys[0].isdisjoint(keys[1]) and "r0" not in keys[0] | keys[1]
    with pytest.warns(UntestedWarning):  # (no nemesis: a pass that could not fail)
        first.assert_cp()
        second.assert_cp()


def test_a_pass_that_could_not_fail_says_so() -> None:
    with Cluster(3, mode="ap", seed=2) as cluster:
        # One client, on n1: nothing is asked of the minority side {n3}.
        result = cluster.run("kv", clients=1, duration=1.0,
                             nemesis=Nemesis("n3|n1,n2", interval=0.4))
    assert any("no operation was invoked on a minority side" in line
               for line in result.untested)
    assert any("no key was written from two sides" in line for line in result.untested)
    with pytest.warns(UntestedWarning, match="assert_cp\\(\\) passed, but no operation"):
        result.assert_cp()


def test_a_run_without_a_cut_is_not_judged_as_ap() -> None:
    with Cluster(3, mode="ap", seed=2) as cluster:
        result = cluster.run("kv", clients=2, duration=0.8, nemesis=Nemesis(Latency(20)))
    with pytest.raises(NotJudged, match="AP not judged: no cut: the run's faults .*latency"):
        result.assert_ap()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.assert_ap(require_cut=False)
    assert [type(w.message) for w in caught] == [UntestedWarning]
