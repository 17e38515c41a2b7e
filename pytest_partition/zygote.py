"""The test process's handle on the zygote, which forks reference-store nodes.

A reference-store node started as ``python -m pytest_partition.store`` pays
for a Python start-up and the import of the store, every time. Instead,
:func:`shared_zygote` starts ``python -m pytest_partition.store.zygote`` once
per test process (each pytest-xdist worker has its own), and :meth:`Zygote.spawn`
asks it to fork a node: a separate process with its own pid, session,
process group, log and data dir, whose stdin is a pipe held here, exactly
as if :class:`subprocess.Popen` had started it. :class:`ForkedProcess` offers
the part of ``Popen`` that :class:`~pytest_partition.node.Node` uses.

Only the protocol is known here (see :mod:`pytest_partition.store.zygote` for
the other side): the harness never imports the store. If the zygote cannot
start, or dies, nodes are started as subprocesses again (said once, in the
``pytest_partition`` log); nothing waits on a dead zygote.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .environment import child_env

__all__ = ["ForkedProcess", "Zygote", "ZygoteUnavailable", "close_shared_zygote",
           "shared_zygote"]

ZYGOTE_MODULE = "pytest_partition.store.zygote"
#: How long the zygote may take to import the store (once), and to answer a fork.
READY_TIMEOUT = 20.0
REPLY_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
#: Variables the interpreter reads at start-up, which a fork cannot change: a
#: node whose environment sets them otherwise than the zygote's is started
#: as a subprocess instead.
_STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE")

_log = logging.getLogger("pytest_partition")


class ZygoteUnavailable(Exception):
    """The zygote cannot fork this node; start it as a subprocess instead."""


def _startup_variable(name: str) -> bool:
    return name.startswith("PYTHON") or name in _STARTUP_VARIABLES


def _readable(fd: int, timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds (None: for ever) for ``fd`` to be readable."""
    poller = select.poll()  # (select() cannot watch descriptors above 1023)
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))


def _same_start(name: str, theirs: str | None, ours: str | None) -> bool:
    if name == "PYTHONPATH" and theirs and ours:
        return theirs.split(os.pathsep)[0] == ours.split(os.pathsep)[0]
    return theirs == ours


class ForkedProcess:
    """A node forked by the zygote, seen like a :class:`subprocess.Popen`.

    ``pid``, ``args``, ``stdin`` (the write end of the node's stdin pipe),
    ``returncode``, :meth:`poll` and :meth:`wait` behave as Popen's do,
    including ``-N`` for a node killed by signal N. The zygote writes the
    exit code on a pipe of this node's own; until it has been read here the
    node stays a zombie, so its pid is not reused meanwhile.
    """

    def __init__(self, zygote: Zygote, pid: int, args: list[str], stdin: IO[bytes],
                 status: int, buffered: bytes, log_path: Path | None) -> None:
        self.pid = pid
        self.args = args
        self.stdin: IO[bytes] | None = stdin
        self.returncode: int | None = None
        self._zygote = zygote
        self._status = status
        self._buffer = buffered
        self._log_path = log_path
        self._lock = threading.Lock()
        self._parse()

    def poll(self) -> int | None:
        """The exit code if the node has exited, else None (never blocks)."""
        # A thread inside wait() reads for us; poll() does not wait for it.
        if self.returncode is None and self._lock.acquire(blocking=False):
            try:
                self._read(0.0)
            finally:
                self._lock.release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the node to exit; raise :class:`subprocess.TimeoutExpired` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        try:
            while self.returncode is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
                self._read(remaining)
        finally:
            self._lock.release()
        return self.returncode

    def _read(self, timeout: float | None) -> None:
        """Read the status pipe once (waiting up to ``timeout``); under self._lock."""
        if self._status < 0 or not _readable(self._status, timeout):
            return
        chunk = os.read(self._status, 4096)
        if not chunk:
            self._lost()
            return
        self._buffer += chunk
        self._parse()

    def _parse(self) -> None:
        while b"\n" in self._buffer and self.returncode is None:
            line, self._buffer = self._buffer.split(b"\n", 1)
            word, _, value = line.decode().partition(" ")
            if word == "exit":
                self._exited(int(value))

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._close_status()
        self._zygote.reap(self.pid)  # the pid is ours no more

    def _lost(self) -> None:
        # The zygote died: nobody can tell this node's exit code any more, so
        # it cannot be supervised. Kill it and say why, rather than guess.
        self._zygote.lost()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._log_path is not None:
            with contextlib.suppress(OSError), open(self._log_path, "ab") as log:
                log.write(b"--- pytest-partition: the zygote that forked this node died; "
                          b"the node was killed (its exit code was lost)\n")
        self.returncode = -signal.SIGKILL
        self._close_status()

    def _close_status(self) -> None:
        if self._status >= 0:
            os.close(self._status)
            self._status = -1

    def __del__(self) -> None:
        self._close_status()

    def __repr__(self) -> str:
        return f"<ForkedProcess pid={self.pid} returncode={self.returncode}>"


