"""Node: one process of a cluster, its log, its data dir, and its life.

A node runs in a session of its own (a Ctrl-C in the terminal reaches pytest,
which stops the nodes in order, not the nodes directly) with its stdin a pipe
that only closes when it should exit. Signals go to its whole process group,
so a node started through a wrapper script dies with all its children.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import NodeStartError
from .topology import NAMED_SPECS

__all__ = ["CONTRACT_VARIABLES", "LOG_TAIL_LINES", "MODES", "Node", "bug_problem", "default_command",
           "env_problem", "free_port", "method_problem", "node_names", "planted_bugs"]

LOG_TAIL_LINES = 20
#: How much of the end of a node's log the tail is taken from (bytes).
LOG_TAIL_BYTES = 64 * 1024
#: A longer log line is cut in reports (the log file keeps it whole).
LOG_LINE_CHARS = 500
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ADDRESS_IN_USE = ("Address already in use", "EADDRINUSE", "Errno 98")


def default_command(mode: str, bug: str | None = None) -> list[str]:
    """The command that runs the reference store in ``mode`` (with a planted bug)."""
    command = [sys.executable, "-m", "pytest_partition.store", "--mode", mode]
    if bug:
        command += ["--bug", bug]
    return command


#: The reference store's modes.
MODES = ("cp", "ap")


def planted_bugs(mode: str) -> tuple[str, ...]:
    """The bugs the reference store can plant in ``mode``, as the store defines them."""
    # Imported here: the store's protocol modules are only needed when a
    # bug is asked for, and the plugin should load fast.
    from .store import ap, raft

    return raft.BUGS if mode == "cp" else ap.BUGS


def bug_problem(mode: str, bug: object) -> str | None:
    """Why ``bug`` is not a planted bug of the store in ``mode`` (None if it is)."""
    bugs = planted_bugs(mode)
    if isinstance(bug, str) and bug in bugs:
        return None
    others = [m for m in MODES if m != mode and isinstance(bug, str)
              and bug in planted_bugs(m)]
    hint = f" ({bug!r} is a bug of {others[0]} mode)" if others else ""
    return (f"is not a planted bug of the reference store in {mode} mode; accepted: "
            f"{', '.join(bugs)}{hint}")


#: The environment variables the plugin sets for each node (the node contract).
CONTRACT_VARIABLES = ("PARTITION_NODE", "PARTITION_PORT", "PARTITION_PEERS", "PARTITION_DATA_DIR",
                      "PARTITION_CLUSTER_TOKEN")
_ENV_ACCEPTED = "accepted: a mapping of environment variable names to strings"


def env_problem(env: object) -> str | None:
    """Why ``env`` cannot be added to a node's environment (None if it can)."""
    if not isinstance(env, Mapping):
        return f"is not accepted; {_ENV_ACCEPTED}"
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            return f"is not accepted: {key!r} is not a variable name; {_ENV_ACCEPTED}"
        if key in CONTRACT_VARIABLES:
            return (f"is not accepted: {key} is set by pytest-partition for each node (the "
                    f"node contract) and cannot be overridden; {_ENV_ACCEPTED}, except "
                    f"{', '.join(CONTRACT_VARIABLES)}")
        if not isinstance(value, str) or "\0" in value:
            return f"is not accepted: the value of {key!r} is not a string; {_ENV_ACCEPTED}"
    return None


def method_problem(name: object) -> str | None:
    """Why ``name`` is not an XML-RPC method name (None if it is)."""
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name.strip()):
        return "is not accepted; accepted: an XML-RPC method name (a non-empty string " \
               "without spaces)"
    return None


def node_names(nodes: int | Sequence[str]) -> list[str]:
    """Node names from a count (``n1..nN``) or a list, checked for usable names."""
    if isinstance(nodes, bool):
        raise ValueError(f"nodes must be a count or a list of names, got {nodes!r}")
    if isinstance(nodes, int):
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, got {nodes}")
        return [f"n{i}" for i in range(1, nodes + 1)]
    if isinstance(nodes, str) or not isinstance(nodes, Sequence):
        raise ValueError(
            f"nodes={nodes!r}: give a count (3) or a list of names (['A', 'B', 'C'])"
        )
    names = [str(n) for n in nodes]
    if not names:
        raise ValueError("nodes: the list of names is empty")
    reserved = {spec for spec in NAMED_SPECS if ":" not in spec}
    for name in names:
        if not _NAME.match(name) or name.lower() in reserved:
            raise ValueError(
                f"node name {name!r} is not accepted: use letters, digits, '_', '-' or '.', "
                f"and not one of {', '.join(sorted(reserved))}"
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"node names must be unique; repeated: {', '.join(duplicates)}")
    return names


