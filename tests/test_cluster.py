"""Cluster and Node with real node processes (the test-only toy node).

Network rules are observed from the nodes' side: a node sends a message to a
peer through its peer link, and the peer reports what arrived.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from xmlrpc.server import SimpleXMLRPCServer

import pytest
from tests_support import alive

from pytest_partition import (
    Cluster,
    ClusterError,
    Indeterminate,
    NodeStartError,
    NotConverged,
    SpecError,
    Unavailable,
    eventually,
)
from pytest_partition import client as client_module
from pytest_partition import cluster as cluster_module
from pytest_partition import network as network_module
from pytest_partition import node as node_module
from pytest_partition.errors import ArgumentError
from pytest_partition.network import CLIENT
from pytest_partition.node import Node


@pytest.fixture
def abc(toy_command: list[str], tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(["A", "B", "C"], command=toy_command, workdir=tmp_path / "c", seed=1) as c:
        yield c


# -- the node contract --------------------------------------------------------------


def test_nodes_get_the_contract_environment(abc: Cluster) -> None:
    env = abc.call("A", "env")
    assert env["PARTITION_NODE"] == "A"
    assert int(env["PARTITION_PORT"]) == abc.nodes["A"].port
    peers = json.loads(env["PARTITION_PEERS"])
    assert set(peers) == {"B", "C"}
    # Each peer address is the proxy link from A to that peer, never the peer.
    assert peers["B"] == f"127.0.0.1:{abc.network.port('A', 'B')}"
    assert int(peers["B"].split(":")[1]) != abc.nodes["B"].port
    assert Path(env["PARTITION_DATA_DIR"]) == abc.nodes["A"].data_dir
    assert abc.nodes["A"].data_dir.is_dir()


def test_nodes_share_a_random_cluster_token_that_survives_a_restart(
        abc: Cluster, toy_command: list[str], tmp_path: Path) -> None:
    tokens = {name: abc.call(name, "env")["PARTITION_CLUSTER_TOKEN"] for name in abc.names}
    token = tokens["A"]
    assert set(tokens.values()) == {token} and re.fullmatch("[0-9a-f]{32}", token)
    abc.restart("B")
    assert abc.call("B", "env")["PARTITION_CLUSTER_TOKEN"] == token
    # Another cluster, even with the same seed, has its own: the seed is no secret.
    with Cluster(1, command=toy_command, workdir=tmp_path / "other", seed=1) as other:
        assert other.call("n1", "env")["PARTITION_CLUSTER_TOKEN"] != token


def test_command_placeholders_are_filled_in(toy_command: list[str], tmp_path: Path) -> None:
    command = toy_command + ["--port-arg", "{port}", "{name}", "{data_dir}", "{peers}", "{x}"]
    with Cluster(2, command=command, workdir=tmp_path) as cluster:
        argv = cluster.call("n2", "argv")
        node = cluster.nodes["n2"]
        assert argv[:4] == ["--port-arg", str(node.port), "n2", str(node.data_dir)]
        assert json.loads(argv[4]) == {"n1": f"127.0.0.1:{cluster.network.port('n2', 'n1')}"}
        assert argv[5] == "{x}", "unknown braces are left alone"


def test_each_node_has_its_own_log(abc: Cluster) -> None:
    for name, node in abc.nodes.items():
        assert node.log_path.exists()
        assert f"toynode {name} serving" in node.log_tail()
        assert node.pid is not None and node.running


def test_nodes_are_started_in_parallel(toy_command: list[str], tmp_path: Path) -> None:
    slow = toy_command + ["--slow-start", "1.0"]
    began = time.monotonic()
    with Cluster(4, command=slow, workdir=tmp_path):
        elapsed = time.monotonic() - began
    assert elapsed < 3.5, f"4 nodes that each take 1 s to start took {elapsed:.1f} s"


# -- start failures ---------------------------------------------------------------------


def test_a_node_that_exits_early_fails_with_its_name_code_and_log(
        toy_command: list[str], tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(NodeStartError) as raised:
        with Cluster(3, command=toy_command + ["--exit-early", "3"], workdir=tmp_path):
            pass
    message = str(raised.value)
    assert "exited before it was ready (exit code 3)" in message
    assert "exiting early with 3 as asked" in message
    assert raised.value.node in ("n1", "n2", "n3") and raised.value.exit_code == 3
    assert time.monotonic() - began < 5


def test_a_node_that_never_gets_ready_fails_within_the_deadline(
        toy_command: list[str], tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(NodeStartError, match=r"did not answer ping\(\) .* within 1 s"):
        with Cluster(2, command=toy_command + ["--slow-start", "30"], workdir=tmp_path,
                     start_timeout=1.0):
            pass
    assert time.monotonic() - began < 4


def test_a_node_without_ping_fails_fast_and_says_why(toy_command: list[str], tmp_path: Path) -> None:
    with pytest.raises(NodeStartError, match=r"answered ping\(\) with fault"):
        with Cluster(1, command=toy_command + ["--no-ping"], workdir=tmp_path):
            pass


def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NodeStartError, match="cannot run no-such-program-x"):
        with Cluster(1, command=["no-such-program-x"], workdir=tmp_path):
            pass


def test_failed_start_leaves_no_process(toy_command: list[str], tmp_path: Path) -> None:
    cluster = Cluster(3, command=toy_command + ["--slow-start", "30"], workdir=tmp_path,
                      start_timeout=0.5)
    with pytest.raises(NodeStartError):
        cluster.start()
    pids = [node.process.pid for node in cluster.nodes.values() if node.process]
    assert pids == []  # all discarded
    assert cluster._network is not None and cluster._network._proc.poll() is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": 0}, "nodes must be at least 1"),
        ({"nodes": "ABC"}, "give a count"),
        ({"nodes": ["A", "A"]}, "repeated: A"),
        ({"nodes": ["A", "b c"]}, "node name 'b c' is not accepted"),
        ({"nodes": ["halves", "B"]}, "node name 'halves' is not accepted"),
        ({"mode": "ca"}, "mode 'ca' is not one of cp, ap"),
        ({"bug": "stale-read", "command": ["x"]}, "cannot apply to your own command"),
        ({"command": []}, "command is empty"),
        ({"nodes": 2.5}, "give a count"),
        ({"start_timeout": float("inf")}, "start_timeout inf is not finite; accepted: a "
                                          "number of seconds > 0 and <= 3600"),
        ({"client_timeout": float("nan")}, "client_timeout nan is not finite"),
        ({"client_timeout": 1e10}, "client_timeout 10000000000.0 is out of range"),
        ({"client_timeout": "1"}, "client_timeout '1' is not a number"),
        ({"bug": "nope"}, "bug='nope' is not a planted bug of the reference store in cp "
                          "mode; accepted: stale-read, ack-before-commit"),
        ({"mode": "ap", "bug": "stale-read"}, "accepted: no-anti-entropy, lost-update"),
        ({"ping_method": ""}, "ping_method='' is not accepted; accepted: an XML-RPC method "
                              "name"),
        ({"ping_method": 3}, "ping_method=3 is not accepted"),
        ({"env": {"X": 1}}, "env=.* is not accepted: the value of 'X' is not a string"),
        ({"env": {"PARTITION_PORT": "1"}}, "PARTITION_PORT is set by pytest-partition"),
        ({"env": {"PARTITION_CLUSTER_TOKEN": "guessable"}},
         "PARTITION_CLUSTER_TOKEN is set by pytest-partition"),
        ({"spec": "n1|n9"}, "n9"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Cluster(**kwargs)  # type: ignore[arg-type]


def test_cluster_accepts_what_the_markers_accept() -> None:
    # One rule for both: a dotted XML-RPC name passes the option and the marker.
    assert Cluster(2, command=["x"], ping_method="system.ping").ping_method == "system.ping"


# -- process control -------------------------------------------------------------------


def port_closed(port: int) -> bool:
    """True when nothing listens on ``port`` (a connection is refused)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_calls_to_a_node_that_crashed_are_definite_failures(abc: Cluster) -> None:
    # Nobody told the cluster: the node simply died (os._exit, a segfault).
    a = abc.client("A")
    pid = abc.nodes["A"].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    # (Its threads may still be tearing down, the port open, after the main
    # thread is a zombie: wait for the port itself.)
    eventually(lambda: port_closed(abc.nodes["A"].port), timeout=5)
    with pytest.raises(Unavailable, match="refused the connection"):
        a.get("x")
    assert [e.type for e in abc.history if e.process == a.process] == ["invoke", "fail"]
    assert a.process == abc.history[-1].process, "a definite failure keeps the process"


