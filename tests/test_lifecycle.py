"""Nothing outlives pytest: however the test process ends, every node is gone.

Each inner run starts a cluster, writes the pids of its nodes and of the
proxy process to a file, and then ends in one of the ways a run can end.
"""

from __future__ import annotations

import json
import signal

import pytest
from tests_support import TOY_NODE, alive

from pytest_partition import eventually

pytest_plugins = ["pytester"]

INNER = f"""
import json, os, signal, sys
import pytest

@pytest.mark.cluster(nodes=3, command=[sys.executable, {str(TOY_NODE)!r}])
def test_inner(cluster):
    pids = [n.pid for n in cluster.nodes.values()] + [cluster.network._proc.pid]
    with open("pids.json", "w") as f:
        json.dump(pids, f)
    cluster.pause("n2")          # a stopped process cannot notice anything itself
    cluster.partition("n1|n2,n3")
    ENDING
"""


@pytest.mark.parametrize(
    ("ending", "outcome"),
    [
        ("pass", "passed"),
        ("assert False, 'the test failed'", "failed"),
        # As in a terminal: Python's Ctrl-C handler installed (a shell running
        # us in the background may have left SIGINT ignored), then raised in
        # this thread so that it interrupts the test body itself.
        ("signal.signal(signal.SIGINT, signal.default_int_handler); "
         "signal.raise_signal(signal.SIGINT)", "interrupted"),
        ("os.kill(os.getpid(), signal.SIGTERM)", "terminated"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "killed"),
        # The proxy dies first (killed, out of memory), then pytest: the
        # paused node must not stay stopped forever.
        ("os.kill(cluster.network._proc.pid, signal.SIGKILL); cluster.network._proc.wait(); "
         "os.kill(os.getpid(), signal.SIGKILL)", "killed"),
    ],
)
def test_no_node_outlives_pytest(pytester: pytest.Pytester, ending: str, outcome: str) -> None:
    pytester.makepyfile(INNER.replace("ENDING", ending))
    result = pytester.runpytest_subprocess()
    expected_ret = {"passed": 0, "failed": 1, "interrupted": 2,
                    "terminated": -signal.SIGTERM, "killed": -signal.SIGKILL}[outcome]
    assert result.ret == expected_ret, result.stdout.str()
    pids = json.loads((pytester.path / "pids.json").read_text())
    assert len(pids) == 4

    def all_gone() -> None:
        assert [pid for pid in pids if alive(pid)] == []

    # Teardown stops everything before pytest exits; after a kill, nodes see
    # their stdin close and the proxy (or its deputy, if the proxy died
    # first) kills what cannot (the paused node).
    eventually(all_gone, timeout=0.5 if outcome in ("passed", "failed", "interrupted") else 5.0)
