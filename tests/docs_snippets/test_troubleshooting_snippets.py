"""The samples of docs/troubleshooting.md, run for real (on the toy node)."""

import sys

import pytest
from tests_support import TOY_NODE

from pytest_partition import Indeterminate, eventually

MY_NODE = [sys.executable, str(TOY_NODE)]


@pytest.mark.cluster(nodes=3, command=MY_NODE, start_timeout=30, client_timeout=3.0)
def test_patient_settings(cluster):
    assert cluster.client("n1").timeout == 3.0
    eventually(lambda: cluster.client("n2").put("k", 1), timeout=30)


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MY_NODE)
def test_an_unknown_outcome_that_happened(cluster):
    a = cluster.client("A", timeout=0.3)
    a.put("k", 1)
    cluster.pause("A")
    with pytest.raises(Indeterminate):
        a.put("k", 2)                      # sent, but A cannot answer while stopped
    cluster.resume("A")
    eventually(lambda: a.get("k") == 2)    # ...and it ran after all