def test_a_crashed_node_refuses_through_the_client_link_even_with_a_partition(
        abc: Cluster) -> None:
    pid = abc.nodes["B"].pid
    assert pid is not None
    with abc.partitioned("A|B,C"):
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: port_closed(abc.nodes["B"].port), timeout=5)
        with pytest.raises(Unavailable, match="refused the connection"):
            abc.client("B").get("x")


def test_an_interrupted_call_still_completes_its_invoke(
        abc: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    a = abc.client("A")
    monkeypatch.setattr(client_module, "rpc_call", interrupted)
    with pytest.raises(KeyboardInterrupt):
        a.get("x")
    monkeypatch.undo()
    assert [(e.type, e.error) for e in abc.history if e.f == "get"] == [
        ("invoke", None), ("info", "the call was interrupted (KeyboardInterrupt)")]
    assert a.get("x") is None, "the client goes on, as a new process"
    abc.history.operations()  # well-formed: every invoke completed


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), 1e10, "1", True])
def test_a_client_timeout_must_be_a_sane_number_of_seconds(abc: Cluster, timeout: object) -> None:
    with pytest.raises((ValueError, TypeError),
                       match="client timeout .* accepted: a number of seconds > 0 and <= 3600"):
        abc.client("A", timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError), match="wait_converged timeout"):
        abc.wait_converged(timeout=timeout)  # type: ignore[arg-type]


