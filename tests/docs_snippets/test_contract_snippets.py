"""The samples of docs/node-contract.md, run for real against contract_node.py."""

import sys
import time
import xmlrpc.client
from pathlib import Path

import pytest
from tests_support import TOY_NODE

from pytest_partition import Cluster

MY_NODE = [sys.executable, str(TOY_NODE)]
MINIMAL_NODE = [sys.executable, str(Path(__file__).parent / "contract_node.py")]


@pytest.mark.cluster(nodes=["A", "B", "C"], command=MINIMAL_NODE)
@pytest.mark.partition("isolate:leader")
def test_the_minimal_node(cluster):
    a = cluster.client("A")
    assert a.put("dryer", 60) is True
    with pytest.raises(xmlrpc.client.Fault):
        a.put(1, "no")                              # fault 400: recorded as fail
    with cluster.partitioned() as part:
        assert part.resolved == "A|B,C"             # role() named A the leader
    cluster.restart("A")
    assert a.get("dryer") == 60                     # the data dir survived
    assert [op.type for op in cluster.history.operations()] == ["ok", "fail", "ok"]


def test_the_minimal_node_exits_at_stdin_eof(tmp_path):
    cluster = Cluster(["A", "B"], command=MINIMAL_NODE, workdir=tmp_path)
    cluster.start()
    began = time.monotonic()
    cluster.stop()                                  # closes stdin, waits up to 3 s, then kills
    assert time.monotonic() - began < 1.0
    assert "A serving on" in (tmp_path / "A.log").read_text()


@pytest.mark.cluster(nodes=2, command=MY_NODE + ["--port-arg", "{port}", "{name}", "{data_dir}"])
def test_placeholders(cluster):
    node = cluster.nodes["n1"]
    assert cluster.call("n1", "argv") == ["--port-arg", str(node.port), "n1", str(node.data_dir)]
