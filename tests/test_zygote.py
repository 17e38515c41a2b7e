"""Reference-store nodes forked by the zygote live as subprocess nodes do.

Each is its own process (pid, session, log, data dir), ties its life to a
stdin pipe held by the test process, answers kill/pause/restart, and reports
its exit code as ``subprocess`` would. When the zygote cannot serve, nodes
start as subprocesses again, and nothing waits or leaks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import alive

from pytest_partition import Cluster, NodeStartError, eventually
from pytest_partition.node import Node, default_command, free_port
from pytest_partition.store import zygote as store_zygote
from pytest_partition.zygote import (
    ForkedProcess,
    close_shared_zygote,
    shared_zygote,
    zygote_env,
)

pytest_plugins = ["pytester"]


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _fds(pid: int) -> dict[int, str]:
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass  # (the listing's own descriptor)
    return found


@pytest.fixture
def ap3(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(3, mode="ap", workdir=tmp_path / "ap3") as cluster:
        yield cluster


def test_reference_nodes_are_forked_by_the_zygote(ap3: Cluster) -> None:
    zygote = shared_zygote()
    assert zygote is not None
    for node in ap3.nodes.values():
        assert isinstance(node.process, ForkedProcess)
        assert node.pid is not None
        assert int(_stat(node.pid)[1]) == zygote.pid, "forked, not a fresh interpreter"
        # Its own session and process group, as with start_new_session=True:
        # kill and pause signal the group.
        assert os.getsid(node.pid) == os.getpgid(node.pid) == node.pid
        fds = _fds(node.pid)
        assert fds[0].startswith("pipe:"), "stdin is the test process's pipe"
        assert fds[1] == fds[2] == str(node.log_path)
        # Nothing of the zygote's (its control socket, other nodes' status
        # pipes) leaked in: stdin is the only pipe.
        assert [fd for fd, target in fds.items() if target.startswith("pipe:")] == [0]
    assert len({node.pid for node in ap3.nodes.values()} | {zygote.pid}) == 4
    ap3.client("n1").put("k", 1)
    ap3.wait_converged()
    for node in ap3.nodes.values():
        assert f"{node.name} ap node serving on 127.0.0.1:{node.port}" in node.log_path.read_text()


def test_users_own_commands_still_start_as_subprocesses(toy_command: list[str],
                                                        tmp_path: Path) -> None:
    with Cluster(2, command=toy_command, workdir=tmp_path) as cluster:
        for node in cluster.nodes.values():
            assert isinstance(node.process, subprocess.Popen)
            assert node.pid is not None and int(_stat(node.pid)[1]) == os.getpid()


def test_a_node_env_the_zygote_cannot_give_starts_a_subprocess(tmp_path: Path) -> None:
    # The interpreter reads PYTHONHASHSEED at start-up; a fork keeps the zygote's.
    with Cluster(1, mode="ap", workdir=tmp_path, env={"PYTHONHASHSEED": "7"}) as cluster:
        assert isinstance(cluster.nodes["n1"].process, subprocess.Popen)


@pytest.mark.parametrize(("ending", "code"), [("stdin", 0), ("SIGTERM", -signal.SIGTERM),
                                              ("SIGKILL", -signal.SIGKILL)])
def test_exit_codes_are_reported_as_for_a_subprocess(tmp_path: Path, ending: str,
                                                     code: int) -> None:
    with Cluster(1, mode="ap", workdir=tmp_path) as cluster:
        node = cluster.nodes["n1"]
        process = node.process
        assert isinstance(process, ForkedProcess) and process.stdin is not None
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.01)
        assert process.poll() is None and node.running
        if ending == "stdin":
            process.stdin.close()  # the node contract: exit at end of input
        else:
            os.kill(process.pid, getattr(signal, ending))
        assert process.wait(timeout=10) == code
        assert process.returncode == process.poll() == node.exit_code == code
        assert not node.running and node.pid is None
        if ending == "stdin":
            assert node.log_tail().endswith("n1 stopped")


def test_a_forked_node_that_fails_says_why(tmp_path: Path) -> None:
    node = Node("n1", free_port(), tmp_path / "n1.log", tmp_path)
    env = {**zygote_env(), "PARTITION_NODE": "n1", "PARTITION_PORT": str(node.port),
           "PARTITION_PEERS": "{}", "PARTITION_DATA_DIR": str(tmp_path)}
    node.spawn([*default_command("ap"), "--tick-ms", "soon"], env, fork=True)
    try:
        assert isinstance(node.process, ForkedProcess)
        assert node.process.wait(timeout=10) == 2  # argparse's usage error
        assert "argument --tick-ms: invalid int value: 'soon'" in node.log_tail()
    finally:
        node.discard()


def test_a_node_that_crashes_at_start_is_a_start_error_with_its_log(tmp_path: Path) -> None:
    data = tmp_path / "n1" / "data"
    data.mkdir(parents=True)
    (data / "raft-state.json").write_text("not json")
    with pytest.raises(NodeStartError) as raised, Cluster(3, mode="cp", workdir=tmp_path):
        pass
    message = str(raised.value)
    assert "node n1: exited before it was ready (exit code 1)" in message
    assert "Traceback" in message


def test_kill_pause_resume_restart_act_on_forked_nodes(tmp_path: Path) -> None:
    with Cluster(3, mode="cp", workdir=tmp_path) as cluster:
        zygote = shared_zygote()
        assert zygote is not None
        leader = cluster.wait_leader()
        cluster.client(leader).put("k", 1)
        name = next(n for n in cluster.names if n != leader)
        node = cluster.nodes[name]
        pid = node.pid
        assert pid is not None

        cluster.pause(name)
        eventually(lambda: _stat(pid)[0] == "T", timeout=5)  # (signals arrive soon, not at once)
        cluster.resume(name)
        eventually(lambda: _stat(pid)[0] != "T", timeout=5)

        cluster.kill(name)
        assert node.pid is None and not node.running
        eventually(lambda: not alive(pid), timeout=5)

        cluster.restart(name)
        assert isinstance(node.process, ForkedProcess)
        assert node.pid not in (None, pid) and int(_stat(node.pid)[1]) == zygote.pid
        # It kept its data dir: its log came back from disk.
        assert "restarted at term" in node.log_path.read_text()
        eventually(lambda: cluster.call(name, "state") == {"k": 1}, timeout=5)


def test_nothing_leaks_from_a_cluster_of_forked_nodes(tmp_path: Path) -> None:
    def kinds() -> Counter[str]:
        # (The spare proxy process, whose pipes we hold, is a new one each time.)
        return Counter(target.split(":")[0] for target in _fds(os.getpid()).values())

    with Cluster(1, mode="ap", workdir=tmp_path / "warm"):
        pass  # the zygote runs from here on
    before = kinds()
    with Cluster(3, mode="ap", workdir=tmp_path / "c") as cluster:
        pids = [node.pid for node in cluster.nodes.values()]
        cluster.kill("n1")
        cluster.restart("n1")
        pids.append(cluster.nodes["n1"].pid)
    assert kinds() == before
    assert [pid for pid in pids if pid is not None and alive(pid)] == []


def test_closing_the_zygote_kills_its_nodes_and_tells_their_codes(tmp_path: Path) -> None:
    with Cluster(2, mode="ap", workdir=tmp_path / "first") as cluster:
        close_shared_zygote()  # (as at exit, or when the test process dies)
        for node in cluster.nodes.values():
            assert node.process is not None
            assert node.process.wait(timeout=10) == -signal.SIGKILL
            assert "died" not in node.log_path.read_text()
    with Cluster(1, mode="ap", workdir=tmp_path / "next") as cluster:
        assert isinstance(cluster.nodes["n1"].process, ForkedProcess)  # by a new zygote


def test_every_fork_draws_its_own_randomness(tmp_path: Path) -> None:
    # Election timeouts are drawn at random: two nodes forked from one
    # template must not draw the same numbers.
    random.seed(1)
    draws = []
    for name in ("a", "b"):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                store_zygote.fresh_process({"HOME": str(tmp_path)}, str(tmp_path),
                                           os.open(os.devnull, os.O_RDONLY), write)
                # (print() would write to pytest's capture, not to fd 1)
                os.write(1, f"{random.getrandbits(64)} {os.getsid(0) == os.getpid()} "
                            f"{os.environ.get('HOME')} {os.getcwd()} "
                            f"{sorted(_fds(os.getpid()))}".encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as output:
            draws.append(output.read().split(" ", 1))
        assert os.waitpid(pid, 0)[1] == 0, name
    assert draws[0][0] != draws[1][0]
    for _, rest in draws:
        assert rest.strip() == f"True {tmp_path} {tmp_path} [0, 1, 2]"


ZYGOTE_FAILS = """
import logging, os, signal, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="WARNING %(message)s")
from pytest_partition import Cluster
import pytest_partition.zygote as zygote
SETUP
with Cluster(2, mode="ap") as cluster:
    print("KINDS", sorted(type(n.process).__name__ for n in cluster.nodes.values()))
    cluster.client("n1").put("k", 1)
    cluster.wait_converged()
    print("SERVED")
