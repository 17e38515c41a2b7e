"""Nothing outlives pytest: however the test process ends, every node is gone.

Each inner run starts a cluster, writes the pids of its nodes and of the
proxy process to a file, and then ends in one of the ways a run can end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tests_support import TOY_NODE, alive

from pytest_partition import eventually

pytest_plugins = ["pytester"]

INNER = """
import json, os, signal, sys
import pytest
from pytest_partition import network
from pytest_partition.zygote import shared_zygote

@pytest.mark.cluster(nodes=3, NODES)
def test_inner(cluster_factory):
    cluster_factory().stop()     # a second cluster: the process now keeps a spare proxy
    cluster = cluster_factory()
    pids = [n.pid for n in cluster.nodes.values()] + [cluster.network._proc.pid]
    pids.append(network._spare.pid)  # the proxy started ahead for the next cluster
    if NODES_ARE_FORKED:
        pids.append(shared_zygote().pid)
    with open("pids.json", "w") as f:
        json.dump(pids, f)
    cluster.pause("n2")          # a stopped process cannot notice anything itself
    cluster.partition("n1|n2,n3")
    ENDING
"""
#: Users' own node programs (subprocesses), and the reference store (forked
#: by the zygote, which must not outlive pytest either).
NODES = {"own": (f"command=[sys.executable, {str(TOY_NODE)!r}]", False),
         "store": ('mode="cp"', True)}


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
@pytest.mark.parametrize("nodes", list(NODES))
@pytest.mark.slow
def test_no_node_outlives_pytest(pytester: pytest.Pytester, ending: str, outcome: str,
                                 nodes: str) -> None:
    marker, forked = NODES[nodes]
    pytester.makepyfile(INNER.replace("ENDING", ending).replace("NODES_ARE_FORKED", str(forked))
                        .replace("NODES", marker))
    result = pytester.runpytest_subprocess()
    expected_ret = {"passed": 0, "failed": 1, "interrupted": 2,
                    "terminated": -signal.SIGTERM, "killed": -signal.SIGKILL}[outcome]
    assert result.ret == expected_ret, result.stdout.str()
    pids = json.loads((pytester.path / "pids.json").read_text())
    assert len(pids) == (6 if forked else 5)

    def all_gone() -> None:
        assert [pid for pid in pids if alive(pid)] == []

    # Teardown stops everything before pytest exits; after a kill, nodes see
    # their stdin close and the proxy (or its deputy, if the proxy died
    # first) kills what cannot (the paused node); the zygote sees its control
    # socket close, and kills what it forked.
    eventually(all_gone, timeout=0.5 if outcome in ("passed", "failed", "interrupted") else 5.0)


def test_a_killed_scripts_workdir_is_removed_at_the_next_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_partition import Cluster
    from pytest_partition.cluster import OWNER_FILE, _process_identity

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    script = ("import os\nfrom pytest_partition import Cluster\n"
              "c = Cluster(2, mode='ap')\nc.start()\nprint(c.workdir, flush=True)\n"
              "os.kill(os.getpid(), 9)\n")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)}, timeout=60)
    stale = Path(killed.stdout.strip())
    assert stale.parent == tmp_path and (stale / OWNER_FILE).exists()
    alive_dir = tmp_path / "partition-alive"  # a script still running: ours
    alive_dir.mkdir()
    (alive_dir / OWNER_FILE).write_text(_process_identity(os.getpid()) or "")
    unowned = tmp_path / "partition-unowned"  # not made by a Cluster: not ours to judge
    unowned.mkdir()
    with Cluster(2, mode="ap") as cluster:
        assert cluster.workdir.parent == tmp_path
    assert not stale.exists(), "the killed script's work dir is gone"
    assert alive_dir.exists() and unowned.exists(), "others' dirs stay"
