"""The samples of docs/checkers.md and docs/concepts.md that use the checkers, run for real.

Histories are built by hand here, so these samples need no cluster.
"""

from pytest_partition import History
from pytest_partition.checkers import (
    availability,
    cap_verdict,
    check_counter,
    check_lost_updates,
    converged,
    exposure,
    linearizable,
)
from pytest_partition.report import write_timeline


def test_a_stale_read_is_not_linearizable():
    history = History()
    for process, node, f, value, output in [
        (0, "A", "put", 60, True),
        (0, "A", "put", 59, True),      # completed...
        (1, "C", "get", None, 60),      # ...before this read began: 60 is stale
    ]:
        history.append(process=process, type="invoke", f=f, key="dryer", value=value, node=node)
        history.append(process=process, type="ok", f=f, key="dryer", value=output, node=node)

    result = linearizable(history, "register")
    assert result.valid is False
    print(result.explain())

    assert [op.node for op in result.culprits] == ["C"]
    assert [step.op.value for step in result.longest_prefix] == [60, 59]
    assert result.prefix_state == "59"


def test_replicas_that_differ():
    result = converged({"A": {"dryer": 59}, "B": {"dryer": 59}, "C": {"dryer": 60}})
    assert not result.valid
    print(result.explain())
    assert result.diff == {"dryer": {"A": 59, "B": 59, "C": 60}}


def test_availability_and_the_verdict():
    history = History()
    history.append(process="nemesis", type="info", f="partition",
                   value={"spec": "A,B|C", "groups": [["A", "B"], ["C"]]})
    for process, node, outcome in [(0, "A", "ok"), (1, "B", "ok"), (2, "C", "fail")]:
        history.append(process=process, type="invoke", f="put", key="k", value=1, node=node)
        history.append(process=process, type=outcome, f="put", key="k", value=1, node=node)
    history.append(process="nemesis", type="info", f="heal")

    print(availability(history).explain())
    verdict = cap_verdict(history)
    print(verdict.sentence)
    assert verdict.verdict == "CP"

    found = exposure(history)
    print(found.explain())
    assert found.minority_requests == 1 and found.keys_written_on_two_sides == 1
    assert found.cp_untested is None and found.ap_untested is None


def test_a_counter_that_lost_a_sale():
    history = History()
    for process, node, delta, outcome in [
        (0, "A", 60, "ok"),
        (0, "A", -1, "ok"),      # sold in Beijing (A)
        (1, "C", -1, "ok"),      # sold in Shanghai (C), acknowledged
        (2, "C", -5, "info"),    # a timeout: it may or may not have happened
    ]:
        history.append(process=process, type="invoke", f="incr", key="dryer", value=delta,
                       node=node)
        history.append(process=process, type=outcome, f="incr", key="dryer", value=delta,
                       node=node)

    result = check_counter(history, {"A": 58, "B": 58, "C": 59})
    assert not result.valid
    print(result.explain())
    assert (result.lower, result.upper) == (53, 58)


def test_a_lost_write():
    history = History()
    for process, node, value in [(0, "A", 1), (1, "B", 2)]:   # one after the other
        history.append(process=process, type="invoke", f="put", key="k", value=value, node=node)
        history.append(process=process, type="ok", f="put", key="k", value=True, node=node)

    # resolution_ms=0: these events are microseconds apart; a real store's clock
    # counts milliseconds, and writes closer than 2 ms count as concurrent.
    result = check_lost_updates(history, {"A": {"k": 2}, "B": {"k": 1}}, resolution_ms=0)
    assert not result.valid
    print(result.explain())
    assert "on B" in result.errors[0]


EDN = """\
{:type :invoke, :f :write, :value 3, :process 0, :time 100}
{:type :ok, :f :write, :value 3, :process 0, :time 200}
{:type :invoke, :f :read, :value nil, :process 1, :time 300}
{:type :ok, :f :read, :value 4, :process 1, :time 400}
"""


def test_a_jepsen_history(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "history.edn").write_text(EDN)

    history = History.load("history.edn")        # Jepsen's EDN, one map per line
    result = linearizable(history, "register", time_limit=60)
    print(result.explain())
    write_timeline(history, "timeline.html", blamed=result.culprits,
                   verdict=result.explain().splitlines()[0])

    assert result.valid is False
    assert "Blamed by the checker (1)" in (tmp_path / "timeline.html").read_text()