def free_port() -> int:
    """A port on 127.0.0.1 that nobody listens on now (the node binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _printable(line: str) -> str:
    """One log line for a report: control characters escaped, length capped."""
    shown = "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in line)
    if len(shown) > LOG_LINE_CHARS:
        shown = (f"{shown[:LOG_LINE_CHARS]}... ({len(shown) - LOG_LINE_CHARS} more "
                 "characters in the log)")
    return shown


class Node:
    """One node of a cluster: a subprocess serving XML-RPC on 127.0.0.1.

    ``port`` is its real port (peers and clients reach it through proxy
    links); ``pid`` is None while it is not running.
    """

    def __init__(self, name: str, port: int, log_path: Path, data_dir: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The process id, or None when the node is not running."""
        return self.process.pid if self.running and self.process else None

    @property
    def running(self) -> bool:
        """True while the process exists (paused counts as running)."""
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code of a node that exited on its own (a crash), else None.

        None while it runs, and after the cluster killed or stopped it.
        """
        return self.process.poll() if self.process is not None else None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the node's log, made safe to print.

        Only the end of the file is read; each line is cut at
        :data:`LOG_LINE_CHARS` characters, and control characters (a node's
        colours, NUL bytes) are shown escaped rather than sent to the terminal.
        """
        try:
            with open(self.log_path, "rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(0, size - LOG_TAIL_BYTES))
                data = log.read(LOG_TAIL_BYTES)
        except OSError:
            return ""
        read = data.decode("utf-8", errors="replace").splitlines()
        kept = read[-lines:]
        if size > LOG_TAIL_BYTES and kept and len(kept) == len(read):
            kept[0] = "..." + kept[0]  # the first line kept began before what was read
        return "\n".join(_printable(line) for line in kept)

    # -- life ----------------------------------------------------------------------

    def spawn(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Start the process (its output appended to the log); return its pid."""
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- pytest-partition: start #{self.starts} of {self.name} on port "
                      f"{self.port}: {shlex.join(argv)}\n".encode())
            log.flush()
            try:
                self.process = subprocess.Popen(
                    list(argv), stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                    env=dict(env), start_new_session=True)
            except OSError as error:
                raise NodeStartError(self.name, f"cannot run {shlex.join(argv)}: "
                                                f"{error.strerror or error}",
                                     exit_code=None, log_tail=self.log_tail()) from error
        self.paused = False
        return self.process.pid

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the node's whole process group."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def release(self) -> None:
        """Ask the node to exit: resume it if paused, then close its stdin."""
        if self.process is None:
            return
        if self.paused:
            self.signal(signal.SIGCONT)
            self.paused = False
        self._close_stdin()

    def reap(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for a released node, then kill its group; forget it.

        Returns the pid it had, or None when there was no process.
        """
        proc = self.process
        if proc is None:
            return None
        try:
            proc.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            pass
        return self.discard()

    def discard(self) -> int | None:
        """Kill the node's group now (whatever it started dies too); forget it."""
        proc = self.process
        if proc is None:
            return None
        self.signal(signal.SIGKILL)
        proc.wait(timeout=5)
        self._close_stdin()
        self.process = None
        self.paused = False
        return proc.pid

    def _close_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    # -- checks ---------------------------------------------------------------------

    def address_in_use(self) -> bool:
        """True when the node's log says its port was taken."""
        tail = self.log_tail()
        return any(marker in tail for marker in _ADDRESS_IN_USE)

    def owns_port(self) -> bool | None:
        """Does a process of this node listen on its port? None when we cannot tell.

        A ping can be answered by another program that took the port between
        our choice and the node's bind (another test run, say); then this is
        False and the node will soon fail to bind.
        """
        if self.process is None:
            return False
        try:
            inode = _listening_inode(self.port)
            if inode is None:
                return False
            target = f"socket:[{inode}]"
            for pid in _group_members(self.process.pid):
                fds = Path(f"/proc/{pid}/fd")
                for fd in fds.iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) == target:
                            return True
        except OSError:
            return None  # no /proc (not Linux): trust the ping
        return False

    def __repr__(self) -> str:
        state = "paused" if self.paused else ("running" if self.running else "stopped")
        return f"<Node {self.name} port={self.port} pid={self.pid} {state}>"


def _listening_inode(port: int) -> str | None:
    with open("/proc/net/tcp", encoding="ascii") as table:
        for row in table.read().splitlines()[1:]:
            fields = row.split()
            address, hexport = fields[1].split(":")
            if fields[3] == "0A" and int(hexport, 16) == port and address == "0100007F":
                return fields[9]
    return None


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # Fields after the command name (in parentheses): state ppid pgrp ...
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                members.append(int(entry.name))
    return members