class Zygote:
    """One zygote process and the control socket to it.

    The process starts at once; :meth:`spawn` waits for it to be ready (it
    imports the store first). ``env`` is its environment: nodes whose
    interpreter start-up variables differ are refused (see :meth:`accepts`).
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._lock = threading.Lock()
        self._ready = False
        self._dead: str | None = None
        self._owner = os.getpid()
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The zygote's own complaints (a failed import, say) end up here.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        try:
            with theirs:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", ZYGOTE_MODULE, "--control-fd", str(theirs.fileno())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                    pass_fds=[theirs.fileno()], start_new_session=True, env=self.env)
        except BaseException:
            self._sock.close()
            self._stderr.close()
            raise

    @property
    def pid(self) -> int:
        """The zygote process's pid."""
        return self._proc.pid

    @property
    def usable(self) -> bool:
        """False once the zygote failed (then nodes start as subprocesses)."""
        return self._dead is None

    def accepts(self, env: Mapping[str, str]) -> bool:
        """Can a forked child run with ``env``? (Its start-up variables must match ours.)

        ``PYTHONPATH`` only needs the same first entry, the package's root
        (a cluster puts it first): the zygote has imported the store from
        there already, and a node imports nothing else.
        """
        names = {name for name in (*env, *self.env) if _startup_variable(name)}
        return all(_same_start(name, env.get(name), self.env.get(name)) for name in names)

    def spawn(self, args: Sequence[str], env: Mapping[str, str], *, log: int, cwd: str,
              log_path: Path | None = None) -> ForkedProcess:
        """Fork a node running the store with ``args``, ``env`` and ``cwd``.

        Its stdout and stderr go to the descriptor ``log``. Raises
        :class:`ZygoteUnavailable` when the zygote cannot do it.
        """
        if not self.accepts(env):
            raise ZygoteUnavailable("the node's interpreter start-up variables differ from "
                                    "the zygote's")
        unset = sorted(name for name in self.env if name not in env)
        changed = {k: v for k, v in env.items() if self.env.get(k) != v}
        request = json.dumps({"op": "spawn", "args": list(args), "cwd": cwd,
                              "env": {"set": changed, "unset": unset}}).encode()
        with self._lock:
            self._await_ready()
            stdin_read, stdin_write = os.pipe()
            status_read, status_write = os.pipe()
            try:
                try:
                    socket.send_fds(self._sock, [request], [stdin_read, log, status_write])
                finally:
                    os.close(stdin_read)
                    os.close(status_write)
                pid, buffered = self._read_pid(status_read)
            except BaseException:
                os.close(stdin_write)
                os.close(status_read)
                raise
        return ForkedProcess(self, pid, list(args), open(stdin_write, "wb"),
                             status_read, buffered, log_path)

    def reap(self, pid: int) -> None:
        """Let the zygote reap ``pid``, whose exit code has been read."""
        with self._lock, contextlib.suppress(OSError):
            if self._dead is None:
                self._sock.send(json.dumps({"op": "reap", "pid": pid}).encode())

    def lost(self) -> None:
        """A node's status pipe closed without an exit code: the zygote is gone."""
        with self._lock:
            self._fail("the zygote process died")

    def close(self) -> None:
        """Stop the zygote: it kills the nodes it forked that still run, then exits."""
        with self._lock:
            if self._dead is None:
                self._dead = "closed"
        if os.getpid() != self._owner:
            # A forked copy of the test process: the zygote is its parent's.
            self._sock.close()
            self._stderr.close()
            return
        self._sock.close()
        try:
            self._proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=_STOP_TIMEOUT)
        self._stderr.close()

    # -- the control channel (under self._lock) ------------------------------------

    def _await_ready(self) -> None:
        if self._dead is not None:
            raise ZygoteUnavailable(self._dead)
        if self._ready:
            return
        reply = self._receive(READY_TIMEOUT, "start")
        if reply.get("op") != "ready":
            self._fail(f"the zygote said {reply!r} instead of ready")
            raise ZygoteUnavailable(self._dead)
        self._ready = True

    def _receive(self, timeout: float, what: str) -> dict[str, object]:
        data = self._sock.recv(1 << 16) if _readable(self._sock.fileno(), timeout) else None
        if not data:
            self._fail(f"the zygote did not {what} within {timeout:g} s" if data is None
                       else "the zygote process exited")
            raise ZygoteUnavailable(self._dead)
        reply: dict[str, object] = json.loads(data)
        return reply

    def _read_pid(self, status: int) -> tuple[int, bytes]:
        buffered = b""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while b"\n" not in buffered:
            readable = _readable(status, deadline - time.monotonic())
            chunk = os.read(status, 4096) if readable else None
            if not chunk:
                self._fail("the zygote did not answer a fork within "
                           f"{REPLY_TIMEOUT:g} s" if chunk is None else "the zygote process died")
                raise ZygoteUnavailable(self._dead)
            buffered += chunk
        line, rest = buffered.split(b"\n", 1)
        word, _, value = line.decode().partition(" ")
        if word != "pid":
            # A failed fork: this node cannot be forked, the zygote lives on.
            _log.warning("pytest-partition: the zygote could not fork a node (%s); it starts "
                         "as a subprocess", value)
            raise ZygoteUnavailable(value or line.decode())
        return int(value), rest

    def _fail(self, why: str) -> None:
        if self._dead is not None:
            return
        self._dead = why
        self._proc.poll()
        self._stderr.seek(0)
        said = self._stderr.read()[-2000:].decode(errors="replace").strip()
        _log.warning("pytest-partition: %s (pid %d, exit code %s); reference-store nodes "
                     "start as subprocesses from now on%s", why, self._proc.pid,
                     self._proc.returncode, f"; it said:\n{said}" if said else "")
        if self._proc.returncode is None:
            # Stuck or confused: it must not outlive us either way.
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()


