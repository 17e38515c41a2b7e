"""Constants and helpers shared by test modules (imported by name; tests/ is on sys.path)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

TOY_NODE = Path(__file__).parent / "nodes" / "toynode.py"


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (its parent reaps those)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """A file under tmp_path holding ``text`` (UTF-8; bytes are written as they are)."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the other end has closed (or reset) this connection; reads nothing."""
    try:
        return sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
