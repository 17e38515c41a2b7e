"""Hardening of the reference store in both modes: raw bytes at a node's port.

Each test sends what a broken or hostile client could send, then checks that
the node refused it clearly, kept serving, and kept its data.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_partition import Cluster
from pytest_partition.client import rpc_call
from pytest_partition.store.transport import TOKEN_HEADER

MODES = ["cp", "ap"]


@pytest.fixture(scope="module", params=MODES)
def node(request: pytest.FixtureRequest) -> Iterator[tuple[Cluster, int]]:
    with Cluster(3, mode=request.param) as cluster:
        cluster.client("n1").put("keep", "me")
        cluster.wait_converged(timeout=10)
        yield cluster, cluster.nodes["n1"].port


def http_post(port: int, body: bytes, *, path: str = "/RPC2",
              length: int | None = None, read_timeout: float = 10.0,
              headers: dict[str, str] | None = None) -> bytes:
    """Send one raw HTTP POST and return the raw reply (headers and body)."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n{extra}"
            "Connection: close\r\n\r\n").encode()
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        try:
            sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node may refuse before reading it all; its answer is there
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def fault_of(reply: bytes) -> tuple[int, str]:
    body = reply.split(b"\r\n\r\n", 1)[1]
    with pytest.raises(xmlrpc.client.Fault) as raised:
        xmlrpc.client.loads(body)
    return raised.value.faultCode, raised.value.faultString


def still_serving(cluster: Cluster, port: int) -> None:
    outcome = rpc_call(port, "get", ("keep",), 5.0)
    assert (outcome.type, outcome.value) == ("ok", "me")
    assert cluster.nodes["n1"].running


def call_body(method: str, *params: object) -> bytes:
    return xmlrpc.client.dumps(params, method, allow_none=True).encode()


@pytest.mark.parametrize("method", [
    "system.listMethods", "_request", "__init__", "runtime.node.kv", "node", "on_peer",
    "stop", "get.__class__",
])
def test_only_documented_methods_are_callable(node: tuple[Cluster, int], method: str) -> None:
    cluster, port = node
    code, text = fault_of(http_post(port, call_body(method)))
    assert code == -32601 and "the methods are ping, get, put, cas, incr, delete" in text
    still_serving(cluster, port)


@pytest.mark.parametrize(("method", "params", "code", "words"), [
    ("get", (), -32602, "get(key) takes 1 argument(s), got 0"),
    ("put", ("k",), -32602, "put(key, value) takes 2 argument(s), got 1"),
    ("get", (1,), 400, "key 1 must be a non-empty string"),
    ("incr", ("k", "x"), 400, "incr delta 'x' must be an integer"),
    ("put", ("k", xmlrpc.client.Binary(b"\0")), 400, "cannot be stored"),
    ("ping", ("extra",), -32602, "takes 0 argument(s)"),
])
def test_bad_calls_get_a_fault_and_the_node_keeps_serving(
        node: tuple[Cluster, int], method: str, params: tuple[object, ...], code: int,
        words: str) -> None:
    cluster, port = node
    fault = fault_of(http_post(port, call_body(method, *params)))
    assert fault[0] == code and words in fault[1]
    still_serving(cluster, port)


def test_malformed_xml_is_a_parse_error(node: tuple[Cluster, int]) -> None:
    cluster, port = node
    for body in (b"<methodCall><methodName>get", b"\xff\xfe garbage", b"",
                 b"<?xml version='1.0'?><methodCall><params/></methodCall>"):
        code, _ = fault_of(http_post(port, body))
        assert code in (-32700, -32600)
    still_serving(cluster, port)


def test_entity_expansion_bomb_is_refused(node: tuple[Cluster, int]) -> None:
    cluster, port = node
    entities = "".join(
        f'<!ENTITY e{i} "{"&e" + str(i - 1) + ";" * 1}' + f'{("&e" + str(i - 1) + ";") * 9}">'
        for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e0 "lol">{entities}]>'
            "<methodCall><methodName>get</methodName><params><param><value>"
            "<string>&e9;</string></value></param></params></methodCall>").encode()
    code, text = fault_of(http_post(port, bomb))
    assert code == -32600 and "DTD" in text
    still_serving(cluster, port)


def put_document(value_xml: str, prolog: str = "") -> str:
    """A ``put("KEY", <value_xml>)`` call with ``prolog`` between the XML declaration
    and the root element."""
    return (f'<?xml version="1.0"?>{prolog}<methodCall><methodName>put</methodName><params>'
            "<param><value><string>KEY</string></value></param>"
            f"<param><value>{value_xml}</value></param></params></methodCall>")


