"""Shared fixtures of the plugin's own tests."""

from __future__ import annotations

import sys

import pytest
from tests_support import TOY_NODE


@pytest.fixture
def toy_command() -> list[str]:
    """The command of the test-only node program (follows the node contract)."""
    return [sys.executable, str(TOY_NODE)]
