"""Shared fixtures of the plugin's own tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests_support import TOY_NODE

import pytest_partition


@pytest.fixture(autouse=True)
def _package_under_test_in_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    # A subprocess (runpytest_subprocess, a node) starts a new interpreter
    # whose sys.path does not hold this checkout: without this it would import
    # whichever copy of the package is installed, not the one under test.
    root = str(Path(pytest_partition.__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", root + (os.pathsep + existing if existing else ""))
    # The pytest runs these tests start load every plugin installed here; ones
    # that have nothing to do with ours (hypothesis's costs 0.6 s a start) are
    # left out. Blocking a plugin that is not installed is no error.
    extra = os.environ.get("PYTEST_ADDOPTS", "")
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{extra} -p no:hypothesispytest -p no:benchmark".strip())


@pytest.fixture
def toy_command() -> list[str]:
    """The command of the test-only node program (follows the node contract)."""
    return [sys.executable, str(TOY_NODE)]


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``pytester`` with a wide terminal: each summary row on one line, as the
    report tests read it."""
    monkeypatch.setenv("COLUMNS", "200")
    return pytester
