"""Where the client link's round-trip overhead comes from, measured in one run.

Run: python bench/bench_rtt_floor.py [--calls N]

Compares, on the same minimal node and interleaved call by call:

- ``direct``: the recording client's call straight to the node's port;
- ``bare relay``: through the smallest forwarder a Python process can be (an
  epoll loop that accepts, connects, and copies bytes; no cuts, no
  bookkeeping), started by this script;
- ``client link``: through the plugin's proxy, as every test does.

It also times a one-byte ping-pong between two processes over pipes: the
cost of two cross-process wake-ups on this machine, which any forwarder in
its own process adds to every round trip. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pytest_partition import Cluster
from pytest_partition.client import rpc_call
from pytest_partition.network import CLIENT

NODE = [sys.executable, str(Path(__file__).with_name("minimal_node.py"))]

# A forwarder with nothing but the forwarding: the floor for any Python relay.
BARE_RELAY = textwrap.dedent("""
    import select, socket, sys
    upstream = int(sys.argv[1])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
    print(listener.getsockname()[1], flush=True)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    other, socks = {}, {}
    while True:
        for fd, _ in poller.poll():
            if fd == listener.fileno():
                a, _ = listener.accept()
                a.setblocking(False)
                b = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                b.connect_ex(("127.0.0.1", upstream))
                b.send(a.recv(65536))
                for s, o in ((a, b), (b, a)):
                    socks[s.fileno()], other[s.fileno()] = s, o
                    poller.register(s.fileno(), select.EPOLLIN)
                continue
            data = socks[fd].recv(65536)
            if data:
                other[fd].send(data)
                continue
            try:
                other[fd].shutdown(socket.SHUT_WR)
            except OSError:
                pass
            poller.unregister(fd)
            gone = socks.pop(fd)
            if other[fd].fileno() not in socks:
                gone.close()
                other[fd].close()
""")


def wake_cost(rounds: int = 5000) -> float:
    """Median one-byte ping-pong between two processes over pipes (seconds)."""
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c",
         ("import os,sys\nr,w=int(sys.argv[1]),int(sys.argv[2])\n"
          "while (b := os.read(r, 1)):\n    os.write(w, b)\n"),
         str(child_reads), str(child_writes)],
        pass_fds=(child_reads, child_writes))
    os.close(child_reads)
    os.close(child_writes)
    times = []
    try:
        for _ in range(rounds):
            began = time.perf_counter()
            os.write(parent_writes, b"x")
            os.read(parent_reads, 1)
            times.append(time.perf_counter() - began)
    finally:
        os.close(parent_writes)
        os.close(parent_reads)
        child.wait(10)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per path")
    args = parser.parse_args()
    print(f"two cross-process wake-ups (pipe ping-pong): median {wake_cost() * 1e6:.1f} us")
    with Cluster(1, command=NODE) as cluster:
        node = cluster.nodes["n1"]
        relay = subprocess.Popen([sys.executable, "-c", BARE_RELAY, str(node.port)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert relay.stdout is not None
            paths = {
                "direct": node.port,
                "bare relay": int(relay.stdout.readline()),
                "client link": cluster.network.port(CLIENT, "n1"),
            }
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(100):  # warm up every path
                for port in paths.values():
                    rpc_call(port, "echo", ("x",), 1.0)
            names = list(paths)
            for i in range(args.calls):
                # Rotate the order so that machine load hits every path alike.
                for name in names[i % 3:] + names[:i % 3]:
                    began = time.perf_counter()
                    outcome = rpc_call(paths[name], "echo", ("x",), 1.0)
                    times[name].append(time.perf_counter() - began)
                    assert outcome.type == "ok", outcome.error
        finally:
            relay.kill()
            relay.wait(10)
            assert relay.stdin is not None and relay.stdout is not None
            relay.stdin.close()
            relay.stdout.close()
    direct = statistics.median(times["direct"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:>12}: median {median * 1e3:.3f} ms, ratio to direct {median / direct:.2f}")
    relay = statistics.median(times["bare relay"])
    print(f"client link / bare relay: {statistics.median(times['client link']) / relay:.3f} "
          "(goal <= 1.05)")


if __name__ == "__main__":
    main()
