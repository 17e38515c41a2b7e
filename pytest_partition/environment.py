"""The environment of the processes the harness starts (nodes, the proxy, the zygote).

They run ``python -m pytest_partition...`` or a user's program that may import
it: this package must be importable there, first on ``PYTHONPATH``, whatever
the test process's own path was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PACKAGE_ROOT", "child_env"]

#: The folder that holds this package.
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: our environment) with this package first on ``PYTHONPATH``."""
    env = dict(os.environ if base is None else base)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + existing if existing else "")
    return env