def test_wait_converged_never_returns_states_older_than_the_fingerprints(
        abc: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    # The race the loop once hit: the states are read while the replicas
    # differ (each reads count 2, from different sales), a merge lands, and the
    # fingerprints read next agree. Those states must not be returned.
    merged = threading.Event()

    def states(*_args: object, **_kwargs: object) -> dict[str, object]:
        count = 3 if merged.is_set() else 2
        merged.set()  # the merge lands right after this first read
        return {n: {"count": count} for n in "ABC"}

    monkeypatch.setattr(abc, "states", states)
    real_rpc_call = cluster_module.rpc_call

    def rpc_call(port: int, method: str, args: tuple[object, ...], timeout: float,
                 **kwargs: object) -> object:
        if method != "stats":
            return real_rpc_call(port, method, args, timeout, **kwargs)
        node = str(kwargs["node"])
        prints = "merged" if merged.is_set() else f"only what {node} saw"
        return client_module.Outcome("ok", value={"fingerprint": prints})

    monkeypatch.setattr(cluster_module, "rpc_call", rpc_call)
    assert abc.wait_converged(timeout=5) == {"count": 3}


def test_wait_converged_gives_up_at_once_on_a_node_without_state(
        toy_command: list[str], tmp_path: Path) -> None:
    with Cluster(2, command=[*toy_command, "--no-state"], workdir=tmp_path / "c") as cluster:
        began = time.monotonic()
        with pytest.raises(ClusterError, match=r"node n1 does not serve state\(\)"):
            cluster.wait_converged(timeout=30)
        assert time.monotonic() - began < 5


def test_the_log_tail_is_short_and_safe_to_print(tmp_path: Path) -> None:
    node = Node("n1", 0, tmp_path / "n1.log", tmp_path)
    node.log_path.write_bytes(b"x" * 5_000_000 + b"\n\x1b[31mred\x1b[0m\x00end\n"
                              + b"last line\n")
    tail = node.log_tail()
    assert len(tail) < 2_000
    assert tail.splitlines()[-2:] == ["\\x1b[31mred\\x1b[0m\\x00end", "last line"]
    assert "more characters in the log" in tail.splitlines()[0]
    assert "\x1b" not in tail and "\x00" not in tail



def test_kill_refuses_connections_and_restart_keeps_the_data_dir(abc: Cluster) -> None:
    b = abc.client("B")
    assert abc.call("B", "write_data", "before kill")
    pid = abc.nodes["B"].pid
    assert pid is not None
    abc.kill("B")
    assert not alive(pid) and abc.nodes["B"].pid is None
    with pytest.raises(Unavailable, match="connection refused"):
        b.get("x")
    abc.restart("B")
    assert abc.nodes["B"].pid not in (None, pid)
    assert abc.call("B", "read_data") == "before kill\n"
    assert b.put("x", 1) is True
    assert "start #2 of B" in abc.nodes["B"].log_tail()
    assert [e.f for e in abc.history.faults()] == ["kill", "restart"]


def test_pause_makes_calls_indeterminate_and_resume_recovers(abc: Cluster) -> None:
    c = abc.client("C", timeout=0.3)
    abc.pause("C")
    with pytest.raises(Indeterminate, match="no reply within 0.3 s"):
        c.get("x")
    abc.resume("C")
    eventually(lambda: abc.call("C", "ping") == "pong")
    assert c.get("x") is None


def test_process_control_of_unknown_or_stopped_nodes(abc: Cluster) -> None:
    with pytest.raises(KeyError, match="unknown node 'Z'; the cluster's nodes are A, B, C"):
        abc.kill("Z")
    # A usage error too, so that pytest reports it at the call, without the plugin's frames.
    with pytest.raises(ArgumentError, match="^unknown node 'Z'"):
        abc.client("Z")
    abc.kill("A")
    with pytest.raises(ClusterError, match="node A is not running"):
        abc.kill("A")
    with pytest.raises(ClusterError, match="node A is not running"):
        abc.pause("A")


# -- the network, seen from the nodes ---------------------------------------------------


def test_two_way_partition_from_the_nodes_side(abc: Cluster) -> None:
    with abc.partitioned("A,B|C") as part:
        assert part.groups == (("A", "B"), ("C",))
        assert abc.call("A", "send", "B", "inside") == "ok"
        assert abc.call("A", "send", "C", "across", 0.3) == "timeout"
        assert abc.call("C", "send", "B", "back", 0.3) == "timeout"
        assert abc.call("C", "received") == []
    # After the heal the held requests arrive (the senders closed normally,
    # as TCP still delivers what a closed socket had sent).
    eventually(lambda: abc.call("C", "received") == [["A", "across"]])
    eventually(lambda: ["C", "back"] in abc.call("B", "received"))


def test_one_way_cut_loses_only_the_reply(abc: Cluster) -> None:
    abc.partition("C->A")
    # A's request reaches C, but C's reply to A is lost: A cannot know.
    assert abc.call("A", "send", "C", "hello", 0.3) == "timeout"
    assert abc.call("C", "received") == [["A", "hello"]]
    # C's own requests to A do not arrive at all.
    assert abc.call("C", "send", "A", "from C", 0.3) == "timeout"
    assert abc.call("A", "received") == []
    abc.heal()


def test_partition_holds_open_connections_then_lets_them_flow(abc: Cluster) -> None:
    assert abc.call("A", "send_keepalive", "B", "one") == "ok"
    port = abc.call("A", "keepalive_port", "B")
    abc.partition("A|B")
    # The same, already open connection: the cut applies to it too.
    assert abc.call("A", "keepalive_port", "B") == port
    assert abc.call("A", "send_keepalive", "B", "two", 0.3) == "timeout"
    assert abc.call("B", "received") == [["A", "one"]]
    abc.heal()
    eventually(lambda: abc.call("B", "received") == [["A", "one"], ["A", "two"]])


def test_reject_refuses_connections_from_the_nodes_side(abc: Cluster) -> None:
    abc.partition("A,B|C", kind="reject")
    assert abc.call("A", "connect", "C") == "ConnectionRefusedError"
    assert abc.call("A", "send", "C", "x") == "refused"
    assert abc.call("A", "connect", "B") == "ok"
    abc.heal()
    assert abc.call("A", "send", "C", "x") == "ok"


def test_latency_slows_peer_calls(abc: Cluster) -> None:
    began = time.monotonic()
    assert abc.call("A", "send", "B", "fast") == "ok"
    fast = time.monotonic() - began
    abc.set_latency(100, links="A->B;B->A")
    began = time.monotonic()
    assert abc.call("A", "send", "B", "slow", 2.0) == "ok"
    assert time.monotonic() - began >= 0.2 > fast
    abc.set_latency(0)
    latency_events = [e for e in abc.history.faults() if e.f == "latency"]
    assert latency_events[0].value["ms"] == 100
    assert latency_events[0].value["links"] == [["A", "B"], ["B", "A"]]


def test_isolate_and_partitioned_heal_even_on_error(abc: Cluster) -> None:
    part = abc.isolate("B")
    assert part.groups == (("A", "C"), ("B",))
    abc.heal()
    with pytest.raises(RuntimeError):
        with abc.partitioned("A|B,C"):
            raise RuntimeError("test body failed")
    assert abc.network.cut_links == {}
    assert [e.f for e in abc.history.faults()] == ["partition", "heal", "partition", "heal"]


def test_partition_without_a_spec_says_what_to_do(abc: Cluster) -> None:
    with pytest.raises(SpecError, match="no partition spec"):
        abc.partition()
    with pytest.raises(SpecError, match="unknown node 'D'"):
        abc.partition("A|D")
    assert abc.network.cut_links == {}


def test_isolate_leader_asks_the_nodes(toy_command: list[str], tmp_path: Path) -> None:
    with Cluster(3, command=toy_command, workdir=tmp_path,
                 env={"TOY_ROLE_n2": "leader"}) as cluster:
        assert cluster.leader() == "n2"
        part = cluster.partition("isolate:leader")
        assert part.resolved == "n2|n1,n3"


def test_fault_events_reach_the_callback(toy_command: list[str], tmp_path: Path) -> None:
    seen: list[tuple[str, object]] = []
    with Cluster(2, command=toy_command, workdir=tmp_path,
                 on_fault=lambda c, e: seen.append((e.f, e.value))) as cluster:
        cluster.partition("n1|n2", kind="reject")
        cluster.heal()
    assert seen[0][0] == "partition" and seen[0][1]["kind"] == "reject"  # type: ignore[index]
    assert seen[1] == ("heal", None)


# -- recording clients -------------------------------------------------------------------


def test_client_records_invoke_and_completion(abc: Cluster) -> None:
    a = abc.client("A")
    assert a.put("k", 7) is True
    assert a.call("get", "k") == 7
    ops = abc.history.operations()
    assert [(o.f, o.key, o.value, o.output, o.type, o.node) for o in ops] == [
        ("put", "k", 7, True, "ok", "A"), ("get", "k", None, 7, "ok", "A")]
    assert {o.process for o in ops} == {a.process}


def test_unknown_outcome_is_info_and_the_client_becomes_a_new_process(abc: Cluster) -> None:
    a = abc.client("A", timeout=0.2)
    first = a.process
    with pytest.raises(Indeterminate):
        a.sleep(1.0)
    assert a.process != first
    (op,) = abc.history.operations()
    assert (op.type, op.value, op.end, op.error) == ("info", 1.0, None, "no reply within 0.2 s")


def test_lost_reply_is_indeterminate(abc: Cluster) -> None:
    # The test process is the client; cutting the client link's reply path
    # (node -> client) makes the operation happen with nobody told.
    abc.network.cut([("A", CLIENT)])
    with pytest.raises(Indeterminate):
        abc.client("A", timeout=0.3).put("k", 1)
    abc.network.heal()
    assert abc.call("A", "get", "k") == 1


@pytest.mark.parametrize(
    ("code", "raised", "recorded"),
    [
        (503, Unavailable, "fail"),
        (504, Indeterminate, "info"),
        (400, xmlrpc.client.Fault, "fail"),
        (-32601, xmlrpc.client.Fault, "fail"),  # method not found: never dispatched
        (1, xmlrpc.client.Fault, "info"),  # what Python servers send for any exception
    ],
)
def test_fault_codes_map_to_outcomes(abc: Cluster, code: int, raised: type[Exception],
                                     recorded: str) -> None:
    with pytest.raises(raised):
        abc.client("B").fault(code, "explained")
    (op,) = abc.history.operations()
    assert op.type == recorded


def test_an_uninterpretable_fault_is_recorded_as_unknown(abc: Cluster) -> None:
    # Python's server answers an unknown method with fault 1, the code of
    # any exception: the client cannot tell it did nothing.
    with pytest.raises(xmlrpc.client.Fault, match="not supported"):
        abc.client("B").no_such_method()
    assert abc.history.operations()[0].type == "info"


def test_arguments_that_cannot_be_sent_are_refused_before_recording(abc: Cluster) -> None:
    with pytest.raises(TypeError, match="cannot be sent over XML-RPC"):
        abc.client("A").put("k", object())
    assert len(abc.history) == 0


def test_clients_may_run_in_threads(abc: Cluster) -> None:
    clients = [abc.client(n) for n in ("A", "B", "C", "A")]

    def work(client: object) -> None:
        for i in range(20):
            client.put(f"k{i}", i)  # type: ignore[attr-defined]

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ops = abc.history.operations()
    assert len(ops) == 80 and all(o.type == "ok" for o in ops)
    assert len({o.process for o in ops}) == 4


def test_history_is_saved_as_json_lines(abc: Cluster, tmp_path: Path) -> None:
    abc.client("A").put("k", 1)
    abc.partition("A|B,C")
    abc.heal()
    lines = abc.history.save(tmp_path / "h.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["invoke", "ok", "info", "info"]
    assert events[2]["process"] == "nemesis" and events[2]["value"]["spec"] == "A|B,C"


# -- convergence and teardown --------------------------------------------------------------


def test_wait_converged_returns_the_common_state(abc: Cluster) -> None:
    for name in abc.names:
        abc.call(name, "put", "k", 1)
    assert abc.wait_converged(timeout=2) == {"k": 1}


def test_wait_converged_fails_with_a_per_node_diff(abc: Cluster) -> None:
    abc.call("A", "put", "dryer", 59)
    abc.call("B", "put", "dryer", 59)
    abc.call("C", "put", "dryer", 60)
    for name in abc.names:
        abc.call(name, "put", "same", 1)
    began = time.monotonic()
    with pytest.raises(NotConverged) as raised:
        abc.wait_converged(timeout=0.5)
    assert time.monotonic() - began < 3
    message = str(raised.value)
    assert "did not converge within 0.5 s" in message
    assert "replicas differ on 1 of 2 key(s)" in message
    assert "'dryer': A=59, B=59, C=60 (C differs)" in message


def test_stop_leaves_nothing_running(toy_command: list[str]) -> None:
    threads_before = set(threading.enumerate())
    cluster = Cluster(3, command=toy_command)
    with cluster:
        cluster.pause("n2")  # a paused node must be stopped too
        pids = [node.pid for node in cluster.nodes.values()]
        proxy = cluster.network._proc
    assert all(pid is not None and not alive(pid) for pid in pids)
    assert proxy.poll() == 0
    assert not cluster.workdir.exists(), "a work dir of our own is removed"
    assert set(threading.enumerate()) <= threads_before


@pytest.mark.parametrize("ms", [float("inf"), 1e12, float("nan"), True, "10", -1])
def test_bad_latency_is_refused_and_the_proxy_lives_on(abc: Cluster, ms: object) -> None:
    with pytest.raises((ValueError, TypeError), match="latency ms=.*accepted: a number of "
                                                      "milliseconds >= 0"):
        abc.set_latency(ms)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError), match="latency jitter_ms="):
        abc.set_latency(1, jitter_ms=ms)  # type: ignore[arg-type]
    assert abc.client("A").put("k", 1) is True


