"""A small node program for the plugin's own tests; follows the node contract.

It keeps a local dict (no replication) and offers methods that let a test
observe the network from the nodes' side: a node sends messages to a peer
through its peer link and the peer records what arrived, in order.

Options (for failure tests): ``--exit-early CODE`` exits at once with CODE,
``--no-ping`` serves no ping() method, ``--port-arg PORT`` takes the port from
argv instead of the environment (tests the ``{port}`` placeholder),
``--ignore-stdin`` breaks the contract by not exiting at stdin EOF,
``--slow-start SECONDS`` waits before serving, ``--no-state`` serves no
state() method.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import socketserver
import sys
import threading
import time
import xmlrpc.client
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class Handler(SimpleXMLRPCRequestHandler):
    # HTTP/1.1 so peers can keep a connection open across calls.
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


class Toy:
    def __init__(self, name: str, peers: dict[str, str], data_dir: str) -> None:
        self.name = name
        self.peers = peers
        self.data_dir = data_dir
        self.data: dict[str, Any] = {}
        self.inbox: list[list[str]] = []
        self.lock = threading.Lock()
        self.keepalive: dict[str, http.client.HTTPConnection] = {}

    # -- the usual methods --------------------------------------------------------

    def ping(self) -> str:
        return "pong"

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> bool:
        self.data[key] = value
        return True

    def state(self) -> dict[str, Any]:
        return dict(self.data)

    def role(self) -> dict[str, Any]:
        return {"role": os.environ.get("TOY_ROLE_" + self.name, "follower"), "term": 1}

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("PARTITION_")}

    def argv(self) -> list[str]:
        return sys.argv[1:]

    def sleep(self, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    def fault(self, code: int, text: str) -> None:
        raise xmlrpc.client.Fault(code, text)

    def write_data(self, text: str) -> bool:
        with open(os.path.join(self.data_dir, "data.txt"), "a") as handle:
            handle.write(text + "\n")
        return True

    def read_data(self) -> str:
        try:
            with open(os.path.join(self.data_dir, "data.txt")) as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    # -- observing the network from the nodes' side ---------------------------------

    def receive(self, sender: str, text: str) -> bool:
        with self.lock:
            self.inbox.append([sender, text])
        return True

    def received(self) -> list[list[str]]:
        with self.lock:
            return list(self.inbox)

    def send(self, peer: str, text: str, timeout: float = 1.0) -> str:
        """Call peer.receive(me, text) on a new connection; say how it went."""
        host, port = self.peers[peer].split(":")
        proxy = xmlrpc.client.ServerProxy(
            f"http://{host}:{port}", allow_none=True, transport=_Timeout(timeout)
        )
        return _outcome(lambda: proxy.receive(self.name, text))

    def send_keepalive(self, peer: str, text: str, timeout: float = 1.0) -> str:
        """Like send, but on one connection kept open across calls."""
        conn = self.keepalive.get(peer)
        if conn is None:
            host, port = self.peers[peer].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
            self.keepalive[peer] = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        body = xmlrpc.client.dumps((self.name, text), "receive", allow_none=True)

        def call() -> Any:
            conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
            return xmlrpc.client.loads(conn.getresponse().read())[0][0]

        result = _outcome(call)
        if result != "ok":
            conn.close()
            del self.keepalive[peer]
        return result

    def keepalive_port(self, peer: str) -> int:
        """The local port of the kept-alive connection to peer (0 if none)."""
        conn = self.keepalive.get(peer)
        if conn is None or conn.sock is None:
            return 0
        return int(conn.sock.getsockname()[1])

    def connect(self, peer: str, timeout: float = 1.0) -> str:
        """Only open a TCP connection to the peer link."""
        host, port = self.peers[peer].split(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as error:
            return type(error).__name__
        return "ok"


class _Timeout(xmlrpc.client.Transport):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


def _outcome(call: Any) -> str:
    try:
        call()
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except (http.client.RemoteDisconnected, BrokenPipeError):
        return "closed"
    except Exception as error:
        return f"error: {type(error).__name__}: {error}"
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exit-early", type=int, default=None)
    parser.add_argument("--no-ping", action="store_true")
    parser.add_argument("--no-state", action="store_true")
    parser.add_argument("--port-arg", type=int, default=None)
    parser.add_argument("--ignore-stdin", action="store_true")
    parser.add_argument("--slow-start", type=float, default=0.0)
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    if args.exit_early is not None:
        print(f"toynode: exiting early with {args.exit_early} as asked", flush=True)
        sys.exit(args.exit_early)
    name = os.environ["PARTITION_NODE"]
    port = args.port_arg if args.port_arg is not None else int(os.environ["PARTITION_PORT"])
    peers = json.loads(os.environ["PARTITION_PEERS"])
    if args.slow_start:
        time.sleep(args.slow_start)
    toy = Toy(name, peers, os.environ["PARTITION_DATA_DIR"])
    server = Server(("127.0.0.1", port), requestHandler=Handler, allow_none=True,
                    logRequests=False)
    server.register_instance(toy)
    if args.no_ping:
        toy.ping = None  # type: ignore[assignment,method-assign]
    if args.no_state:
        toy.state = None  # type: ignore[assignment,method-assign]
    print(f"toynode {name} serving on {port}, peers {peers}", flush=True)
    if not args.ignore_stdin:
        def watch_stdin() -> None:
            while sys.stdin.buffer.read(1024):
                pass
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