LAUGHS = put_document(
    "<string>&e9;</string>",
    '<!DOCTYPE m [<!ENTITY e0 "lol">'
    + "".join(f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]>")
EXTERNAL = put_document("<string>&x;</string>",
                        '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/hostname">]>')
BARE_DOCTYPE = put_document("<string>plain</string>", "<!DOCTYPE methodCall>")
PARAMETER = put_document("<string>plain</string>",
                         '<!DOCTYPE m [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>')


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("document", [LAUGHS, EXTERNAL, BARE_DOCTYPE, PARAMETER],
                         ids=["billion-laughs", "external-entity", "bare-doctype",
                              "parameter-entity"])
def test_documents_with_a_doctype_are_refused_in_any_encoding(
        node: tuple[Cluster, int], encoding: str, document: str) -> None:
    cluster, port = node
    # (Python's "utf-16" writes a byte order mark; the -le/-be ones do not.)
    declared = document.replace('<?xml version="1.0"?>',
                                f'<?xml version="1.0" encoding="{encoding.upper()[:6]}"?>')
    key = f"doc-{encoding}-{len(document)}"
    body = declared.replace("KEY", key).encode(encoding)
    code, text = fault_of(http_post(port, body))
    assert (code, "DTD" in text) == (-32600, True), text
    assert rpc_call(port, "get", (key,), 5.0).value is None, "nothing may be written"
    still_serving(cluster, port)


@pytest.mark.parametrize("number", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("method", ["put", "cas-expected", "cas-new"])
def test_nan_and_infinities_are_not_values(node: tuple[Cluster, int], number: str,
                                           method: str) -> None:
    cluster, port = node
    double = f"<value><double>{number}</double></value>"
    plain = "<value><string>x</string></value>"
    params = {"put": [double], "cas-expected": [double, plain],
              "cas-new": [plain, double]}[method]
    name, key = method.split("-")[0], f"{method}-{number}"
    body = (f"<?xml version='1.0'?><methodCall><methodName>{name}</methodName><params>"
            f"<param><value><string>{key}</string></value></param>"
            + "".join(f"<param>{p}</param>" for p in params) + "</params></methodCall>").encode()
    code, text = fault_of(http_post(port, body))
    assert code == 400 and "NaN and infinities" in text, text
    assert rpc_call(port, "get", (key,), 5.0).value is None
    still_serving(cluster, port)


def nested(depth: int, leaf: str = "<value><string>x</string></value>") -> str:
    return "<value><array><data>" * depth + leaf + "</data></array></value>" * depth


@pytest.mark.parametrize(("method", "params", "words"), [
    ("get", [nested(1000)], "key [[[[[["),
    ("incr", ["<value><string>k</string></value>", nested(1000)], "incr delta [[[[[["),
    ("put", ["<value><string>k</string></value>", nested(1000)], "nested deeper than 32"),
    ("put", [nested(20_000), "<value><int>1</int></value>"], "key [[[[[["),
])
def test_deeply_nested_arguments_get_a_fault(node: tuple[Cluster, int], method: str,
                                             params: list[str], words: str) -> None:
    cluster, port = node
    body = (f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>"
            + "".join(f"<param>{p}</param>" for p in params) + "</params></methodCall>").encode()
    code, text = fault_of(http_post(port, body))
    assert code == 400 and words in text, text
    still_serving(cluster, port)


def test_a_flood_of_idle_and_half_sent_connections_does_not_silence_the_node(
        node: tuple[Cluster, int]) -> None:
    cluster, port = node
    flood: list[socket.socket] = []
    try:
        # More than the node's connection limit (512), opened at a pace the
        # node accepts them all: idle ones, and ones that stop mid-request.
        for number in range(600):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if number % 3 == 0:
                sock.sendall(b"POST /RPC2 HTTP/1.1\r\nContent-Le")
            flood.append(sock)
            time.sleep(0.002)  # a pace the node's accept loop keeps up with, not a wait
        for sock in flood[::3]:
            with contextlib.suppress(OSError):
                sock.send(b"n")  # a trickle: each byte must not buy more time
        outcomes = [rpc_call(port, "get", ("keep",), 2.0) for _ in range(20)]
        assert [(o.type, o.value) for o in outcomes] == [("ok", "me")] * 20, \
            {o.error for o in outcomes}
    finally:
        for sock in flood:
            sock.close()
    still_serving(cluster, port)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_oversized_body_is_refused_without_reading_it(node: tuple[Cluster, int]) -> None:
    cluster, port = node
    pid = cluster.nodes["n1"].pid
    assert pid is not None
    before = rss_kib(pid)
    # Announce 64 MiB and send only the start: the node must answer at once.
    reply = http_post(port, b"<methodCall>", length=64 << 20, read_timeout=5.0)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
    assert rss_kib(pid) - before < 16 << 10, "the node should not have allocated the body"
    still_serving(cluster, port)


def test_body_above_the_limit_is_refused_even_when_sent(node: tuple[Cluster, int]) -> None:
    cluster, port = node
    big = call_body("put", "k", "x" * (2 << 20))
    assert http_post(port, big).startswith(b"HTTP/1.1 413")
    still_serving(cluster, port)


def test_unknown_path_and_method(node: tuple[Cluster, int]) -> None:
    cluster, port = node
    assert http_post(port, call_body("ping"), path="/admin").startswith(b"HTTP/1.1 404")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 501")
    still_serving(cluster, port)


def cluster_token(cluster: Cluster, name: str = "n1") -> str:
    """The token the plugin handed to a node (a forked node's /proc/PID/environ is its
    zygote's, so it is read from what the cluster gives the node)."""
    token: str = cluster._env(cluster.nodes[name])["PARTITION_CLUSTER_TOKEN"]
    return token


def forged_batch(cluster: Cluster) -> bytes:
    """What the issue's attacker sent: a message that would overwrite "keep"."""
    if cluster.mode == "cp":
        term = cluster.call("n1", "role")["term"] + 1000
        entry = {"term": term, "index": 1, "command": {"op": "put", "key": "keep",
                                                       "value": "FORGED"}, "request_id": "x"}
        message = {"type": "append", "src": "n2", "dst": "n1", "term": term, "index": 0,
                   "log_term": 0, "entries": [entry], "commit": 1}
    else:
        record = {"reg": {"ts": [2**62, 0], "node": "n2", "value": "FORGED"}}
        message = {"type": "push", "src": "n2", "dst": "n1",
                   "payload": {"records": {"keep": record}, "ids": {"keep": 1}}}
    return json.dumps({"from": "n2", "messages": [message]}).encode()


@pytest.mark.parametrize("token", [None, "", "wrong", "right+1"])
def test_peer_requests_without_the_cluster_token_are_refused_unread(
        node: tuple[Cluster, int], token: str | None) -> None:
    cluster, port = node
    if token is not None and "right" in token:
        token = token.replace("right", cluster_token(cluster))
    headers = {} if token is None else {TOKEN_HEADER: token}
    before = cluster.call("n1", "role"), cluster.call("n1", "stats")["malformed_messages"]
    reply = http_post(port, forged_batch(cluster), path="/peer", headers=headers)
    assert reply.startswith(b"HTTP/1.1 403"), reply[:80]
    # Refused before the body is read or parsed: neither JSON nor size matter.
    assert http_post(port, b"{not json", path="/peer",
                     headers=headers).startswith(b"HTTP/1.1 403")
    assert http_post(port, b"{", path="/peer", length=64 << 20, headers=headers,
                     read_timeout=5.0).startswith(b"HTTP/1.1 403")
    assert (cluster.call("n1", "role"), cluster.call("n1", "stats")["malformed_messages"]) \
        == before
    still_serving(cluster, port)
    assert cluster.wait_converged(timeout=10)["keep"] == "me"


def test_the_store_will_not_start_without_a_cluster_token(tmp_path: Path) -> None:
    env = {**os.environ, "PARTITION_NODE": "n1", "PARTITION_PORT": "1",
           "PARTITION_PEERS": "{}", "PARTITION_DATA_DIR": str(tmp_path)}
    env.pop("PARTITION_CLUSTER_TOKEN", None)
    for token in (None, ""):
        if token is not None:
            env["PARTITION_CLUSTER_TOKEN"] = token
        done = subprocess.run([sys.executable, "-m", "pytest_partition.store", "--mode", "cp"],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 2
        assert "PARTITION_CLUSTER_TOKEN" in done.stderr and "secrets" in done.stderr


def test_bad_peer_batches_are_ignored(node: tuple[Cluster, int]) -> None:
    cluster, port = node
    token = {TOKEN_HEADER: cluster_token(cluster)}
    assert http_post(port, b"{not json", path="/peer",
                     headers=token).startswith(b"HTTP/1.1 400")
    junk = b'{"from": "n2", "messages": [{"type": "nonsense"}, 7, null]}'
    assert http_post(port, junk, path="/peer", headers=token).startswith(b"HTTP/1.1 204")
    still_serving(cluster, port)
    assert cluster.call("n1", "stats")["malformed_messages"] >= 3


def test_nodes_listen_on_loopback_only(node: tuple[Cluster, int]) -> None:
    cluster, _ = node
    ports = {n.port for n in cluster.nodes.values()}
    listening = set()
    with open("/proc/net/tcp") as table:
        for row in table.read().splitlines()[1:]:
            fields = row.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and int(port, 16) in ports:
                listening.add((address, int(port, 16)))
    assert listening == {("0100007F", p) for p in ports}
