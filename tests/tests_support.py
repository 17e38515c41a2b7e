"""Constants shared by test modules (imported by name; tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path

TOY_NODE = Path(__file__).parent / "nodes" / "toynode.py"