def test_arguments_xml_cannot_carry_are_refused_before_recording(abc: Cluster) -> None:
    with pytest.raises(TypeError, match=r"holds '\\x00' at position 1, which XML"):
        abc.client("A").put("k", "a\x00b")
    with pytest.raises(TypeError, match="which XML"):
        abc.client("A").put("k", {"nested": ["\x1b[31m"]})
    assert len(abc.history) == 0
    assert abc.client("A").put("k", "tab\tnew\nline") is True


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 0])
def test_every_timeout_is_checked(abc: Cluster, timeout: float) -> None:
    for call in (lambda: abc.call("A", "ping", timeout=timeout),
                 lambda: abc.states(timeout=timeout),
                 lambda: abc.wait_leader(timeout=timeout),
                 lambda: eventually(lambda: True, timeout=timeout),
                 lambda: eventually(lambda: True, every=timeout)):
        with pytest.raises(ValueError, match="accepted: a number of seconds > 0"):
            call()


def test_a_failed_state_reads_well(abc: Cluster) -> None:
    abc.pause("B")
    states = abc.states(timeout=0.2)
    assert repr(states["B"]).startswith("<state() failed: ")


def test_using_a_cluster_before_start_or_after_stop_says_so(
        toy_command: list[str], tmp_path: Path) -> None:
    cluster = Cluster(2, command=toy_command, workdir=tmp_path / "c")
    with pytest.raises(ClusterError, match="not started: call start"):
        cluster.client("n1")
    for action in (cluster.states, cluster.wait_converged, cluster.leader):
        with pytest.raises(ClusterError, match="not started"):
            action()
    with pytest.raises(ClusterError, match="not started"):
        cluster.partition("n1|n2")
    with cluster:
        pass
    for action in (lambda: cluster.client("n1"), lambda: cluster.partition("n1|n2"),
                   lambda: cluster.restart("n1"), lambda: cluster.kill("n1"), cluster.heal):
        with pytest.raises(ClusterError, match="the cluster is stopped"):
            action()