"""


@pytest.mark.parametrize("setup", [
    # It cannot start at all (here: its module is missing).
    'zygote.ZYGOTE_MODULE = "pytest_partition.no_such_zygote"',
    # It never says it is ready (here: a program that only sleeps).
    'zygote.ZYGOTE_MODULE = "sleeper"; zygote.READY_TIMEOUT = 0.5',
])
def test_without_a_working_zygote_nodes_start_as_subprocesses(
        pytester: pytest.Pytester, setup: str) -> None:
    pytester.makepyfile(sleeper="import time\ntime.sleep(60)\n")
    script = pytester.makepyfile(main=ZYGOTE_FAILS.replace("SETUP", setup))
    env = {**os.environ, "PYTHONPATH": f"{os.environ['PYTHONPATH']}{os.pathsep}{pytester.path}"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, env=env, cwd=pytester.path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "KINDS ['Popen', 'Popen']" in lines and "SERVED" in lines
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert len(warnings) == 1, result.stdout
    assert "start as subprocesses" in warnings[0]
    if "no_such_zygote" in setup:
        assert "No module named pytest_partition.no_such_zygote" in result.stdout
    pid = int(warnings[0].split("(pid ")[1].split(",")[0])
    assert not alive(pid), "the zygote that failed is gone"


ZYGOTE_DIES = """
import logging, os, signal, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="WARNING %(message)s")
from pytest_partition import Cluster
from pytest_partition.zygote import shared_zygote
with Cluster(2, mode="ap") as first:
    zygote = shared_zygote()
    pids = [node.pid for node in first.nodes.values()]
    os.kill(zygote.pid, signal.SIGKILL)
    node = first.nodes["n1"]
    print("CODE", node.process.wait(timeout=10))
    print("RUNNING", node.running, first.nodes["n2"].running)
    print("LOG", node.log_path.read_text().splitlines()[-1])
