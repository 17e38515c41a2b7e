"""The recording client's edges: one deadline per call, 64-bit integers, no NaN."""

from __future__ import annotations

import socket
import threading
import time
import xmlrpc.client
from collections.abc import Iterator

import pytest

from pytest_partition import Cluster, History, Indeterminate
from pytest_partition.client import Client, rpc_call
from pytest_partition.wire import NotAValue, dumps


@pytest.fixture
def trickle() -> Iterator[int]:
    """A server that answers every request one slow piece at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                reply = dumps(("slow",), methodresponse=True).encode()
                data = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(reply)}\r\n\r\n").encode()
                for start in range(0, len(data + reply), 12):
                    if stop.wait(0.3):  # the server's own pace, not a test wait
                        return
                    try:
                        conn.sendall((data + reply)[start:start + 12])
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_the_timeout_bounds_the_whole_call_not_each_read(trickle: int) -> None:
    began = time.monotonic()
    outcome = rpc_call(trickle, "get", ("k",), 1.0, node="slow")
    elapsed = time.monotonic() - began
    assert outcome.type == "info" and outcome.error == "no reply within 1 s"
    assert isinstance(outcome.exception, Indeterminate)
    assert elapsed < 1.5, f"the call took {elapsed:.2f} s with a 1 s timeout"


def test_integers_beyond_32_bits_round_trip_and_beyond_64_are_refused() -> None:
    with Cluster(3, mode="ap") as cluster:
        a = cluster.client("n1")
        assert a.put("big", 2**40) is True
        assert a.get("big") == 2**40
        assert a.incr("count", 2**31 - 1) == 2**31 - 1
        assert a.incr("count", 2**31 - 1) == 2**32 - 2      # past 32 bits: still answered
        assert cluster.wait_converged() == {"big": 2**40, "count": 2**32 - 2}
        with pytest.raises(xmlrpc.client.Fault, match="64-bit range"):
            a.incr("count", 2**63 - 1)
        with pytest.raises(TypeError, match="cannot be sent over XML-RPC"):
            a.put("huge", 2**64)
        assert a.get("count") == 2**32 - 2


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("k", float("nan")), "argument 2 is NaN"),
        ((float("nan"),), "argument 1 is NaN"),
        (("k", [1.5, {"price": float("nan")}]), "argument 2[1]['price'] is NaN"),
        (("k", 1, (2, float("-nan"))), "argument 3[1] is NaN"),
    ],
)
def test_nan_is_refused_before_anything_is_recorded(args: tuple[object, ...],
                                                    where: str) -> None:
    # NaN equals nothing, not even itself: recorded, it would make a checker
    # call a correct store wrong. Nothing listens on the port: the refusal
    # comes before any connection, and the history stays empty.
    history = History()
    client = Client("n1", _closed_port(), history)
    with pytest.raises(ValueError, match=r"NaN, which is not a value") as raised:
        client.call("put", *args)
    assert where in str(raised.value)
    assert str(raised.value).startswith("put(")
    assert len(history) == 0
    with pytest.raises(NotAValue, match=r"NaN, which is not a value"):
        rpc_call(_closed_port(), "put", args, 1.0)


def test_infinity_and_plain_floats_still_go_out() -> None:
    # Only NaN is refused: an infinity equals itself.
    body = dumps(("k", float("inf"), [0.5, -float("inf")]), "put")
    assert "<double>inf</double>" in body and "<double>0.5</double>" in body


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