def test_a_cluster_runs_once(toy_command: list[str]) -> None:
    cluster = Cluster(1, command=toy_command)
    with cluster:
        pass
    with pytest.raises(ClusterError, match="runs once"):
        cluster.start()


def test_a_cluster_takes_the_proxy_started_ahead_for_it(toy_command: list[str],
                                                       tmp_path: Path) -> None:
    with Cluster(1, command=toy_command, workdir=tmp_path / "first"):
        spare = network_module._spare
        assert spare is not None and spare.poll() is None
    with Cluster(1, command=toy_command, workdir=tmp_path / "second") as second:
        proxy = second.network._proc
        assert proxy is spare
        # It writes to this cluster's log, and another is started for the next.
        assert os.readlink(f"/proc/{proxy.pid}/fd/2") == str(tmp_path / "second" / "proxy.log")
        assert network_module._spare not in (None, spare)
        assert second.client("n1").call("ping") == "pong"
    assert proxy.poll() == 0


def test_a_dead_spare_proxy_is_replaced_by_a_fresh_one(toy_command: list[str],
                                                       tmp_path: Path) -> None:
    with Cluster(1, command=toy_command, workdir=tmp_path / "first"):
        spare = network_module._spare
        assert spare is not None
    spare.kill()
    spare.wait()
    with Cluster(1, command=toy_command, workdir=tmp_path / "second") as second:
        assert second.network._proc is not spare
        assert second.client("n1").call("ping") == "pong"


