"""cluster.run: workloads, nemesis schedules, seeds that replay, run results."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator

import pytest

from pytest_partition import Cluster, ClusterError, Cut, Kill, Latency, Nemesis, Pause


def invoked_per_node(cluster: Cluster) -> dict[str, list[tuple[str, object, object]]]:
    """Each node's workload operations (the final reads after the last heal left out)."""
    healed = max(e.time for e in cluster.history.faults() if e.f == "heal")
    sequences: dict[str, list[tuple[str, object, object]]] = {}
    for event in cluster.history:
        if event.type == "invoke" and event.process != "nemesis" and event.time < healed:
            sequences.setdefault(str(event.node), []).append((event.f, event.key, event.value))
    return sequences


def schedule(cluster: Cluster) -> list[str]:
    return [e.value["resolved"] for e in cluster.history.faults() if e.f == "partition"]


def run_once(seed: int) -> Cluster:
    with Cluster(3, mode="ap", seed=seed) as cluster:
        cluster.run("kv", clients=3, duration=1.6, rate=40,
                    nemesis=Nemesis("random-halves", "random-node", interval=0.2))
    return cluster


@pytest.mark.slow(seconds=10)
def test_the_same_seed_replays_the_schedule_and_the_operations() -> None:
    first, again, other = run_once(11), run_once(11), run_once(12)
    common = min(len(schedule(first)), len(schedule(again)))
    assert common >= 3, "the nemesis should have acted several times"
    assert schedule(first)[:common] == schedule(again)[:common]
    assert schedule(first)[:common] != schedule(other)[:common]
    for node, ops in invoked_per_node(first).items():
        replayed = invoked_per_node(again)[node]
        shared = min(len(ops), len(replayed))
        assert shared >= 20 and ops[:shared] == replayed[:shared], node
    assert invoked_per_node(first)["n1"][:20] != invoked_per_node(other)["n1"][:20]


@pytest.fixture
def ap3() -> Iterator[Cluster]:
    with Cluster(3, mode="ap", seed=3) as cluster:
        yield cluster


def test_run_result_holds_history_states_and_checks(ap3: Cluster) -> None:
    result = ap3.run("counter", clients=4, duration=1.5, nemesis="random-halves")
    counts = result.counts
    assert counts["ok"] > 20 and counts["fail"] == 0
    assert result.states is not None and len(result.states) == 3
    assert len({str(state) for state in result.states.values()}) == 1, "converged"
    assert result.availability.partitioned
    assert result.verdict.verdict == "AP"
    result.assert_ap()
    assert ap3.runs == [result]
    page = result.timeline
    assert page == ap3.workdir / "run-1-timeline.html" and page.read_text().startswith("<!")
    assert result.timeline is page
    assert all(e.process == "nemesis" or e.f in ("incr", "get") for e in result.history)


@pytest.mark.slow
def test_a_composed_nemesis_undoes_every_fault(ap3: Cluster) -> None:
    nemesis = Nemesis(Cut("n1|n2,n3", kind="reject"), Latency(30, 10), Kill("random"),
                      Pause("n2"), interval=0.25, heal_interval=0.1)
    result = ap3.run("kv", clients=3, duration=3.0, nemesis=nemesis)
    kinds = {e.f for e in result.history.faults()}
    assert kinds >= {"partition", "heal"} and kinds & {"kill", "pause", "latency"}
    assert all(node.running and not node.paused for node in ap3.nodes.values())
    assert ap3.network.cut_links == {} and ap3.network.latency == {}
    result.assert_ap()


def test_a_failing_fault_stops_the_run_with_its_error(ap3: Cluster) -> None:
    with pytest.raises(ClusterError, match="the nemesis failed: .*unknown node 'n9'"):
        ap3.run("kv", duration=1.0, nemesis=Nemesis(Kill("n9")))
    assert all(node.running for node in ap3.nodes.values())


