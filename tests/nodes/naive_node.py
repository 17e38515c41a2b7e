"""Replicated services the plugin has never seen, written as a user would.

``--mode naive`` (the default): every node answers from its own dict; a write
is applied locally, then sent once to each peer, fire-and-forget, with a short
timeout, and nothing ever repairs what was lost. Such a service is available
but not AP: after a long enough cut its replicas stay apart. Default runs
must catch that.

``--mode primary``: every call is forwarded to the primary (the first node by
name), which alone holds the data, so the service is linearizable; a node
that cannot reach the primary refuses (fault 503) or, when the call may have
arrived, says it cannot tell (fault 504).

``--methods get=fetch,put=store,...`` serves the operations under the
service's own names; ``--state`` serves ``state()`` (the default serves none).
Follows the node contract: $PARTITION_PORT, $PARTITION_PEERS, exit at stdin EOF.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socketserver
import sys
import threading
import xmlrpc.client
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

UNAVAILABLE, INDETERMINATE = 503, 504


class Handler(SimpleXMLRPCRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


def call_peer(address: str, method: str, *args: Any, timeout: float) -> Any:
    """One XML-RPC call to a peer through its proxy link."""
    host, port = address.rsplit(":", 1)
    body = xmlrpc.client.dumps(args, method).encode()
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
        reply = connection.getresponse().read()
    finally:
        connection.close()
    (result,), _ = xmlrpc.client.loads(reply, use_builtin_types=True)
    return result


class Naive:
    """Local answers, one fire-and-forget push per write, no repair."""

    def __init__(self, peers: dict[str, str]) -> None:
        self.peers = peers
        self.data: dict[str, Any] = {}
        self.lock = threading.Lock()

    def _push(self, key: str, value: Any) -> None:
        for address in self.peers.values():
            threading.Thread(target=self._send, args=(address, key, value), daemon=True).start()

    @staticmethod
    def _send(address: str, key: str, value: Any) -> None:
        try:
            call_peer(address, "replicate", key, value, timeout=0.5)
        except Exception:  # noqa: BLE001 - fire-and-forget: a lost push stays lost
            pass

    def replicate(self, key: str, value: Any) -> bool:
        with self.lock:
            self.data[key] = value
        return True

    def get(self, key: str) -> Any:
        with self.lock:
            return self.data.get(key)

    def put(self, key: str, value: Any) -> bool:
        with self.lock:
            self.data[key] = value
        self._push(key, value)
        return True

    def cas(self, key: str, old: Any, new: Any) -> bool:
        with self.lock:
            if self.data.get(key) != old:
                return False
            self.data[key] = new
        self._push(key, new)
        return True

    def incr(self, key: str, by: int) -> int:
        with self.lock:
            value = int(self.data.get(key) or 0) + by
            self.data[key] = value
        self._push(key, value)
        return value

    def state(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.data)


class Primary(Naive):
    """Every call forwarded to the primary, which alone holds the data."""

    def __init__(self, name: str, peers: dict[str, str]) -> None:
        super().__init__(peers)
        self.primary = min([name, *peers])
        self.name = name

    def _forward(self, method: str, *args: Any) -> Any:
        if self.primary == self.name:
            return getattr(Naive, method)(self, *args)
        try:
            return call_peer(self.peers[self.primary], "local_" + method, *args, timeout=0.8)
        except ConnectionError as error:
            raise xmlrpc.client.Fault(UNAVAILABLE, f"primary unreachable: {error}") from None
        except OSError as error:  # timed out: the call may have been applied
            raise xmlrpc.client.Fault(INDETERMINATE, f"primary did not answer: {error}") from None

    def _push(self, key: str, value: Any) -> None:
        pass  # one copy: nothing to replicate

    def get(self, key: str) -> Any:
        return self._forward("get", key)

    def put(self, key: str, value: Any) -> bool:
        return bool(self._forward("put", key, value))

    def cas(self, key: str, old: Any, new: Any) -> bool:
        return bool(self._forward("cas", key, old, new))

    def incr(self, key: str, by: int) -> int:
        return int(self._forward("incr", key, by))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("naive", "primary"), default="naive")
    parser.add_argument("--methods", default="", help="get=fetch,put=store,...")
    parser.add_argument("--state", action="store_true", help="serve state()")
    args = parser.parse_args()
    name = os.environ["PARTITION_NODE"]
    port = int(os.environ["PARTITION_PORT"])
    peers = json.loads(os.environ["PARTITION_PEERS"])
    service = Primary(name, peers) if args.mode == "primary" else Naive(peers)
    names = dict(pair.split("=", 1) for pair in args.methods.split(",") if pair)
    server = Server(("127.0.0.1", port), requestHandler=Handler, allow_none=True,
                    logRequests=False)
    server.register_function(lambda: "pong", "ping")
    for operation in ("get", "put", "cas", "incr"):
        server.register_function(getattr(service, operation), names.get(operation, operation))
        server.register_function(getattr(Naive, operation).__get__(service),
                                 "local_" + operation)
    server.register_function(service.replicate, "replicate")
    if args.state:
        server.register_function(service.state, "state")

    def exit_at_eof() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        server.shutdown()

    threading.Thread(target=exit_at_eof, daemon=True).start()
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
