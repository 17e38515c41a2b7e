"""AP mode of the reference store, through the plugin: the seed story and more.

Beijing (A), Hangzhou (B) and Shanghai (C) hold one stock count of dryers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from pytest_partition import Cluster, NotConverged, eventually


@pytest.fixture
def shops(tmp_path: object) -> Iterator[Cluster]:
    with Cluster(["A", "B", "C"], mode="ap") as cluster:
        yield cluster


def answer_quickly(call: Callable[[], object], within: float = 0.5) -> object:
    began = time.monotonic()
    result = call()
    assert time.monotonic() - began < within, "an AP node must answer at once"
    return result


def test_stale_but_available_then_converged(shops: Cluster) -> None:
    a, b, c = (shops.client(n) for n in "ABC")
    a.incr("dryer", 60)
    shops.wait_converged(timeout=5)
    with shops.partitioned("A,B|C"):
        assert answer_quickly(lambda: a.incr("dryer", -1)) == 59
        eventually(lambda: b.get("dryer") == 59)          # inside the majority side
        assert answer_quickly(lambda: c.get("dryer")) == 60  # stale, but it answers
    # No user action: anti-entropy brings C up to date after the heal.
    eventually(lambda: c.get("dryer") == 59, timeout=5)
    assert shops.wait_converged(timeout=5) == {"dryer": 59}


def test_no_sale_is_lost_when_both_sides_sell(shops: Cluster) -> None:
    a, c = shops.client("A"), shops.client("C")
    a.incr("dryer", 60)
    shops.wait_converged(timeout=5)
    with shops.partitioned("A,B|C"):
        assert a.incr("dryer", -1) == 59
        assert c.incr("dryer", -1) == 59
    assert shops.wait_converged(timeout=5) == {"dryer": 58}


@pytest.mark.parametrize("spec", ["A,B|C", "A|B|C", "A->C", "C->A;C->B"])
def test_every_side_answers_under_any_cut(shops: Cluster, spec: str) -> None:
    with shops.partitioned(spec):
        for name in "ABC":
            client = shops.client(name)
            assert answer_quickly(lambda cl=client, n=name: cl.put(f"k-{n}", n)) is True
            assert answer_quickly(lambda cl=client, n=name: cl.get(f"k-{n}")) == name
            answer_quickly(lambda cl=client: cl.incr("count", 1))
    state = shops.wait_converged(timeout=5)
    assert state == {"k-A": "A", "k-B": "B", "k-C": "C", "count": 3}


def test_last_writer_wins_across_the_partition(shops: Cluster) -> None:
    a, c = shops.client("A"), shops.client("C")
    with shops.partitioned("A|B,C"):
        c.put("price", 100)
        a.put("price", 90)   # later by the hybrid clock
    assert shops.wait_converged(timeout=5) == {"price": 90}


def test_cas_and_delete_are_local(shops: Cluster) -> None:
    a = shops.client("A")
    a.put("k", 1)
    assert a.cas("k", 1, 2) is True
    assert a.cas("k", 1, 3) is False
    assert a.delete("k") is True
    assert a.get("k") is None
    assert shops.wait_converged(timeout=5) == {}


def test_kill_and_restart_keep_acknowledged_writes(shops: Cluster) -> None:
    c = shops.client("C")
    with shops.partitioned("A,B|C"):
        c.put("only-on-c", "kept")   # acknowledged, never replicated before the kill
        shops.kill("C")
    shops.restart("C")
    assert c.get("only-on-c") == "kept"
    assert shops.wait_converged(timeout=5) == {"only-on-c": "kept"}


def test_no_anti_entropy_bug_never_converges() -> None:
    with Cluster(["A", "B", "C"], mode="ap", bug="no-anti-entropy") as cluster:
        with cluster.partitioned("A,B|C"):
            cluster.client("C").put("lost", 1)
            # The single push to each peer times out and is given up while
            # C is cut off; with the bug nothing ever tries again.
            eventually(lambda: min(cluster.call("C", "stats")["dropped"].values()) > 0)
        with pytest.raises(NotConverged, match="'lost': A=<missing>, B=<missing>, C=1"):
            cluster.wait_converged(timeout=1.5)


def test_lost_update_bug_loses_a_sale() -> None:
    with Cluster(["A", "B", "C"], mode="ap", bug="lost-update") as cluster:
        a, c = cluster.client("A"), cluster.client("C")
        a.incr("dryer", 60)
        cluster.wait_converged(timeout=5)
        with cluster.partitioned("A,B|C"):
            a.incr("dryer", -1)
            c.incr("dryer", -1)
        state = cluster.wait_converged(timeout=5)
        assert state == {"dryer": 59}, "one of the two sales is lost"
