"""Three warehouses, one stock count: the CAP theorem, acted out.

A shop sells hair dryers from three warehouses: Beijing holds 20, Hangzhou
10, Shanghai 30. Each city runs a server with the shop's stock count, 60 in
all, and a customer may ask any of them. Then the network between Shanghai
and the other two breaks.

CAP says that during such a partition a system keeps at most one of:

- C, consistency: every server gives the same, latest answer;
- A, availability: every server answers at once.

(P, partition tolerance, is not a choice: networks break.)

The same story runs twice below against the reference store: in AP mode,
every warehouse keeps answering and Shanghai is stale until the heal; in CP
mode, Shanghai refuses until the heal, like ZooKeeper's minority, and no
answer is ever stale.
"""

from __future__ import annotations

import pytest

from pytest_partition import OperationError, Unavailable, eventually

WAREHOUSES = ["beijing", "hangzhou", "shanghai"]


def refuses(client, key, value):
    """True when the node refused the write and knows it did not happen."""
    try:
        client.put(key, value)
    except Unavailable:
        return True
    except OperationError:
        return False  # indeterminate: it cannot tell yet
    raise AssertionError("a node cut off from the majority accepted a write")
SHANGHAI_CUT_OFF = "beijing,hangzhou|shanghai"


# -- AP: every warehouse answers, Shanghai may be stale, nothing is lost ------------


@pytest.mark.cluster(nodes=WAREHOUSES, mode="ap")
@pytest.mark.partition(SHANGHAI_CUT_OFF)
def test_ap_every_warehouse_answers_and_catches_up(cluster):
    beijing, hangzhou, shanghai = (cluster.client(city) for city in WAREHOUSES)
    beijing.incr("dryer", 60)                 # 20 + 10 + 30 dryers in stock
    cluster.wait_converged()                  # every server says 60

    with cluster.partitioned():               # Shanghai is cut off
        assert beijing.incr("dryer", -1) == 59    # a customer in Beijing buys one
        eventually(lambda: hangzhou.get("dryer") == 59)  # Hangzhou hears of it
        assert shanghai.get("dryer") == 60    # stale, but Shanghai answers at once

    # The network heals: anti-entropy brings Shanghai up to date, with no user
    # action. A customer who asks again simply sees 59.
    assert cluster.wait_converged(timeout=5) == {"dryer": 59}


@pytest.mark.cluster(nodes=WAREHOUSES, mode="ap")
@pytest.mark.partition(SHANGHAI_CUT_OFF)
def test_ap_no_sale_is_lost_when_both_sides_sell(cluster):
    beijing, shanghai = cluster.client("beijing"), cluster.client("shanghai")
    beijing.incr("dryer", 60)
    cluster.wait_converged()

    with cluster.partitioned():
        beijing.incr("dryer", -1)             # one sold in Beijing
        shanghai.incr("dryer", -1)            # and one in Shanghai, at the same time
        # Each side only knows its own sale: both say 59.
        assert beijing.get("dryer") == shanghai.get("dryer") == 59

    # The stock count is a counter that merges per warehouse (a CRDT), so the
    # two sales add up after the heal: 58, not 59.
    assert cluster.wait_converged(timeout=5) == {"dryer": 58}


# -- CP: the majority serves, Shanghai refuses rather than lies ---------------------


@pytest.mark.cluster(nodes=WAREHOUSES, mode="cp")
@pytest.mark.partition(SHANGHAI_CUT_OFF)
def test_cp_the_majority_serves_and_the_minority_refuses(cluster):
    beijing, shanghai = cluster.client("beijing"), cluster.client("shanghai")
    beijing.put("dryer", 60)

    with cluster.partitioned():
        # Beijing and Hangzhou are a majority (2 of 3): they keep, or elect,
        # a leader and keep selling. This may take a moment if Shanghai led.
        eventually(lambda: beijing.put("dryer", 59))

        # Shanghai cannot reach a majority, so it cannot know whether its
        # count is current: it refuses instead of answering 60.
        with pytest.raises(OperationError):
            shanghai.get("dryer")
        # Once it knows it has no leader, it refuses definitely: the sale
        # below did not happen and never will.
        eventually(lambda: refuses(shanghai, "dryer", 1000))

    # After the heal Shanghai catches up from the log; the refused sale
    # never appears.
    eventually(lambda: shanghai.get("dryer") == 59)
    assert cluster.wait_converged() == {"dryer": 59}
