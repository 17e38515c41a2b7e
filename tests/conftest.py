"""Shared fixtures of the plugin's own tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests_support import TOY_NODE

import pytest_partition


@pytest.fixture(autouse=True)
def _package_under_test_in_subprocesses(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # A subprocess (runpytest_subprocess, a node) starts a new interpreter
    # whose sys.path does not hold this checkout: without this it would import
    # whichever copy of the package is installed, not the one under test.
    root = str(Path(pytest_partition.__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", root + (os.pathsep + existing if existing else ""))
    # The pytest runs these tests start load every plugin installed here; ones
    # that have nothing to do with ours (hypothesis's costs 0.6 s a start) are
    # left out. Blocking a plugin that is not installed is no error.
    # ``pytester`` clears PYTEST_ADDOPTS when it is set up, so it is set up
    # first: in-process runs read the variable too, and each of them would
    # otherwise import hypothesis anew (about 1 s with assertion rewriting).
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
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


def pytest_configure(config: pytest.Config) -> None:
    # xdist's load scheduling hands each worker a quarter of its share at
    # once (about 86 tests here), so the slow tests, put first below, would
    # all land on one worker. Small steps spread them; the suite's fast tests
    # cost one message more each, which is nothing beside a cluster's start.
    if hasattr(config.option, "maxschedchunk") and config.option.maxschedchunk is None:
        config.option.maxschedchunk = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slowest tests first (``@pytest.mark.slow(seconds=...)``).

    With several workers, a long test that starts last makes the whole suite
    wait for it; started first, it overlaps the many short ones. The order
    is the same in every xdist worker, as it must be: it depends only on the
    markers.
    """
    def expected_seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        if marker is None:
            return 0.0
        return float(marker.kwargs.get("seconds", 5.0))

    items.sort(key=expected_seconds, reverse=True)  # stable: ties keep their order