def test_nemesis_spec_typos_fail_before_the_run(ap3: Cluster) -> None:
    with pytest.raises(Exception, match="unknown node or named spec 'random-halfs'"):
        ap3.run("kv", duration=1.0, nemesis="random-halfs")
    assert len(ap3.history) == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workload": "bank"}, "workload 'bank' is not one of register, kv, counter"),
    ({"clients": 0}, "clients=0; accepted: a whole number from 1 to 10000"),
    ({"keys": 2.5}, "keys=2.5; accepted: a whole number"),
    ({"keys": 3}, "keys=3 sets how many keys the kv workload keeps hot; the register workload"),
    ({"duration": 0}, "duration 0 is out of range; accepted: a number of seconds > 0"),
    ({"duration": float("inf")}, "duration inf is not finite"),
    ({"client_timeout": float("inf")}, "client_timeout inf is not finite"),
    ({"settle_timeout": 0}, "settle_timeout 0 is out of range"),
    ({"rate": float("nan")}, "rate=nan; accepted: operations per second"),
])
def test_bad_run_arguments_fail_before_the_run(ap3: Cluster, kwargs: dict[str, object],
                                               message: str) -> None:
    began = time.monotonic()
    with pytest.raises((ValueError, TypeError), match=message):
        ap3.run(**{"duration": 5.0, **kwargs})  # type: ignore[arg-type]
    assert time.monotonic() - began < 1 and len(ap3.history) == 0


def test_a_worker_that_crashes_fails_the_run(ap3: Cluster,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the worker's client could not be made")

    monkeypatch.setattr(ap3, "client", broken)
    with pytest.raises(RuntimeError, match="could not be made"):
        ap3.run("kv", duration=0.5)


def test_a_run_that_breaks_off_heals_at_once(ap3: Cluster) -> None:
    # A finished run holds its last cut past the workers' end; a crashed one
    # does not wait for its schedule (10 s here, plus the hold).
    calls = itertools.count()

    def generate(_rng: random.Random) -> tuple[str, list[object]]:
        if next(calls) == 20:
            raise RuntimeError("the generator broke")
        return "put", ["x", 1]

    began = time.monotonic()
    with pytest.raises(RuntimeError, match="the generator broke"):
        ap3.run(generate, model="kv", duration=10.0, nemesis="random-halves")
    assert time.monotonic() - began < 8.0
    assert ap3.partition_now is None


@pytest.mark.slow
def test_a_run_on_nodes_without_state_keeps_its_history(toy_command: list[str]) -> None:
    with Cluster(2, command=[*toy_command, "--no-state"]) as cluster:
        result = cluster.run("register", clients=2, duration=0.5, rate=20)
    assert result.counts["ok"] > 0
    assert result.states is None
    assert result.convergence is not None and "does not serve state()" in result.convergence
    # (Toy nodes do not replicate: the checks run, whatever they find.)
    assert result.verdict.sentence


def test_runs_need_a_running_cluster(toy_command: list[str]) -> None:
    cluster = Cluster(2, command=toy_command)
    with pytest.raises(ClusterError, match="not started"):
        cluster.run("kv", duration=0.5)
    with cluster:
        pass
    with pytest.raises(ClusterError, match="stopped"):
        cluster.run("kv", duration=0.5)


def test_nemesis_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="needs at least one fault"):
        Nemesis()
    with pytest.raises(ValueError, match="interval must be > 0"):
        Nemesis("halves", interval=0)


@pytest.mark.parametrize("mode", ["cp", "ap"])
def test_later_runs_start_on_fresh_keys(mode: str) -> None:
    with Cluster(3, mode=mode, seed=4) as cluster:
        cluster.client("n1").put("r", 5)          # the test body wrote a workload key
        first = cluster.run("register", clients=3, duration=1.0)
        second = cluster.run("counter", clients=3, duration=1.0)
        third = cluster.run("counter", clients=3, duration=1.0)
    keys = [{op.key for op in run.history.operations()} for run in (first, second, third)]
    # The body's "r" is taken, so the register run's keys get a namespace; the
    # second counter run keeps apart from the first.
    assert keys[0] and all(key.startswith("2.r") for key in keys[0])
    assert keys[1:] == [{"counter"}, {"2.counter"}]
    for run in (first, second, third):
        # Each run is checked from empty keys: no false alarm from the last.
        if mode == "cp":
            run.assert_cp()
        else:
            assert run.convergence is None
            assert all(counter.valid for counter in run.verdict.details["counters"])
    assert [run.number for run in (first, second, third)] == [1, 2, 3]
