"""The proxy layer's semantics, observed with plain sockets on both ends.

Each test runs real TCP servers in threads behind a :class:`Network`; waits
are conditions with deadlines, and "nothing arrived" is checked against the
proxy's own count of held bytes, so no test depends on a sleep.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from tests_support import alive

from pytest_partition import eventually
from pytest_partition.client import rpc_call
from pytest_partition.errors import ClusterError
from pytest_partition.network import CLIENT, Network


class Recorder:
    """A TCP server that records every byte per connection and echoes it back."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytearray] = []
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            buffer = bytearray()
            with self.lock:
                self.received.append(buffer)
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, buffer), daemon=True).start()

    def _serve(self, conn: socket.socket, buffer: bytearray) -> None:
        try:
            while data := conn.recv(65536):
                with self.lock:
                    buffer += data
                conn.sendall(data)
        except OSError:
            pass

    def total(self) -> bytes:
        with self.lock:
            return b"".join(bytes(b) for b in self.received)

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for conn in self.conns:
                conn.close()


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture
def net() -> Iterator[Network]:
    with Network(seed=1) as network:
        yield network


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return bytes(data)


def held(net: Network) -> int:
    return int(net.stats()["held_bytes"])


def test_bytes_flow_both_ways(net: Network, server: Recorder) -> None:
    with connect(net.add_link("A", "B", server.port)) as sock:
        sock.sendall(b"hello")
        assert recv_exactly(sock, 5) == b"hello"


def test_cut_holds_bytes_on_open_connections_and_heal_delivers_them_in_order(
        net: Network, server: Recorder) -> None:
    pattern = bytes(range(256)) * 800  # 200 KiB, any reordering would show
    with connect(net.add_link("A", "B", server.port)) as sock:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        net.cut([("A", "B")])
        sock.sendall(pattern)  # on a connection opened before the cut
        eventually(lambda: held(net) == len(pattern))
        assert server.total() == b"x", "a byte crossed a cut link"
        net.heal()
        eventually(lambda: server.total() == b"x" + pattern)
        assert recv_exactly(sock, len(pattern)) == pattern


class Drain:
    """Reads a socket in a thread until ``count`` bytes came (or it closed)."""

    def __init__(self, sock: socket.socket, count: int) -> None:
        self.data = bytearray()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(sock, count), daemon=True)
        self.thread.start()

    def _run(self, sock: socket.socket, count: int) -> None:
        try:
            self.data += recv_exactly(sock, count)
        except BaseException as error:  # noqa: BLE001 - re-raised by result()
            self.error = error

    def result(self, timeout: float = 30.0) -> bytes:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"only {len(self.data)} bytes came back"
        if self.error is not None:
            raise self.error
        return bytes(self.data)


def test_a_bulk_transfer_arrives_intact_and_in_order(net: Network, server: Recorder) -> None:
    # Far more than any socket buffer: the proxy must cope with partial
    # sends in both directions at once.
    payload = os.urandom(1 << 20) * 12
    with connect(net.add_link("A", "B", server.port)) as sock:
        echo = Drain(sock, len(payload))
        sock.sendall(payload)
        assert echo.result() == payload
    assert server.total() == payload


def test_a_long_cut_holds_a_bounded_amount_and_the_sender_feels_back_pressure(
        net: Network, server: Recorder) -> None:
    from pytest_partition.proxy import HOLD_LIMIT, RECV_SIZE

    payload = os.urandom(1 << 20) * 48  # more than kernel buffers and the hold limit
    with connect(net.add_link("A", "B", server.port)) as sock:
        net.cut([("A", "B")])
        echo = Drain(sock, len(payload))
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        eventually(lambda: held(net) >= HOLD_LIMIT)
        assert held(net) <= HOLD_LIMIT + RECV_SIZE, "the proxy kept reading across a cut"
        assert sender.is_alive(), "the sender should be blocked by back-pressure"
        assert server.total() == b""
        net.heal()
        assert echo.result(timeout=60.0) == payload
        sender.join(10)
    assert server.total() == payload


def test_one_way_cut_lets_the_request_arrive_and_loses_the_reply(
        net: Network, server: Recorder) -> None:
    with connect(net.add_link("A", "B", server.port)) as sock:
        net.cut([("B", "A")])
        sock.sendall(b"request")
        eventually(lambda: server.total() == b"request")
        eventually(lambda: held(net) == len(b"request"))
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        net.heal()
        sock.settimeout(5)
        assert recv_exactly(sock, 7) == b"request"


