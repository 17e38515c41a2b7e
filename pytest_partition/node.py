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
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import PLANTED_BUGS, ArgumentError, NodeStartError
from .topology import NAMED_SPECS
from .zygote import ForkedProcess, ZygoteUnavailable, shared_zygote

__all__ = ["CONTRACT_VARIABLES", "LOG_TAIL_LINES", "MODES", "Node", "bug_problem",
           "default_command", "env_problem", "free_port", "method_problem", "node_names",
           "planted_bugs"]

LOG_TAIL_LINES = 20
#: How much of the end of a node's log the tail is taken from (bytes).
LOG_TAIL_BYTES = 64 * 1024
#: A longer log line is cut in reports (the log file keeps it whole).
LOG_LINE_CHARS = 500
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ADDRESS_IN_USE = ("Address already in use", "EADDRINUSE", "Errno 98")


_STORE = [sys.executable, "-m", "pytest_partition.store"]


def default_command(mode: str, bug: str | None = None) -> list[str]:
    """The command that runs the reference store in ``mode`` (with a planted bug)."""
    command = [*_STORE, "--mode", mode]
    if bug:
        command += ["--bug", bug]
    return command


def store_arguments(argv: Sequence[str]) -> list[str] | None:
    """The store's own arguments if ``argv`` runs the reference store here, else None."""
    return list(argv[len(_STORE):]) if list(argv[:len(_STORE)]) == _STORE else None


#: The reference store's modes.
MODES = ("cp", "ap")


def planted_bugs(mode: str) -> tuple[str, ...]:
    """The bugs the reference store can plant in ``mode``."""
    return PLANTED_BUGS[mode]


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
                      "PARTITION_SEED", "PARTITION_CLUSTER_TOKEN")
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
        raise ArgumentError(f"nodes must be a count or a list of names, got {nodes!r}")
    if isinstance(nodes, int):
        if nodes < 1:
            raise ArgumentError(f"nodes must be at least 1, got {nodes}")
        return [f"n{i}" for i in range(1, nodes + 1)]
    if isinstance(nodes, str) or not isinstance(nodes, Sequence):
        raise ArgumentError(
            f"nodes={nodes!r}: give a count (3) or a list of names (['A', 'B', 'C'])"
        )
    names = [str(n) for n in nodes]
    if not names:
        raise ArgumentError("nodes: the list of names is empty")
    reserved = {spec for spec in NAMED_SPECS if ":" not in spec}
    for name in names:
        if not _NAME.match(name) or name.lower() in reserved:
            raise ArgumentError(
                f"node name {name!r} is not accepted: use letters, digits, '_', '-' or '.', "
                f"and not one of {', '.join(sorted(reserved))}"
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ArgumentError(f"node names must be unique; repeated: {', '.join(duplicates)}")
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
        self.process: subprocess.Popen[bytes] | ForkedProcess | None = None
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

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], *, fork: bool = False) -> int:
        """Start the process (its output appended to the log); return its pid.

        With ``fork``, a reference-store node is forked from the shared zygote
        (:mod:`.zygote`) when it can be: the same process as a subprocess
        would be, without an interpreter start-up and the store's import.
        """
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- pytest-partition: start #{self.starts} of {self.name} on port "
                      f"{self.port}: {shlex.join(argv)}\n".encode())
            log.flush()
            self.process = self._fork(argv, env, log.fileno()) if fork else None
            if self.process is None:
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

    def _fork(self, argv: Sequence[str], env: Mapping[str, str],
              log: int) -> ForkedProcess | None:
        """Fork the node from the zygote; None when it must start as a subprocess."""
        args = store_arguments(argv)
        zygote = shared_zygote() if args is not None else None
        if zygote is None or args is None or not zygote.accepts(env):
            return None
        try:
            return zygote.spawn(args, env, log=log, cwd=os.getcwd(), log_path=self.log_path)
        except ZygoteUnavailable:
            return None  # (the zygote has said why, once, in the log)

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
            leader = self.process.pid
            # The group's leader is the node itself, which listens in most
            # programs: look there before scanning every process.
            return _holds(leader, target) or any(
                _holds(pid, target) for pid in _group_members(leader) if pid != leader)
        except OSError:
            return None  # no /proc (not Linux): trust the ping

    def __repr__(self) -> str:
        state = "paused" if self.paused else ("running" if self.running else "stopped")
        return f"<Node {self.name} port={self.port} pid={self.pid} {state}>"


def _holds(pid: int, target: str) -> bool:
    """Does process ``pid`` have the descriptor ``target`` (``socket:[inode]``) open?"""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) == target:
                return True
    return False


def _listening_inode(port: int) -> str | None:
    """The inode of the TCP socket listening on 127.0.0.1:``port``, or None."""
    try:
        listeners = _netlink_listeners()
    except OSError:
        listeners = None
    if listeners is not None:
        inode = listeners.get(port)
        return None if inode is None else str(inode)
    # /proc/net/tcp lists every socket, TIME_WAIT ones included: on a busy
    # machine reading it takes milliseconds, where the kernel's own filter
    # (above) answers in a tenth of one.
    with open("/proc/net/tcp", encoding="ascii") as table:
        for row in table.read().splitlines()[1:]:
            fields = row.split()
            address, hexport = fields[1].split(":")
            if fields[3] == "0A" and int(hexport, 16) == port and address == "0100007F":
                return fields[9]
    return None


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_DUMP_REQUEST = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
_LOOPBACK = socket.inet_aton("127.0.0.1")


def _netlink_listeners() -> dict[int, int] | None:
    """Port -> inode of the IPv4 TCP sockets listening on 127.0.0.1 (sock_diag).

    None where netlink's socket diagnostics are not available (not Linux).
    """
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        return None
    # struct inet_diag_req_v2: family, protocol, ext, pad, states, then a
    # zeroed inet_diag_sockid (48 bytes): every listening socket.
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0,
                          1 << _TCP_LISTEN) + bytes(48)
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY,
                         _NLM_F_DUMP_REQUEST, 1, 0)
    listeners: dict[int, int] = {}
    with socket.socket(family, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as diag:
        diag.settimeout(1.0)
        diag.sendto(header + request, (0, 0))
        while True:
            data = diag.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == _NLMSG_DONE:
                    return listeners
                if kind == _NLMSG_ERROR or length < 16:
                    raise OSError("sock_diag refused the request")
                # struct inet_diag_msg: 4 bytes, sockid (sport at +4, src at
                # +8), then expires, rqueue, wqueue, uid, inode at +68.
                body = offset + 16
                if data[body + 8:body + 12] == _LOOPBACK:
                    (port,) = struct.unpack_from(">H", data, body + 4)
                    (inode,) = struct.unpack_from("=I", data, body + 68)
                    listeners[port] = inode
                offset += (length + 3) & ~3
            if not data:
                return listeners


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
