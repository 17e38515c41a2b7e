"""``python -m pytest_partition.store.zygote --control-fd N``: fork store nodes on request.

Starting a node as a fresh interpreter costs a Python start-up plus the
import of the store, every time. The zygote pays that once: it imports the
store, then waits on its control socket and forks one node per request, as
``multiprocessing``'s forkserver does. The test process's side is
:mod:`pytest_partition.zygote`; this module is the process it talks to.

The control socket (a ``SOCK_SEQPACKET`` Unix socket, inherited as fd ``N``)
carries JSON messages:

- to the test process, once: ``{"op": "ready", "pid": P}``;
- from it: ``{"op": "spawn", "args": [...], "env": {"set": {...}, "unset": [...]},
  "cwd": "..."}`` with three descriptors (SCM_RIGHTS): the node's stdin, its
  log, and the write end of a *status pipe* that belongs to that node alone;
- from it: ``{"op": "reap", "pid": P}`` once it has seen P's exit code.

On the status pipe the zygote writes ``pid P`` after the fork, then ``exit
CODE`` when the node has exited (``-SIG`` when a signal killed it, as
``subprocess`` reports it), or ``error MESSAGE`` if the fork failed, and
closes it. A node that exited stays a zombie until the test process says
``reap``, as a ``subprocess.Popen`` child stays one until it is polled:
until then its pid (the pid of its process group, which ``kill`` and
``pause`` signal) cannot be reused by another process.

Each node is its own session and process group, with the test process's
pipe as its stdin (so it still exits at end of input, even when pytest is
killed) and its own log as stdout and stderr. When the control socket
reaches end of file (the test process closed it, or died), the zygote kills
every node it forked that is still running, reaps them, and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import select
import signal
import socket
import sys
import traceback
from collections.abc import Mapping
from typing import Any

# Imported here, before any fork, so that no node imports anything at start:
# that is the whole point of the zygote.
from . import ap_runtime, cp_runtime  # noqa: F401
from .__main__ import main as store_main

#: The largest control message accepted (an environment diff is far smaller).
MAX_MESSAGE = 1 << 20
#: Descriptors that come with a spawn request: stdin, log, status pipe.
SPAWN_FDS = 3


class Zygote:
    """The zygote's loop: spawn requests and reap requests in, node exits out."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        # pid -> its status pipe, while it runs; exited ones wait in zombies.
        self.children: dict[int, int] = {}
        self.zombies: set[int] = set()
        self.wake_read, self.wake_write = os.pipe()
        for fd in (self.wake_read, self.wake_write):
            os.set_blocking(fd, False)

    def run(self) -> None:
        """Serve until the control socket reaches end of file; then kill what is left."""
        # A SIGCHLD handler only to wake select() through the wakeup fd; the
        # handler itself does nothing (SIG_IGN would reap children for us).
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
        try:
            self.send({"op": "ready", "pid": os.getpid()})
            while self.serve_once():
                pass
        finally:
            self.kill_all()

    def serve_once(self) -> bool:
        """Handle what is ready now; False when the test process is gone."""
        control = self.control.fileno()
        readable, _, _ = select.select([control, self.wake_read], [], [])
        if self.wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.wake_read, 4096):
                    pass
        if control in readable:
            try:
                data, fds, flags, _ = socket.recv_fds(self.control, MAX_MESSAGE, SPAWN_FDS)
            except ConnectionError:
                return False
            if not data and not fds:
                return False  # end of file: nothing may outlive the test process
            self.handle(data, fds, truncated=bool(flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC)))
        self.report_exits()
        return True

    def send(self, message: Mapping[str, Any]) -> None:
        """One message to the test process."""
        self.control.send(json.dumps(message).encode())

    # -- requests ------------------------------------------------------------------

    def handle(self, data: bytes, fds: list[int], *, truncated: bool) -> None:
        """Act on one control message (a bad one is dropped, with its fds)."""
        try:
            request = json.loads(data)
            op = request["op"] if isinstance(request, dict) else None
        except ValueError:
            op = None
        if op == "spawn" and len(fds) == SPAWN_FDS:
            stdin, log, status = fds
            try:
                if truncated:
                    raise ValueError("spawn request truncated")
                self.spawn(request, stdin, log, status)
            except Exception as error:  # noqa: BLE001 - the status pipe says why; serve on
                _write_line(status, f"error {type(error).__name__}: {error}")
                os.close(status)
            finally:
                os.close(stdin)
                os.close(log)
            return
        for fd in fds:
            os.close(fd)
        if op == "reap":
            pid = request.get("pid")
            if pid in self.zombies:
                self.zombies.discard(pid)
                os.waitpid(pid, 0)

    def spawn(self, request: Mapping[str, Any], stdin: int, log: int, status: int) -> None:
        """Fork one node; it runs the store's main and never returns here."""
        args = [str(a) for a in request["args"]]
        env = request["env"]
        environ = dict(os.environ)
        for key in env["unset"]:
            environ.pop(str(key), None)
        environ.update({str(k): str(v) for k, v in env["set"].items()})
        cwd = str(request["cwd"])
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (covered by the node tests)
            self.become_node(args, environ, cwd, stdin, log)
        self.children[pid] = status
        _write_line(status, f"pid {pid}")

    def become_node(self, args: list[str], environ: dict[str, str], cwd: str, stdin: int,
                    log: int) -> None:
        """In the forked child: turn into a node and run the store; never returns."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            self.control.detach()  # its fd is closed with the others, not by this object
            fresh_process(environ, cwd, stdin, log)
            sys.argv = [sys.argv[0], *args]
            code = store_main(args, environ)
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except BaseException:  # noqa: BLE001 - as the interpreter would: print, exit 1
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    # -- exits -----------------------------------------------------------------------

    def report_exits(self) -> None:
        """Tell each exited node's status pipe its exit code; keep it a zombie."""
        for pid, status in list(self.children.items()):
            # WNOWAIT: learn the code but leave the zombie (and its pid) in place.
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None:
                continue
            code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            del self.children[pid]
            delivered = _write_line(status, f"exit {code}")
            os.close(status)
            if delivered:
                self.zombies.add(pid)
            else:
                os.waitpid(pid, 0)  # nobody is listening for it any more

    def kill_all(self) -> None:
        """Kill every node still running (group and all), and reap every child."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for pid, status in self.children.items():
            # (If the test process is still there, it learns the code.)
            with contextlib.suppress(ChildProcessError):
                _write_line(status, f"exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}")
            os.close(status)
        for pid in self.zombies:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()
        self.zombies.clear()


def fresh_process(environ: Mapping[str, str], cwd: str, stdin: int, log: int) -> None:
    """Make a forked child what a fresh interpreter started by ``subprocess`` would be.

    Its own session (and process group, which kill and pause signal), the
    given stdin and log as fds 0, 1 and 2 and no other descriptor, default
    signal handling, ``environ`` as its environment, ``cwd`` as its working
    directory, and fresh randomness: forked children share the template's
    random state otherwise, and nodes must not draw the same election timeouts.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()
    os.dup2(stdin, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 3))
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    random.seed()


def _write_line(fd: int, line: str) -> bool:
    """Write one line to a status pipe; False when its reader is gone."""
    try:
        os.write(fd, line.encode() + b"\n")
    except OSError:
        return False
    return True


def _exit_code(code: object) -> int:
    """The process exit code for ``SystemExit(code)``, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the zygote process."""
    parser = argparse.ArgumentParser(prog="python -m pytest_partition.store.zygote",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--control-fd", type=int, required=True,
                        help="the inherited SOCK_SEQPACKET socket to the test process")
    args = parser.parse_args(argv)
    # Terminal signals belong to the test process; it decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=args.control_fd)
    # What is imported now is shared by every node: keep the collector of
    # each node off it (it would touch, and so copy, every page of it).
    gc.freeze()
    try:
        Zygote(control).run()
    finally:
        control.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
