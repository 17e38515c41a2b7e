"""The network controller: the test process's handle on the proxy process.

:class:`Network` starts ``python -m pytest_partition.proxy``, creates one link
per directed node pair plus one client link per node, and applies cuts and
latency. Every method returns only after the proxy process has acknowledged
the change, so a cut is in force when :meth:`Network.cut` returns.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from .durations import MAX_SECONDS, check_seconds
from .environment import child_env
from .errors import ClusterError
from .topology import Link

#: The source name of client links (the test process); never a valid node name.
CLIENT = "@client"
FAULT_KINDS = ("drop", "reject")
CONTROL_TIMEOUT = 10.0

__all__ = ["CLIENT", "FAULT_KINDS", "Network"]


class Network:
    """Links between nodes (and from the test process to each node).

    ``log_path`` receives the proxy process's stderr. Use as a context
    manager or call :meth:`close`.
    """

    def __init__(self, *, seed: int = 0, log_path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._next_id = 0
        self._ports: dict[Link, int] = {}
        self._cut: dict[Link, str] = {}
        self._latency: dict[Link, tuple[float, float]] = {}
        self._log_path = Path(log_path) if log_path else None
        self._log: IO[bytes] | int = subprocess.DEVNULL
        self._buffer = b""
        self._closed = False
        spare = _take_spare()
        if spare is not None and self._adopt(spare, seed):
            _start_spare()
            return
        first = _count_own_start() == 1
        if self._log_path is not None:
            self._log = open(self._log_path, "ab")  # noqa: SIM115 - closed in close()
        try:
            self._proc = _start_proxy(seed, self._log)
        except BaseException:
            self._close_log()
            raise
        try:
            self._read_reply(expect_id=None)
        except BaseException:
            self.close()
            raise
        if not first:  # a process that makes one cluster needs no spare
            _start_spare()

    def _adopt(self, spare: subprocess.Popen[bytes], seed: int) -> bool:
        """Make a proxy started ahead of time ours; False if it is not usable."""
        self._proc = spare
        try:
            self._read_reply(expect_id=None)
            self._command("adopt", seed=seed,
                          log=None if self._log_path is None else str(self._log_path))
        except ClusterError:
            _discard(spare)  # (it died, or is stuck: a fresh one is started instead)
            self._buffer = b""
            return False
        return True

    # -- links -------------------------------------------------------------------

    def add_link(self, src: str, dst: str, upstream_port: int) -> int:
        """Create the link carrying ``src``'s traffic to ``dst``; return its port."""
        reply = self._command("listen", src=src, dst=dst, upstream=upstream_port,
                              client_speaks_first=src == CLIENT)
        port = int(reply["port"])
        self._ports[(src, dst)] = port
        return port

    def port(self, src: str, dst: str) -> int:
        """The port on which ``src`` reaches ``dst``."""
        return self._ports[(src, dst)]

    def set_upstream(self, dst: str, port: int) -> None:
        """Point every link into ``dst`` at a new real port (after a restart)."""
        self._command("upstream", dst=dst, port=port)

    # -- faults ------------------------------------------------------------------

    @property
    def cut_links(self) -> dict[Link, str]:
        """The directed links cut now, with their fault kind."""
        return dict(self._cut)

    def cut(self, links: Iterable[Link], kind: str = "drop") -> None:
        """Replace the current cuts by ``links`` (directed), in force on return."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        wanted = {(str(s), str(d)): kind for s, d in links}
        self._command("faults", cut=[[s, d, k] for (s, d), k in sorted(wanted.items())])
        self._cut = wanted

    def heal(self) -> None:
        """Remove every cut; held bytes flow again."""
        self._command("faults", cut=[])
        self._cut = {}

    def set_latency(self, links: Iterable[Link], ms: float, jitter_ms: float = 0.0) -> None:
        """Delay each chunk on ``links`` by ``ms`` +/- ``jitter_ms`` (never reordered)."""
        for name, value in (("ms", ms), ("jitter_ms", jitter_ms)):
            check_seconds(value, f"latency {name}=", zero_ok=True, limit=MAX_SECONDS * 1000,
                          unit="milliseconds")
        chosen = [[s, d] for s, d in links]
        self._command("latency", links=chosen, ms=ms, jitter_ms=jitter_ms)
        for s, d in chosen:
            if ms == 0 and jitter_ms == 0:
                self._latency.pop((s, d), None)
            else:
                self._latency[(s, d)] = (ms, jitter_ms)

    @property
    def latency(self) -> Mapping[Link, tuple[float, float]]:
        """Links with a latency condition: (ms, jitter_ms)."""
        return dict(self._latency)

    def node_down(self, node: str) -> None:
        """Refuse new connections into ``node`` (it is not running)."""
        self._command("down", node=node)

    def node_up(self, node: str) -> None:
        """Accept connections into ``node`` again."""
        self._command("up", node=node)

    def watch(self, pid: int) -> None:
        """Kill this process group if the test process disappears."""
        self._command("watch", pid=pid)

    def unwatch(self, pid: int) -> None:
        """Stop watching a process group that has exited."""
        self._command("unwatch", pid=pid)

    def stats(self) -> dict[str, Any]:
        """Open connections, bytes held by cuts, bytes forwarded."""
        return self._command("stats")

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Stop the proxy process: every link and connection closes."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._proc.poll() is None:
                try:
                    self._send({"id": -1, "op": "close"})
                except OSError:
                    pass
                if self._proc.stdin:
                    self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
        finally:
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
            self._close_log()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the control channel -------------------------------------------------------

    def _command(self, op: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                raise ClusterError(f"network is closed; cannot {op}")
            self._next_id += 1
            ident = self._next_id
            try:
                self._send({"id": ident, "op": op, **fields})
            except OSError as error:
                raise ClusterError(self._died(f"cannot send {op!r}: {error}")) from error
            reply = self._read_reply(expect_id=ident)
        if not reply.get("ok"):
            raise ClusterError(f"proxy refused {op!r}: {reply.get('error')}")
        return reply

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message).encode() + b"\n")
        self._proc.stdin.flush()

    def _read_reply(self, *, expect_id: int | None) -> dict[str, Any]:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + CONTROL_TIMEOUT
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                reply: dict[str, Any] = json.loads(line)
                if reply.get("id") == expect_id:
                    return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClusterError(self._died("the proxy process did not answer within "
                                              f"{CONTROL_TIMEOUT:.0f} s"))
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ClusterError(self._died("the proxy process exited"))
                self._buffer += chunk

    def _died(self, what: str) -> str:
        code = self._proc.poll()
        detail = f"network: {what}"
        if code is not None:
            detail += f" (exit code {code})"
        if self._log_path is not None and self._log_path.exists():
            tail = self._log_path.read_text(errors="replace").splitlines()[-20:]
            if tail:
                detail += "\n" + "\n".join(tail)
        return detail

    def _close_log(self) -> None:
        if not isinstance(self._log, int):
            self._log.close()


def _start_proxy(seed: int, log: IO[bytes] | int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_partition.proxy", "--seed", str(seed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
        env=child_env(),
    )


# A proxy process started ahead of the next Network (one per test process):
# a cluster then does not wait for an interpreter to start. Idle, it costs
# nothing; it exits at the end of its stdin like any proxy, so it dies with
# us, and it is stopped at exit.
_spare: subprocess.Popen[bytes] | None = None
_spare_owner = 0
_started = 0  # proxies this process had to start itself
_spare_lock = threading.Lock()


def _count_own_start() -> int:
    """Count a proxy this process had to start itself; return how many so far."""
    global _started
    with _spare_lock:
        _started += 1
        return _started


def _take_spare() -> subprocess.Popen[bytes] | None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and _spare_owner != os.getpid():
        return None  # inherited through fork: our parent's
    return spare


def _start_spare() -> None:
    global _spare, _spare_owner
    with _spare_lock:
        if _spare is not None and _spare_owner == os.getpid():
            return
        try:
            _spare = _start_proxy(0, subprocess.DEVNULL)
        except OSError:
            _spare = None  # the next Network starts its own, and says why if it cannot
            return
        if _spare_owner != os.getpid():
            atexit.register(_stop_spare)
        _spare_owner = os.getpid()


def _stop_spare() -> None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and _spare_owner == os.getpid():
        _discard(spare)


def _discard(proxy: subprocess.Popen[bytes]) -> None:
    """Stop a proxy that no Network uses: end of input, then SIGKILL if need be."""
    for stream in (proxy.stdin, proxy.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):  # (a dead one cannot take buffered bytes)
                stream.close()
    try:
        proxy.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proxy.kill()
        proxy.wait(timeout=5)
