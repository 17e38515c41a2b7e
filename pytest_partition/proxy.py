"""The proxy process: every link of one cluster's network, in one epoll loop.

Run as ``python -m pytest_partition.proxy``; :class:`pytest_partition.network.Network`
starts it and talks to it with JSON lines (a command on stdin, its reply on
stdout). It lives in its own process so that nothing the test process does
(a busy checker, the GIL) delays the cluster's traffic.

Each *link* is a listening socket on 127.0.0.1; a connection accepted on link
(src, dst) is forwarded to dst's real port. The bytes going up (src -> dst)
and down (dst -> src) each pass through a :class:`Pipe` that holds them while
that direction is cut, so a cut affects every connection, whichever side
opened it, and is in force as soon as the command that set it is answered:
only this loop writes to sockets, and it checks the cut before every write.

Fault kinds:

- ``drop``: bytes are held in order and delivered after the heal, unless an
  endpoint gave up (reset) meanwhile; a FIN is held like a byte. A connection
  accepted while src -> dst is cut is not even opened to dst until the heal,
  like a SYN into a dead route.
- ``reject``: the link's listener stops listening (new connections are
  refused by the kernel: ECONNREFUSED) and open connections are reset.

A flood of connections on one link (idle ones, or ones that trickle a byte
now and then) must not silence the proxy: each link holds at most its share
of the descriptors the process may open (see :meth:`Proxy.share_descriptors`),
and a connection beyond that sheds the link's oldest connection, never the
newcomer; the process also raises its descriptor limit to the hard limit.

It is also the cluster's last line of defence against leaks: when its stdin
reaches EOF (the test process is gone, even after SIGKILL) it kills the
process groups of the nodes it was told to watch, paused ones included,
then exits. A :class:`Deputy`, forked at start, does the same if the proxy
itself died first: a paused node cannot see its own stdin close, so without
it a node paused when the proxy was killed would stay stopped forever.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import heapq
import itertools
import json
import os
import random
import resource
import select
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .durations import MAX_SECONDS
from .wire import LINGER_RESET, REFUSED_REASON

# Stop reading from a source once this many bytes wait for delivery: the
# sender then feels back-pressure, as behind a dead route.
HOLD_LIMIT = 1 << 20
RECV_SIZE = 1 << 16
BACKLOG = 128
# Most connections one link holds, descriptors permitting; a client link
# serves one call per connection, a peer link one or two kept-alive ones.
MAX_LINK_CONNECTIONS = 256
# Descriptors kept out of the links' shares (control pipes, epoll, listeners).
_RESERVED_FDS = 64
_REFUSED_REPLY = (f"HTTP/1.0 502 {REFUSED_REASON}\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n").encode("ascii")

Direction = tuple[str, str]


class Pipe:
    """One direction of one proxied connection: source socket to sink socket."""

    __slots__ = ("conn", "source", "sink", "direction", "buf", "in_flight", "delayed",
                 "last_due", "eof_read", "eof_sent")

    def __init__(self, conn: Conn, source: socket.socket, sink: socket.socket,
                 direction: Direction) -> None:
        self.conn = conn
        self.source = source
        self.sink = sink
        self.direction = direction
        self.buf = bytearray()                                # deliverable now
        self.in_flight: deque[tuple[float, bytes]] = deque()  # delayed by latency
        self.delayed = 0                                      # bytes in in_flight
        self.last_due = 0.0
        self.eof_read = False
        self.eof_sent = False

    def pending(self) -> int:
        """Bytes read from the source and not yet written to the sink."""
        return len(self.buf) + self.delayed

    def wants_read(self) -> bool:
        return not self.eof_read and self.pending() < HOLD_LIMIT

    def clear(self) -> None:
        """Discard every held byte (the connection was aborted)."""
        self.buf.clear()
        self.in_flight.clear()
        self.delayed = 0


class Conn:
    """A connection accepted on a link (``a``) and its upstream connection (``b``)."""

    __slots__ = ("link", "a", "b", "afd", "bfd", "up", "down", "connecting", "deferred",
                 "closed", "reset_to", "masks")

    def __init__(self, link: LinkListener, a: socket.socket, b: socket.socket) -> None:
        self.link = link
        self.a = a
        self.b = b
        self.afd = a.fileno()
        self.bfd = b.fileno()
        self.up = Pipe(self, a, b, (link.src, link.dst))
        self.down = Pipe(self, b, a, (link.dst, link.src))
        self.connecting = True
        # Accepted while src->dst was cut: like a SYN into a dead route,
        # nothing reaches dst (not even the connection) until the heal.
        self.deferred = False
        self.closed = False
        # After one side aborted: the socket that must still be reset, and the
        # direction its RST travels (held while that direction is cut).
        self.reset_to: tuple[socket.socket, Direction] | None = None
        self.masks = {self.afd: 0, self.bfd: 0}


class LinkListener:
    """A listening socket for the traffic of ``src`` to ``dst``."""

    def __init__(self, src: str, dst: str, upstream: int, listener: socket.socket,
                 http_client: bool = False) -> None:
        self.src = src
        self.dst = dst
        self.upstream = upstream
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        self.listening = True
        self.conns: dict[Conn, None] = {}  # oldest first
        # A client link: the client speaks HTTP first (an XML-RPC call).
        self.http_client = http_client


def bind_listener(avoid: frozenset[int] = frozenset()) -> socket.socket:
    """A listening socket on 127.0.0.1 bound to an explicitly chosen port.

    An explicit port (rather than binding port 0) keeps the port bound while
    the listener is paused with shutdown(SHUT_RD), so it can listen again on
    the same port; SO_REUSEADDR lets it re-listen while accepted connections
    still use the port.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port in avoid:  # a node's port: never listen there ourselves
            continue
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        listener.listen(BACKLOG)
        listener.setblocking(False)
        return listener
    raise OSError(errno.EADDRINUSE, "no free port for a proxy link")