with Cluster(2, mode="ap") as second:
    print("KINDS", sorted(type(n.process).__name__ for n in second.nodes.values()))
    second.client("n1").put("k", 1)
print("PIDS", *pids, zygote.pid)
"""


def test_when_the_zygote_dies_its_nodes_are_killed_and_later_nodes_are_subprocesses(
        pytester: pytest.Pytester) -> None:
    script = pytester.makepyfile(main=ZYGOTE_DIES)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, cwd=pytester.path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines()
           if line.split(" ", 1)[0] in ("CODE", "RUNNING", "KINDS", "PIDS", "LOG")}
    assert out["CODE"] == str(-signal.SIGKILL)
    assert out["RUNNING"] == "False False"
    assert out["KINDS"] == "['Popen', 'Popen']"
    assert "the zygote that forked this node died" in out["LOG"]
    assert result.stdout.count("start as subprocesses from now on") == 1
    assert [pid for pid in map(int, out["PIDS"].split()) if alive(pid)] == []


XDIST_WORKERS = """
import json, os
import pytest
from pytest_partition.zygote import shared_zygote

@pytest.mark.parametrize("i", range(4))
@pytest.mark.cluster(nodes=2, mode="ap")
def test_worker(cluster, i):
    stat = open(f"/proc/{cluster.nodes['n1'].pid}/stat").read().rsplit(")", 1)[1].split()
    with open(f"w{i}.json", "w") as f:
        json.dump([os.getpid(), shared_zygote().pid, int(stat[1])], f)
"""


def test_each_xdist_worker_has_its_own_zygote(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(XDIST_WORKERS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=4)
    seen = [json.loads((pytester.path / f"w{i}.json").read_text()) for i in range(4)]
    zygotes = {worker: zygote for worker, zygote, _ in seen}
    assert len(zygotes) == 2 and len(set(zygotes.values())) == 2
    assert all(parent == zygote for _, zygote, parent in seen)
    assert [pid for pid in zygotes.values() if alive(pid)] == []


def test_the_zygote_imports_everything_a_node_starts_with() -> None:
    # A forked node should import nothing at start: that is the time saved.
    code = textwrap.dedent("""
        import sys
        import pytest_partition.store.zygote
        before = set(sys.modules)
        from pytest_partition.store import __main__, cp_runtime, ap_runtime, server
        print(sorted(set(sys.modules) - before))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
