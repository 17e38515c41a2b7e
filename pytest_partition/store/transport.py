"""Peer transport of the reference store: batches of JSON messages over HTTP.

Every batch carries the cluster's token (:data:`TOKEN_HEADER`, from
``PARTITION_CLUSTER_TOKEN``); the receiving node refuses a batch without it.

One :class:`PeerSender` per peer owns a thread and one kept-alive HTTP
connection to the peer's link address; the protocol code only enqueues. A
batch that cannot be delivered within ``timeout`` is dropped and its
connection aborted with a reset, so that a partition's held bytes are not
delivered long after the sender gave up, and the messages queued meanwhile
are dropped with it (the protocols resend what matters: Raft by its
heartbeats and log repair, the AP store by its push retries and anti-entropy).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..wire import LINGER_RESET

PEER_PATH = "/peer"
#: The header that carries the cluster token on every peer request.
TOKEN_HEADER = "X-Partition-Cluster-Token"
#: The largest peer request body a node reads. The protocols bound their
#: messages far below it (Raft's appends and the AP store's record messages
#: to about 1 MiB, beyond one entry or record; one of those holds at most
#: one client request, itself under 1 MiB, a few times over once escaped).
MAX_PEER_BODY = 8 << 20
#: A batch is filled up to this many bytes of messages (or holds one larger one).
MAX_BATCH_BYTES = 1 << 20
#: A node closes a connection that has not brought a whole request within
#: this many seconds of being ready for one; a sender whose connection sat
#: idle for half of it opens a fresh one rather than lose a batch to the close.
REQUEST_TIMEOUT = 10.0


class PeerSender:
    """Deliver messages to one peer, in order, best effort, never blocking the caller."""

    def __init__(self, node: str, peer: str, address: str, *, token: str,
                 timeout: float = 0.5,
                 max_queue: int = 4096, batch: int = 256,
                 log: Callable[[str], None] = lambda line: None) -> None:
        host, _, port = address.rpartition(":")
        self.node = node
        self.peer = peer
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", TOKEN_HEADER: token}
        self.batch = batch
        self.log = log
        self.sent = 0
        self.dropped = 0
        self._queue: deque[dict[str, Any]] = deque(maxlen=max_queue)
        self._ready = threading.Condition()
        self._closed = False
        self._conn: http.client.HTTPConnection | None = None
        self._carried: str | None = None  # encoded, taken from the queue, not yet sent
        self._used = 0.0  # when the connection last delivered a batch
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"send-{peer}", daemon=True)
        self._thread.start()

    def send(self, messages: Sequence[dict[str, Any]]) -> None:
        """Queue messages; when the queue is full the oldest are dropped."""
        if not messages:
            return
        with self._ready:
            overflow = len(self._queue) + len(messages) - (self._queue.maxlen or 0)
            if overflow > 0:
                self.dropped += overflow
            self._queue.extend(messages)
            self._ready.notify()

    def close(self) -> None:
        """Stop the thread and close the connection."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=2 * self.timeout + 1)
        self._abort()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and self._carried is None and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
            batch = self._fill_batch()
            if batch:
                self._deliver(batch)

    def _fill_batch(self) -> list[str]:
        """Messages for one request (encoded): up to MAX_BATCH_BYTES, or one larger one.

        Each message is encoded outside the lock: the protocol, which enqueues
        under its own lock, must not wait while a big append is encoded.
        """
        batch: list[str] = []
        size = 0
        while len(batch) < self.batch:
            encoded, self._carried = self._carried, None
            if encoded is None:
                with self._ready:
                    if not self._queue:
                        break
                    message = self._queue.popleft()
                encoded = json.dumps(message)
            if len(encoded) > MAX_PEER_BODY - 1024:
                # The peer would refuse the whole request, again and again.
                self.dropped += 1
                self.log(f"send to {self.peer}: dropped a message of {len(encoded)} bytes, "
                         f"over the peer limit of {MAX_PEER_BODY}")
                continue
            if batch and size + len(encoded) > MAX_BATCH_BYTES:
                self._carried = encoded  # first in the next batch
                break
            batch.append(encoded)
            size += len(encoded) + 1
        return batch

    def _deliver(self, batch: list[str]) -> None:
        # Messages are encoded one by one (above) so that a batch stops at a
        # size the peer accepts; here they are only joined.
        body = (f'{{"from": {json.dumps(self.node)}, "messages": ['
                + ",".join(batch) + "]}").encode()
        if self._conn is not None and time.monotonic() - self._used > REQUEST_TIMEOUT / 2:
            # (A vote between two followers may come after a long silence.)
            self._abort()
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            self._conn.request("POST", PEER_PATH, body, self.headers)
            response = self._conn.getresponse()
            response.read()
            if response.status >= 300:
                raise OSError(f"peer answered HTTP {response.status}")
        except (OSError, http.client.HTTPException) as error:
            self._abort()
            with self._ready:
                # What queued up while this batch waited is as stale as the
                # batch: the protocols resend what still matters, and fresh
                # messages after a heal must not wait behind a backlog.
                stale = len(self._queue) + (self._carried is not None)
                self._queue.clear()
                self._carried = None
            self.dropped += len(batch) + stale
            if not self._failing:
                self.log(f"send to {self.peer} failing: {error}")
                self._failing = True
            return
        self._used = time.monotonic()
        self.sent += len(batch)
        if self._failing:
            self.log(f"send to {self.peer} works again")
            self._failing = False

    def _abort(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        sock = conn.sock
        if sock is not None:
            # A reset, not a FIN: what we gave up on must not arrive later.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        conn.close()