class Proxy:
    """The loop owning every link, connection and timer (epoll, one thread)."""

    def __init__(self, rng: random.Random, control_in: int, control_out: Any,
                 deputy: Deputy | None = None) -> None:
        self.rng = rng
        self.deputy = deputy
        self.epoll = select.epoll()
        # fd -> (handler, argument): the loop dispatches on this table.
        self.handlers: dict[int, tuple[Callable[[Any, int, int], None], Any]] = {}
        self.links: dict[tuple[str, str], LinkListener] = {}
        self.cut: dict[Direction, str] = {}          # direction -> "drop" | "reject"
        self.latency: dict[Direction, tuple[float, float]] = {}  # seconds, jitter
        self.down: set[str] = set()
        self.watched: set[int] = set()
        self.fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.link_capacity = MAX_LINK_CONNECTIONS
        self.shed = 0
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.timer_seq = itertools.count()
        self.control_in = control_in
        self.control_out = control_out
        self.control_buf = b""
        self.running = True
        self.bytes_forwarded = 0
        self.accepted = 0
        self.wakeups = 0
        os.set_blocking(control_in, False)
        self.handlers[control_in] = (lambda _arg, _fd, _mask: self.read_control(), None)
        self.epoll.register(control_in, select.EPOLLIN)

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        while self.running:
            timeout = -1.0
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            try:
                events = self.epoll.poll(timeout)
            except InterruptedError:
                continue
            self.wakeups += 1
            for fd, mask in events:
                entry = self.handlers.get(fd)
                if entry is not None:
                    entry[0](entry[1], fd, mask)
                if not self.running:
                    return
            if self.timers:
                now = time.monotonic()
                while self.timers and self.timers[0][0] <= now:
                    _, _, callback = heapq.heappop(self.timers)
                    callback()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (when, next(self.timer_seq), callback))

    # -- control channel -------------------------------------------------------

    def read_control(self) -> None:
        try:
            chunk = os.read(self.control_in, RECV_SIZE)
        except BlockingIOError:
            return
        if not chunk:
            # The test process is gone (or closed us): nothing may outlive it.
            self.kill_watched()
            self.shutdown()
            return
        self.control_buf += chunk
        while b"\n" in self.control_buf:
            line, self.control_buf = self.control_buf.split(b"\n", 1)
            if line.strip():
                self.handle_command(line)

    def handle_command(self, line: bytes) -> None:
        ident: Any = None
        try:
            command = json.loads(line)
            ident = command.get("id")
            reply = self.dispatch(command)
            reply.update(id=ident, ok=True)
        except Exception as error:  # report, never die: the controller decides
            reply = {"id": ident, "ok": False, "error": f"{type(error).__name__}: {error}"}
        self.control_out.write(json.dumps(reply) + "\n")
        self.control_out.flush()

    def dispatch(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "listen":
            src, dst = command["src"], command["dst"]
            upstream = self.check_upstream(int(command["upstream"]))
            listener = bind_listener(avoid=frozenset(
                {upstream} | {link.upstream for link in self.links.values()}))
            http_client = bool(command.get("client_speaks_first"))
            if http_client:
                # Wake us only when the request has arrived: accept and read
                # it in one loop turn (only for links whose clients speak first).
                listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
            link = LinkListener(src, dst, upstream, listener, http_client)
            self.links[(src, dst)] = link
            self.share_descriptors()
            fd = link.listener.fileno()
            self.handlers[fd] = (self.on_listener, link)
            self.epoll.register(fd, select.EPOLLIN)
            self.refresh_listener(link)
            return {"port": link.port}
        if op == "upstream":
            port = self.check_upstream(int(command["port"]))
            for link in self.links.values():
                if link.dst == command["dst"]:
                    link.upstream = port
            return {}
        if op == "faults":
            self.set_faults({(s, d): kind for s, d, kind in command["cut"]})
            return {}
        if op == "latency":
            seconds = float(command["ms"]) / 1000.0
            jitter = float(command.get("jitter_ms", 0.0)) / 1000.0
            if not (0 <= seconds <= MAX_SECONDS and 0 <= jitter <= MAX_SECONDS):  # (NaN too)
                raise ValueError(f"latency out of range: {command['ms']!r} ms, jitter "
                                 f"{command.get('jitter_ms')!r} ms")
            for src, dst in command["links"]:
                if seconds <= 0 and jitter <= 0:
                    self.latency.pop((src, dst), None)
                else:
                    self.latency[(src, dst)] = (seconds, jitter)
            return {}
        if op == "down":
            self.down.add(command["node"])
            for link in self.links.values():
                self.refresh_listener(link)
            return {}
        if op == "up":
            self.down.discard(command["node"])
            for link in self.links.values():
                self.refresh_listener(link)
            return {}
        if op == "adopt":
            # Started ahead of its cluster (network.py keeps one spare): take
            # the cluster's seed, and its log as our stderr.
            self.rng.seed(int(command["seed"]))
            if command.get("log"):
                log = os.open(command["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.dup2(log, 2)
                os.close(log)
            return {}
        if op == "watch":
            self.watched.add(int(command["pid"]))
            if self.deputy is not None:
                self.deputy.tell(f"watch {int(command['pid'])}")
            return {}
        if op == "unwatch":
            self.watched.discard(int(command["pid"]))
            if self.deputy is not None:
                self.deputy.tell(f"unwatch {int(command['pid'])}")
            return {}
        if op == "stats":
            return {
                "connections": sum(len(link.conns) for link in self.links.values()),
                "held_bytes": sum(
                    conn.up.pending() + conn.down.pending()
                    for link in self.links.values() for conn in link.conns
                ),
                "bytes_forwarded": self.bytes_forwarded,
                "accepted": self.accepted,
                "shed": self.shed,
                "wakeups": self.wakeups,
            }
        if op == "close":
            self.shutdown()
            return {}
        raise ValueError(f"unknown command {op!r}")

    def share_descriptors(self) -> None:
        """Set the connections one link may hold: its share of our descriptors
        (two per connection), at most MAX_LINK_CONNECTIONS."""
        if self.fd_limit == resource.RLIM_INFINITY:
            self.link_capacity = MAX_LINK_CONNECTIONS
            return
        share = (self.fd_limit - _RESERVED_FDS) // (2 * max(1, len(self.links)))
        self.link_capacity = max(8, min(MAX_LINK_CONNECTIONS, share))

    def check_upstream(self, port: int) -> int:
        """``port`` unless it is one of our own links (0: not known yet)."""
        if any(link.port == port for link in self.links.values()):
            # A link forwarding into the proxy itself would loop forever.
            raise ValueError(f"upstream port {port} is one of the proxy's own links")
        return port

    # -- faults ------------------------------------------------------------------

    def set_faults(self, cut: dict[Direction, str]) -> None:
        self.cut = cut
        for link in self.links.values():
            self.refresh_listener(link)
            rejecting = self.rejecting(link)
            for conn in list(link.conns):
                if rejecting:
                    self.close_conn(conn, reset=(conn.a, conn.b))
                else:
                    self.pump(conn)

    def rejecting(self, link: LinkListener) -> bool:
        return (
            self.cut.get((link.src, link.dst)) == "reject"
            or self.cut.get((link.dst, link.src)) == "reject"
        )

    def refresh_listener(self, link: LinkListener) -> None:
        should_listen = link.dst not in self.down and not self.rejecting(link)
        if should_listen == link.listening:
            return
        fd = link.listener.fileno()
        if should_listen:
            link.listener.listen(BACKLOG)
            if fd not in self.handlers:
                self.handlers[fd] = (self.on_listener, link)
                self.epoll.register(fd, select.EPOLLIN)
        else:
            if self.handlers.pop(fd, None) is not None:  # (it may be resting)
                self.epoll.unregister(fd)
            # The port stays bound but no longer listens: connection attempts
            # are refused by the kernel, like a closed port on a live host.
            link.listener.shutdown(socket.SHUT_RD)
        link.listening = should_listen

    def rest_listener(self, link: LinkListener) -> None:
        fd = link.listener.fileno()
        if self.handlers.pop(fd, None) is not None:
            self.epoll.unregister(fd)

        def wake() -> None:
            if link.listening and fd not in self.handlers and link.listener.fileno() == fd:
                self.handlers[fd] = (self.on_listener, link)
                self.epoll.register(fd, select.EPOLLIN)

        self.at(time.monotonic() + 0.1, wake)

    # -- connections ---------------------------------------------------------------

    def on_listener(self, link: LinkListener, _fd: int, _mask: int) -> None:
        # One connection per event: the listener is level-triggered, so more
        # pending connections wake us again at once, and we spare the failed
        # accept() that would end a loop.
        if not link.listening:
            return
        try:
            a, _ = link.listener.accept()
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors: stop polling this listener for a moment
                # instead of spinning on it.
                self.rest_listener(link)
            return  # otherwise nothing to accept (the client gave up)
        if a.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            # Reset before we took it: a sender that gave up (across a cut,
            # say). Its bytes still wait in the socket; none may arrive.
            a.close()
            return
        # Accepted sockets inherit TCP_NODELAY from the listener, and the
        # upstream socket is non-blocking from birth: fewer syscalls.
        a.setblocking(False)
        try:
            b = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError:
            # Out of descriptors for the upstream half: refuse this connection
            # (a reset, like a full host) and pause the listener a moment.
            with contextlib.suppress(OSError):
                a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            a.close()
            self.rest_listener(link)
            return
        b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(link, a, b)
        if len(link.conns) >= self.link_capacity:
            # A flood on this link: the connection that has been here longest
            # goes (a reset both ways), so a new caller always gets through.
            oldest = next(iter(link.conns))
            self.close_conn(oldest, reset=(oldest.a, oldest.b))
            self.shed += 1
        link.conns[conn] = None
        self.accepted += 1
        self.handlers[conn.afd] = self.handlers[conn.bfd] = (self.on_socket, conn)
        if conn.up.direction in self.cut:
            conn.deferred = True
        elif not self.connect_upstream(conn):
            return
        # The client usually sent its request before we accepted
        # (TCP_DEFER_ACCEPT): forward it first, so that the bookkeeping below
        # overlaps with the node's work instead of delaying the request.
        if not self.read(conn.up):
            return
        if conn.up.buf and not conn.deferred:
            if not self.flush(conn.up):
                return
            # On Linux a send on a socket still connecting says EAGAIN (the
            # bytes stay held) and one whose connect failed raises (abort):
            # so bytes that left prove the connection is established.
            if not conn.up.buf:
                conn.connecting = False
        if conn.connecting and not conn.deferred and _connected(b):
            # Loopback connects complete at once; skipping the wait for
            # writability saves a loop turn.
            conn.connecting = False
        self.pump(conn)

    def connect_upstream(self, conn: Conn) -> bool:
        """Connect to the real node; False when that failed (the client is reset)."""
        code = conn.b.connect_ex(("127.0.0.1", conn.link.upstream))
        if code == 0:
            conn.connecting = False
        elif code != errno.EINPROGRESS:
            self.abort(conn, conn.b)
            return False
        return True

    def on_socket(self, conn: Conn, fd: int, mask: int) -> None:
        if conn.closed:
            return
        if conn.connecting:
            if fd == conn.bfd:
                if conn.b.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    self.abort(conn, conn.b)
                    return
                conn.connecting = False
            elif not self.read(conn.up):
                return
        elif mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
            pipe = conn.up if fd == conn.afd else conn.down
            if (mask == select.EPOLLIN and not pipe.buf and not pipe.delayed
                    and not pipe.eof_read and not conn.deferred and conn.reset_to is None
                    and pipe.direction not in self.cut and pipe.direction not in self.latency):
                self.relay(pipe)
                return
            if not self.read(pipe):
                return
        self.pump(conn)

    def relay(self, pipe: Pipe) -> None:
        """The common case, kept short: nothing held, nothing cut or delayed.

        Bytes go straight from source to sink; the interest masks only change
        when something is left over (a partial send, an EOF).
        """
        conn = pipe.conn
        try:
            data = pipe.source.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort(conn, pipe.source)
            return
        if data:
            try:
                sent = pipe.sink.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.abort(conn, pipe.sink)
                return
            self.bytes_forwarded += sent
            if sent == len(data):
                return
            pipe.buf += memoryview(data)[sent:]
        else:
            pipe.eof_read = True
        self.pump(conn)

    def read(self, pipe: Pipe) -> bool:
        """Read what the source has now; False when the connection was aborted."""
        while pipe.wants_read():
            try:
                data = pipe.source.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                self.abort(pipe.conn, pipe.source)
                return False
            if not data:
                pipe.eof_read = True
                return True
            delay = self.latency.get(pipe.direction)
            if delay is None and not pipe.in_flight:
                pipe.buf += data
            else:
                seconds, jitter = delay if delay is not None else (0.0, 0.0)
                wait = max(0.0, seconds + self.rng.uniform(-jitter, jitter))
                # Never before an earlier chunk: latency must not reorder.
                due = max(time.monotonic() + wait, pipe.last_due)
                pipe.last_due = due
                pipe.in_flight.append((due, data))
                pipe.delayed += len(data)
                self.at(due, functools.partial(self.pump, pipe.conn))
            if len(data) < RECV_SIZE:
                # Drained: another recv would only say EAGAIN, and the bytes
                # are more urgent than noticing an EOF one turn earlier.
                return True
        return True

    def pump(self, conn: Conn) -> None:
        """Deliver what may be delivered, then update interest or clean up."""
        if conn.closed:
            return
        if conn.reset_to is not None:
            sock, direction = conn.reset_to
            if direction not in self.cut:
                self.close_conn(conn, reset=(sock,))
            return
        if conn.deferred and conn.up.direction not in self.cut:
            conn.deferred = False
            if not self.connect_upstream(conn):
                return
        if not conn.connecting:
            if not self.flush(conn.up) or not self.flush(conn.down):
                return
            if conn.up.eof_sent and conn.down.eof_sent:
                self.close_conn(conn)
                return
        self.update_interest(conn)

    def flush(self, pipe: Pipe) -> bool:
        """Write held bytes unless the direction is cut; False if aborted."""
        if pipe.direction in self.cut:
            return True
        if pipe.in_flight:
            now = time.monotonic()
            while pipe.in_flight and pipe.in_flight[0][0] <= now:
                chunk = pipe.in_flight.popleft()[1]
                pipe.delayed -= len(chunk)
                pipe.buf += chunk
        while pipe.buf:
            try:
                sent = pipe.sink.send(pipe.buf)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                self.abort(pipe.conn, pipe.sink)
                return False
            self.bytes_forwarded += sent
            del pipe.buf[:sent]
        if pipe.eof_read and not pipe.in_flight and not pipe.eof_sent:
            with contextlib.suppress(OSError):
                pipe.sink.shutdown(socket.SHUT_WR)
            pipe.eof_sent = True
        return True

    def update_interest(self, conn: Conn) -> None:
        """Register each socket for what its pipes need next, nothing more."""
        up, down, cut = conn.up, conn.down, self.cut
        # a reads what goes up and writes what comes down; b the reverse.
        mask = select.EPOLLIN if up.wants_read() else 0
        if down.buf and down.direction not in cut:
            mask |= select.EPOLLOUT
        self.set_mask(conn, conn.a, mask)
        if conn.deferred:
            mask = 0  # not connected, not connecting: nothing to hear
        elif conn.connecting:
            mask = select.EPOLLOUT  # writable = the connect finished
        else:
            mask = select.EPOLLIN if down.wants_read() else 0
            if up.buf and up.direction not in cut:
                mask |= select.EPOLLOUT
        self.set_mask(conn, conn.b, mask)

    def set_mask(self, conn: Conn, sock: socket.socket, mask: int) -> None:
        fd = sock.fileno()
        old = conn.masks.get(fd, 0)
        if old == mask or fd < 0:
            return
        if old == 0:
            self.epoll.register(fd, mask)
        elif mask == 0:
            self.epoll.unregister(fd)
        else:
            self.epoll.modify(fd, mask)
        conn.masks[fd] = mask

    def abort(self, conn: Conn, dead: socket.socket) -> None:
        """One endpoint reset (or vanished): discard its bytes, reset the other.

        The RST towards the other endpoint travels like a byte: held while
        its direction is cut.
        """
        if conn.deferred:
            # dst never heard of this connection: there is no one to reset.
            self.close_conn(conn)
            return
        if dead is conn.b and conn.connecting and conn.link.http_client:
            # The node's port refused us: the request cannot have reached it.
            # A reset would leave the client unsure; say so in HTTP instead.
            # (Read what the client sent first: closing a socket with unread
            # bytes resets it, and the reset could overtake the answer.)
            with contextlib.suppress(OSError):
                while conn.a.recv(RECV_SIZE):
                    pass
            with contextlib.suppress(OSError):
                conn.a.send(_REFUSED_REPLY)
            self.close_conn(conn)
            return
        other = conn.b if dead is conn.a else conn.a
        direction = conn.up.direction if dead is conn.a else conn.down.direction
        conn.up.clear()
        conn.down.clear()
        self.forget(conn, dead)
        # Nothing more is read from the survivor: it only awaits its RST.
        self.set_mask(conn, other, 0)
        conn.reset_to = (other, direction)
        self.pump(conn)

    def forget(self, conn: Conn, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd < 0:
            return
        if conn.masks.pop(fd, 0):
            self.epoll.unregister(fd)
        self.handlers.pop(fd, None)
        sock.close()

    def close_conn(self, conn: Conn, reset: tuple[socket.socket, ...] = ()) -> None:
        if conn.closed:
            return
        conn.closed = True
        for sock in (conn.a, conn.b):
            if sock.fileno() < 0:
                continue
            if sock in reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            self.forget(conn, sock)
        conn.link.conns.pop(conn, None)

    # -- shutdown ------------------------------------------------------------------

    def kill_watched(self) -> None:
        for pid in sorted(self.watched):
            _kill_group(pid)
        self.watched.clear()

    def shutdown(self) -> None:
        if self.deputy is not None:
            self.deputy.tell("done")  # we are leaving in order: nothing left to stand in for
        self.running = False
        for link in self.links.values():
            for conn in list(link.conns):
                self.close_conn(conn, reset=(conn.a, conn.b))
            link.listener.close()
        self.links.clear()


def _kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (or the process alone); stopped
    processes die of it too."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Deputy:
    """The proxy's stand-in as watchdog, in a process forked from it at start.

    The proxy tells it which process groups it watches. It kills them (if
    they are still the processes it was told of) once both the test process
    is gone (the proxy's stdin, which the deputy shares, closed) and the
    proxy is gone without saying ``done`` (an orderly shutdown says it, and
    handles the nodes itself). It never reads the proxy's commands while the
    proxy lives, and once the proxy is gone it reads and discards them, so a
    test process that still writes commands is never blocked by a full pipe.
    """

    def __init__(self, control_in: int) -> None:
        feed_in, self._feed = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the deputy
            os.close(self._feed)
            code = 1
            try:
                _stand_in(control_in, feed_in)
                code = 0
            finally:
                os._exit(code)  # never the parent's atexit handlers or buffers
        os.close(feed_in)
        os.set_blocking(self._feed, False)  # the proxy's loop must never wait on it

    def tell(self, line: str) -> None:
        """Pass ``watch PID``, ``unwatch PID`` or ``done`` on (lost if it is gone)."""
        with contextlib.suppress(OSError):
            os.write(self._feed, line.encode() + b"\n")


def _stand_in(control_in: int, feed_in: int) -> None:
    """The deputy's loop (see :class:`Deputy`)."""
    # The replies pipe is the proxy's alone: if the proxy dies, the test
    # process must read its end of file, not wait on our copy.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    watched: dict[int, str | None] = {}
    proxy_alive = owner_alive = True
    pending = b""
    poller = select.poll()
    poller.register(feed_in, select.POLLIN)
    poller.register(control_in, 0)  # 0: woken only when the writer (the test process) is gone
    while True:
        for fd, _ in poller.poll():
            if fd == feed_in:
                chunk = os.read(feed_in, RECV_SIZE)
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        word, _, number = line.decode().partition(" ")
                        if word == "done":
                            return
                        if word == "watch":
                            watched[int(number)] = _start_time(int(number))
                        elif word == "unwatch":
                            watched.pop(int(number), None)
                    continue
                proxy_alive = False  # it died without a word
                poller.unregister(feed_in)
                if owner_alive:
                    poller.modify(control_in, select.POLLIN)
                    continue
            elif proxy_alive:
                owner_alive = False  # the proxy will see it too, and act
                poller.unregister(control_in)
                continue
            elif os.read(control_in, RECV_SIZE):
                continue  # a command for the dead proxy: dropped
            for pid, started in watched.items():
                if started is not None and _start_time(pid) == started:  # not a reused pid
                    _kill_group(pid)
            return


def _raise_descriptor_limit() -> None:
    """Take every descriptor the hard limit allows: each connection costs two."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of the proxy process."""
    parser = argparse.ArgumentParser(prog="python -m pytest_partition.proxy")
    parser.add_argument("--seed", type=int, default=0, help="seed for latency jitter")
    args = parser.parse_args(argv)
    # Terminal signals belong to the test process; it decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_descriptor_limit()
    deputy = Deputy(sys.stdin.fileno())  # before anything is buffered or opened
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # it is reaped by the kernel when it ends
    proxy = Proxy(random.Random(args.seed), sys.stdin.fileno(), sys.stdout, deputy)
    sys.stdout.write(json.dumps({"id": None, "ok": True, "ready": True}) + "\n")
    sys.stdout.flush()
    proxy.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
