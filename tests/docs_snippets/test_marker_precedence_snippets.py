"""The sample of docs/api.md on markers of a class or a module, run for real (on the toy node).

A file of its own: its module marker applies to every test in it.
"""

import sys

import pytest
from tests_support import TOY_NODE

MY_NODE = [sys.executable, str(TOY_NODE)]

pytestmark = pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE, client_timeout=2.0)


@pytest.mark.cluster(client_timeout=0.5)
def test_the_closest_marker_wins_per_argument(cluster):
    assert cluster.names == ["A", "B", "C"]         # nodes and command: the module's
    assert cluster.client("A").timeout == 0.5       # client_timeout: the test's


@pytest.mark.cluster(nodes=2)
class TestTwoNodes:
    def test_class_marker(self, cluster):
        assert cluster.names == ["n1", "n2"]        # nodes: the class's
        assert cluster.client("n1").timeout == 2.0  # client_timeout: the module's
