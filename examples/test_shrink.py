"""The smallest fault schedule that still breaks a system, found for you.

A run under a mixed nemesis applies several faults (cuts of random shapes
and lengths); only one or two of them matter to a given bug. Run this file
with

    PYTEST_ADDOPTS=--runxfail python -m pytest examples/test_shrink.py --partition-shrink

and the failing test is re-run with smaller schedules (fewer faults, smaller
cuts, shorter windows) until the smallest that still fails twice in a row is
found. (``--runxfail`` goes in PYTEST_ADDOPTS so that the re-runs, which are
fresh pytest processes, get it too: they do not inherit the command line's.)
The report gains a section, ``partition: smallest failing schedule``, with
the path of its schedule.json; ``--partition-replay=PATH`` applies exactly
those faults again, and pytest's cache remembers them for the next run of
the test. See docs/shrinking.md.
"""

from __future__ import annotations

import pytest


@pytest.mark.xfail(strict=True, reason="planted bug: replicas never repair what a cut "
                                       "made them miss (see docs/shrinking.md to shrink "
                                       "its schedule)")
@pytest.mark.cluster(nodes=3, mode="ap", bug="no-anti-entropy")
def test_a_mixed_schedule_shrinks_to_the_cut_that_matters(cluster):
    result = cluster.run("kv", duration=3.0,
                         nemesis=["random-halves", "random-node", "majority-ring"])
    result.assert_ap()
