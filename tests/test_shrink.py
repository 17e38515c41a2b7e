"""Shrinking a failing schedule, on deterministic toy failures (no processes)."""

from __future__ import annotations

from collections.abc import Callable

from pytest_partition.schedule import Schedule, ScheduledFault
from pytest_partition.shrink import Shrinker, smaller_cuts
from pytest_partition.topology import parse_spec


def fault(start: float, end: float, spec: str | None = None, node: str | None = None,
          kind: str = "partition") -> ScheduledFault:
    if spec is not None:
        return ScheduledFault(start, end, "partition", spec=spec)
    return ScheduledFault(start, end, kind, node=node)


MIXED = Schedule([[
    fault(0.2, 0.5, "n1|n2,n3"),
    fault(1.0, 3.0, "n2|n1,n3"),
    fault(3.5, 3.8, node="n3", kind="kill"),
    fault(4.0, 4.4, "n1->n2"),
    fault(5.0, 6.5, "n1,n2|n3,n4,n5"),
    fault(7.0, 9.0, "n3|n1,n2"),
]])


class Clock:
    """Each candidate tried costs ``cost`` seconds of this clock."""

    def __init__(self, cost: float = 10.0) -> None:
        self.now = 0.0
        self.cost = cost

    def __call__(self) -> float:
        return self.now


def counting(predicate: Callable[[Schedule], bool], clock: Clock) -> tuple[
        Callable[[Schedule], bool], list[Schedule]]:
    tried: list[Schedule] = []

    def fails(candidate: Schedule) -> bool:
        tried.append(candidate)
        clock.now += clock.cost
        return predicate(candidate)

    return fails, tried


def isolates_n2_for_a_second(schedule: Schedule) -> bool:
    """The toy bug: it shows only when n2 cannot send to n1 for at least 1 s."""
    return any(f.fault == "partition" and f.spec is not None and f.length >= 1.0
               and ("n2", "n1") in parse_spec(f.spec, sorted(f.nodes())).cut
               for f in schedule.faults)


def test_six_faults_shrink_to_the_one_that_matters_with_a_smaller_cut() -> None:
    clock = Clock()
    fails, tried = counting(isolates_n2_for_a_second, clock)
    smallest = Shrinker(MIXED, fails, budget=10_000, clock=clock).run()
    assert len(smallest) == 1
    (kept,) = smallest.faults
    assert kept.start == 1.0
    # One direction instead of two, one link of it, then a window halved while
    # it still fails.
    assert kept.spec == "n2->n1"
    assert 1.0 <= kept.length < 2.0
    assert isolates_n2_for_a_second(smallest)
    assert len(tried) == len({repr(t.to_dict()) for t in tried}), "no candidate tried twice"


def test_the_blamed_operation_points_at_its_fault_first() -> None:
    clock = Clock()
    fails, tried = counting(isolates_n2_for_a_second, clock)
    Shrinker(MIXED, fails, budget=10_000, clock=clock, hint=2.4).run()
    assert tried[0].faults == [MIXED.faults[1]], "the fault in force at 2.4 s, alone"


def test_the_search_stays_within_its_budget() -> None:
    clock = Clock(cost=10.0)
    fails, tried = counting(isolates_n2_for_a_second, clock)
    shrinker = Shrinker(MIXED, fails, budget=35.0, estimate=10.0, clock=clock)
    smallest = shrinker.run()
    assert len(tried) == 3 and shrinker.out_of_time  # at 0, 10 and 20 s; 30 + 10 > 35
    assert clock.now <= 35.0
    assert isolates_n2_for_a_second(smallest), "the smallest so far still fails"


def test_a_failure_that_needs_no_fault_shrinks_to_none() -> None:
    clock = Clock()
    fails, _ = counting(lambda schedule: True, clock)
    assert len(Shrinker(MIXED, fails, budget=10_000, clock=clock).run()) == 0


def test_a_failure_that_needs_two_faults_keeps_both() -> None:
    def two(schedule: Schedule) -> bool:
        kinds = {f.fault for f in schedule.faults}
        return {"kill", "partition"} <= kinds and any(f.start >= 6.9 for f in schedule.faults)

    clock = Clock()
    fails, _ = counting(two, clock)
    smallest = Shrinker(MIXED, fails, budget=10_000, clock=clock).run()
    assert sorted(f.fault for f in smallest.faults) == ["kill", "partition"]


def test_progress_reports_each_candidate() -> None:
    clock = Clock()
    fails, tried = counting(isolates_n2_for_a_second, clock)
    lines: list[str] = []
    Shrinker(MIXED, fails, budget=10_000, clock=clock,
             progress=lambda attempt: lines.append(attempt.line())).run()
    assert len(lines) == len(tried)
    assert lines[0] == "3 fault(s), part 1 of 2 of the faults: still fails (10.0 s)"
    assert any(line.endswith(": passes (10.0 s)") for line in lines)


def test_smaller_cuts_try_one_way_then_fewer_nodes_cut_off() -> None:
    two_way = fault(0, 1, "n1,n2|n3,n4,n5")
    shapes = [candidate.spec for candidate, _ in smaller_cuts(two_way)]
    assert shapes == ["n1,n2->n3,n4,n5", "n3,n4,n5->n1,n2", "n1,n3,n4,n5|n2",
                      "n1|n2,n3,n4,n5"]
    one_way = fault(0, 1, "n1->n2,n3")
    assert [c.spec for c, _ in smaller_cuts(one_way)] == ["n1->n3", "n1->n2"]
    assert list(smaller_cuts(fault(0, 1, node="n1", kind="kill"))) == []