def test_node_processes_ignore_the_terminal(abc: Cluster) -> None:
    # Nodes live in their own session: a Ctrl-C in the terminal reaches
    # pytest, which stops them, rather than killing them mid-test.
    pid = abc.nodes["A"].pid
    assert pid is not None and os.getsid(pid) == pid != os.getsid(0)
    assert sys.platform.startswith("linux")


def test_owns_port_tells_our_node_from_another_program(abc: Cluster) -> None:
    node = abc.nodes["A"]
    assert node.owns_port() is True
    with socket.create_server(("127.0.0.1", 0)) as foreign:
        impostor = Node("A", foreign.getsockname()[1], node.log_path, node.data_dir)
        impostor.process = node.process
        assert impostor.owns_port() is False


def test_the_listening_socket_is_found_alike_by_netlink_and_proc(
        abc: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    node = abc.nodes["A"]
    with socket.create_server(("127.0.0.1", 0)) as other:
        found = node_module._listening_inode(node.port)
        other_found = node_module._listening_inode(other.getsockname()[1])
        assert found is not None and other_found is not None and found != other_found
        monkeypatch.setattr(node_module, "_netlink_listeners", lambda: None)  # (not Linux)
        assert node_module._listening_inode(node.port) == found
        assert node_module._listening_inode(other.getsockname()[1]) == other_found
    assert node.owns_port() is True


def test_a_taken_port_is_retried_even_when_its_owner_answers_ping(
        toy_command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another program (another test run, say) grabs the port we picked for
    # n1 and answers ping() there: that must not pass for n1 being ready.
    foreign = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    foreign.register_function(lambda: "pong from someone else", "ping")
    thread = threading.Thread(target=foreign.serve_forever, daemon=True)
    thread.start()
    taken = foreign.server_address[1]
    ports = iter([taken])
    real = cluster_module.free_port
    monkeypatch.setattr(cluster_module, "free_port", lambda: next(ports, None) or real())
    try:
        with Cluster(2, command=toy_command, workdir=tmp_path) as cluster:
            assert cluster.nodes["n1"].port != taken
            assert cluster.call("n1", "env")["PARTITION_NODE"] == "n1"
            assert "start #2 of n1" in cluster.nodes["n1"].log_tail()
    finally:
        foreign.shutdown()
        foreign.server_close()


# -- the reference store's start -------------------------------------------------------------


def test_a_fresh_cp_cluster_elects_its_last_node_without_waiting_a_timeout(
        tmp_path: Path) -> None:
    # With ordinary election timeouts (300 to 600 ms) any node may win, after
    # a wait; a fresh cluster's last node by name campaigns at once instead.
    # (On a starved machine another node's own timeout may fire meanwhile: a
    # harmless pre-vote, so only the outcome is checked.)
    with Cluster(["B", "E", "C", "A", "D"], mode="cp", workdir=tmp_path) as cluster:
        role = cluster.call("E", "role")
        assert (role["role"], role["term"]) == ("leader", 1)
        campaigned = [name for name, node in cluster.nodes.items()
                      if "campaigning at once" in node.log_path.read_text()]
        assert campaigned == ["E"]