_shared: Zygote | None = None
_shared_failed = False  # could not even start one: do not try again
_shared_lock = threading.Lock()


def zygote_env() -> dict[str, str]:
    """The environment of the shared zygote: ours, as the cluster gives its nodes."""
    return {**child_env(), "PYTHONUNBUFFERED": "1"}


def shared_zygote() -> Zygote | None:
    """This process's zygote, started on first use; None once it has failed.

    Stopped at interpreter exit (and it exits by itself when this process
    dies). A forked copy of this process starts a zygote of its own.
    """
    global _shared, _shared_failed
    with _shared_lock:
        if _shared is not None and _shared._owner != os.getpid():
            _shared = None  # inherited through fork: the parent's, not ours
        if _shared is None:
            if _shared_failed:
                return None
            try:
                _shared = Zygote(zygote_env())
            except OSError as error:
                _shared_failed = True
                _log.warning("pytest-partition: cannot start the zygote (%s); reference-store "
                             "nodes start as subprocesses", error)
                return None
            atexit.register(_shared.close)
        return _shared if _shared.usable else None


def close_shared_zygote() -> None:
    """Stop this process's zygote now (the next node starts a new one)."""
    global _shared
    with _shared_lock:
        zygote, _shared = _shared, None
    if zygote is not None and zygote._owner == os.getpid():
        atexit.unregister(zygote.close)
        zygote.close()