def test_cut_applies_whichever_side_opened_the_connection(
        net: Network, server: Recorder) -> None:
    # B opens a connection to A (the server); cutting A->B must stop A's
    # replies on that connection, while B's requests still reach A.
    with connect(net.add_link("B", "A", server.port)) as sock:
        net.cut([("A", "B")])
        sock.sendall(b"ping")
        eventually(lambda: server.total() == b"ping")
        eventually(lambda: held(net) == 4)
        net.heal()
        assert recv_exactly(sock, 4) == b"ping"


def test_cut_is_in_force_when_the_call_returns(net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    with connect(port) as sock:
        for round_ in range(20):
            net.cut([("A", "B")])
            payload = f"round {round_};".encode()
            sock.sendall(payload)
            eventually(lambda p=payload: held(net) == len(p))
            before = server.total()
            net.heal()
            eventually(lambda p=payload, b=before: server.total() == b + p)
            recv_exactly(sock, len(payload))


def test_reject_refuses_new_connections_and_resets_open_ones(
        net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    sock = connect(port)
    try:
        sock.sendall(b"a")
        assert recv_exactly(sock, 1) == b"a"
        net.cut([("A", "B")], kind="reject")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        with pytest.raises(ConnectionRefusedError):
            connect(port)
        # A one-way reject also refuses the reverse link's connections.
        reverse = net.add_link("B", "A", server.port)
        with pytest.raises(ConnectionRefusedError):
            connect(reverse)
    finally:
        sock.close()
    net.heal()
    with connect(port) as again:
        again.sendall(b"b")
        assert recv_exactly(again, 1) == b"b"


def test_latency_delays_every_chunk_without_reordering(net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    net.set_latency([("A", "B"), ("B", "A")], ms=30, jitter_ms=20)
    with connect(port) as sock:
        began = time.monotonic()
        sock.sendall(b"t")
        recv_exactly(sock, 1)
        assert time.monotonic() - began >= 0.02  # at least 10 ms each way
        chunks = [f"{i:04d}".encode() for i in range(200)]
        for chunk in chunks:
            sock.sendall(chunk)
        assert recv_exactly(sock, 800) == b"".join(chunks)
    assert server.total() == b"t" + b"".join(chunks)
    net.set_latency([("A", "B"), ("B", "A")], ms=0)
    assert net.latency == {}


def test_node_down_refuses_connections_until_up(net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    client_port = net.add_link("@client", "B", server.port)
    net.node_down("B")
    for p in (port, client_port):
        with pytest.raises(ConnectionRefusedError):
            connect(p)
    net.node_up("B")
    with connect(port) as sock:
        sock.sendall(b"up")
        assert recv_exactly(sock, 2) == b"up"


def test_links_listen_on_loopback_only(net: Network, server: Recorder) -> None:
    ports = {net.add_link("A", "B", server.port), net.add_link("B", "A", server.port)}
    listening = set()
    with open("/proc/net/tcp") as table:
        for row in table.read().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, port = local.split(":")
            if state == "0A" and int(port, 16) in ports:  # 0A = LISTEN
                listening.add((address, int(port, 16)))
    assert listening == {("0100007F", p) for p in ports}


def test_unreachable_upstream_resets_the_client(net: Network) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    port = net.add_link("A", "B", dead_port)
    # The reset may even beat connect() back to user space: any step may see it.
    with pytest.raises((ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        with connect(port) as sock:
            sock.sendall(b"x")
            if not sock.recv(10):
                raise ConnectionResetError("closed")


def test_a_client_link_says_when_the_node_refused_the_connection(net: Network) -> None:
    # The request never reached the node: the recording client must be able
    # to tell this from a reset after delivery (a definite failure, not info).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    port = net.add_link(CLIENT, "B", dead_port)
    outcome = rpc_call(port, "get", ("k",), 2.0, node="B")
    assert (outcome.type, outcome.error) == (
        "fail", "the node refused the connection (it is not running)")


def test_a_link_never_forwards_into_the_proxy_itself(net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    with pytest.raises(ClusterError, match=f"upstream port {port} is one of the proxy's own"):
        net.add_link("B", "A", port)
    with pytest.raises(ClusterError, match=f"upstream port {port} is one of the proxy's own"):
        net.set_upstream("B", port)
    with connect(port) as sock:  # the link still forwards to the real node
        sock.sendall(b"ok")
        assert recv_exactly(sock, 2) == b"ok"


def test_bad_arguments_are_clear_errors(net: Network) -> None:
    with pytest.raises(ValueError, match="fault kind 'cut' is not one of drop, reject"):
        net.cut([("A", "B")], kind="cut")
    with pytest.raises(ValueError, match="latency ms=-1 is out of range; accepted: a number "
                                         "of milliseconds >= 0"):
        net.set_latency([("A", "B")], ms=-1)


class Echo:
    """An echo server in one thread that holds every connection it accepts."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            for key, _ in self.selector.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = self.listener.accept()
                        self.selector.register(conn, selectors.EVENT_READ)
                    continue
                try:
                    data = sock.recv(65536)
                    if data:
                        sock.sendall(data)
                        continue
                except OSError:
                    pass
                self.selector.unregister(sock)
                sock.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


@contextlib.contextmanager
def descriptor_limit(soft: int) -> Iterator[None]:
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


def test_a_flood_of_connections_on_one_link_silences_no_link() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"needs a descriptor hard limit of 4096 or more (it is {hard})")
    with descriptor_limit(512):  # the proxy starts under a common small soft limit
        network = Network()
    echo = Echo()
    flood: list[socket.socket] = []
    try:
        with descriptor_limit(4096):  # this process holds both ends of the flood
            flooded = network.add_link(CLIENT, "A", echo.port)
            other = network.add_link("B", "A", echo.port)
            for _ in range(600):  # idle ones would wait in the kernel (TCP_DEFER_ACCEPT)
                flood.append(connect(flooded))
                flood[-1].sendall(b"x")
            for port in (flooded, other):
                with connect(port) as sock:
                    sock.sendall(b"still here")
                    assert recv_exactly(sock, 10) == b"still here"
            # The link's oldest connections made way for the new ones.
            assert network.stats()["shed"] >= 600 - 256
            with pytest.raises(ConnectionResetError):
                while flood[0].recv(100):  # (its echoed byte may come first)
                    pass
    finally:
        for sock in flood:
            sock.close()
        network.close()
        echo.close()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
    return found


@pytest.mark.parametrize("proxy_dies_first", [False, True])
def test_watched_processes_die_with_the_test_process(proxy_dies_first: bool) -> None:
    network = Network()
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        os.kill(sleeper.pid, signal.SIGSTOP)  # a paused node cannot see EOF itself
        network.watch(sleeper.pid)
        deputies = children_of(network._proc.pid)
        if proxy_dies_first:  # killed, or out of memory: its deputy stands in
            network._proc.kill()
            network._proc.wait(timeout=10)
            assert sleeper.poll() is None, "only the test process's death kills the nodes"
        assert network._proc.stdin is not None
        network._proc.stdin.close()  # what the kernel does when pytest dies
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert network._proc.wait(timeout=10) == (-signal.SIGKILL if proxy_dies_first else 0)
        eventually(lambda: not any(alive(deputy) for deputy in deputies))
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        network.close()


def test_closing_the_network_kills_nothing_and_leaves_no_process() -> None:
    network = Network()
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        network.watch(sleeper.pid)
        deputies = children_of(network._proc.pid)
        assert len(deputies) == 1
        network.close()  # an orderly end: the test process stops its nodes itself
        eventually(lambda: not alive(deputies[0]))
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_close_stops_the_proxy_and_frees_the_ports(server: Recorder) -> None:
    network = Network()
    port = network.add_link("A", "B", server.port)
    network.close()
    assert network._proc.returncode == 0
    with pytest.raises(ConnectionRefusedError):
        connect(port)


def test_a_connection_opened_across_a_cut_reaches_nobody_until_the_heal(
        net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    net.cut([("A", "B")])
    with connect(port) as sock:
        sock.sendall(b"early")
        eventually(lambda: held(net) == 5)
        assert server.received == [], "not even the connection may reach B"
        net.heal()
        eventually(lambda: server.total() == b"early")
        assert recv_exactly(sock, 5) == b"early"


def test_a_sender_that_gives_up_before_the_proxy_took_its_connection_leaves_nothing(
        server: Recorder) -> None:
    # The proxy may take a connection only after the heal: it must see that
    # the sender reset it meanwhile, and forward none of its bytes.
    for _ in range(10):  # the race goes either way; before, most rounds leaked
        with Network() as net:
            port = net.add_link("A", "B", server.port)
            net.cut([("A", "B")])
            for _ in range(20):
                sock = connect(port)
                sock.sendall(b"retry")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            net.heal()  # at once: some connections may not even be accepted yet
            with connect(port) as sock:
                sock.sendall(b"x")
                assert recv_exactly(sock, 1) == b"x"
    assert server.total() == b"x" * 10


def test_a_sender_that_gives_up_across_a_cut_leaves_nothing_behind(
        net: Network, server: Recorder) -> None:
    port = net.add_link("A", "B", server.port)
    net.cut([("A", "B")])
    for _ in range(20):  # a peer retrying all through a long partition
        sock = connect(port)
        sock.sendall(b"retry")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # gives up with a reset
    eventually(lambda: net.stats()["connections"] == 0)
    net.heal()
    with connect(port) as sock:  # the link still works, and nothing old arrives
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
    assert server.total() == b"x"
