"""Random faults while clients work, then a verdict from the whole history.

``cluster.run`` starts concurrent clients (a Jepsen-style workload), lets a
seeded nemesis cut the network again and again for windows of random length
(blips, and cuts that outlast the store's timeouts), holds the last cut after
the clients stop, heals, reads every key on every node, and returns the
history with its checks. The third test runs the nemesis marker's schedule
during a plain test body instead. The last test plants a bug in the store
and shows the checker catching it with default settings: it is marked
xfail(strict=True), so the example passes, and the summary says so in one
line with the folder of its report (report.txt) and artifacts; run it with
--runxfail to see the whole report in the terminal.
"""

from __future__ import annotations

import pytest


@pytest.mark.cluster(nodes=3, mode="cp")
def test_cp_store_stays_linearizable_under_random_partitions(cluster):
    result = cluster.run("kv", duration=3.0, nemesis="random-halves")
    result.assert_cp()                 # every ok operation fits one order
    print(result.verdict.sentence)     # "CP: all N operations are linearizable and ..."


@pytest.mark.cluster(nodes=3, mode="ap")
def test_ap_store_answers_everywhere_and_converges(cluster):
    result = cluster.run("counter", duration=3.0, nemesis="random-halves")
    result.assert_ap()                 # every side answered, nothing was lost
    print(result.verdict.sentence)


@pytest.mark.cluster(nodes=3, mode="ap")
@pytest.mark.nemesis(["random-halves", "random-node"], interval=0.4)
def test_faults_also_run_during_a_plain_test_body(cluster):
    # The marker's nemesis acts while this body runs; every fault is in
    # cluster.history and reaches the pytest_partition_fault hook.
    result = cluster.run("kv", clients=3, duration=2.0)
    assert result.history.faults()
    result.assert_ap()


@pytest.mark.xfail(strict=True, reason="planted bug: the leader acknowledges writes "
                                       "before a majority has them")
@pytest.mark.cluster(nodes=3, mode="cp", bug="ack-before-commit")
def test_the_checker_catches_a_planted_bug(cluster):
    # Cutting the leader off is what exposes this bug: it keeps acknowledging
    # writes that the new majority never sees. Default settings find it.
    result = cluster.run("register", duration=3.0, nemesis="isolate:leader")
    result.assert_cp()
