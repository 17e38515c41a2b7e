"""A small primary-backup inventory service: the kind of system you would test.

This is not part of pytest-partition: it stands for your own service. It
follows the node contract (see docs/node-contract.md):

- serve XML-RPC on 127.0.0.1:$PARTITION_PORT, with a ping() method;
- reach peers only at the addresses in $PARTITION_PEERS (proxy links);
- exit when standard input closes;
- say "definitely not applied" with fault 503 and "cannot tell" with 504.

The design: the first node by name is the primary. Every write goes to it
(backups forward), it applies the write and answers; a background thread
pushes its whole table to the backups a few times a second. Every node
answers reads from its own copy, so a backup that cannot hear the primary
answers with stale data.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import socketserver
import sys
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCServer

UNAVAILABLE, INDETERMINATE = 503, 504  # the node contract's fault codes


class Inventory:
    def __init__(self, name: str, peers: dict[str, str]) -> None:
        self.name = name
        self.peers = peers
        self.primary = min([name, *peers])
        self.stock: dict[str, int] = {}
        self.version = 0
        self.lock = threading.Lock()

    # -- the service's methods ----------------------------------------------------

    def ping(self) -> str:
        return "pong"

    def get(self, item: str) -> int | None:
        return self.stock.get(item)

    def state(self) -> dict[str, int]:
        return dict(self.stock)

    def set(self, item: str, count: int) -> bool:
        if self.name != self.primary:
            return self._forward("set", item, count)
        with self.lock:
            self.stock[item] = count
            self.version += 1
        return True

    def replicate(self, version: int, stock: dict[str, int]) -> bool:
        with self.lock:
            if version > self.version:
                self.version, self.stock = version, dict(stock)
        return True

    # -- talking to peers, through the links the plugin controls --------------------

    def _peer(self, name: str, timeout: float) -> xmlrpc.client.ServerProxy:
        class Transport(xmlrpc.client.Transport):
            def make_connection(self, host):  # type: ignore[no-untyped-def]
                connection = super().make_connection(host)
                connection.timeout = timeout
                return connection

        return xmlrpc.client.ServerProxy(f"http://{self.peers[name]}", allow_none=True,
                                         transport=Transport())

    def _forward(self, method: str, *args: object) -> bool:
        try:
            return bool(getattr(self._peer(self.primary, 0.5), method)(*args))
        except ConnectionRefusedError:
            # The primary never got the request: it definitely did not happen.
            raise xmlrpc.client.Fault(UNAVAILABLE, "the primary refused the connection")
        except (OSError, http.client.HTTPException):
            # The request may have reached the primary: nobody can tell.
            raise xmlrpc.client.Fault(INDETERMINATE, "no answer from the primary")

    def push_forever(self) -> None:
        while True:
            time.sleep(0.2)  # a fixed beat: this is the service's design, not a test wait
            with self.lock:
                version, stock = self.version, dict(self.stock)
            for peer in self.peers:
                try:
                    self._peer(peer, 0.5).replicate(version, stock)
                except (OSError, http.client.HTTPException, xmlrpc.client.Fault):
                    pass  # the next beat tries again


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


def main() -> None:
    name = os.environ["PARTITION_NODE"]
    peers = json.loads(os.environ["PARTITION_PEERS"])
    inventory = Inventory(name, peers)
    server = Server(("127.0.0.1", int(os.environ["PARTITION_PORT"])), allow_none=True,
                    logRequests=False)
    server.register_instance(inventory)
    if name == inventory.primary:
        threading.Thread(target=inventory.push_forever, daemon=True).start()

    def exit_when_stdin_closes() -> None:
        while sys.stdin.buffer.read(1024):
            pass
        os._exit(0)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"{name} serving ({'primary' if name == inventory.primary else 'backup'})",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
