"""The plugin surface, tested through pytester: options, ini keys, markers, ids, hooks."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
from tests_support import TOY_NODE

import pytest_partition

pytest_plugins = ["pytester"]

TOY_CONFTEST = f"""
import sys
import pytest

TOY = [sys.executable, {str(TOY_NODE)!r}]

def pytest_partition_node_command(config, mode, bug):
    return TOY
"""


@pytest.fixture
def toy(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester whose clusters run the toy node by default (through the hook)."""
    pytester.makeconftest(TOY_CONFTEST)
    return pytester


def test_help_lists_every_option_and_ini_key(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for name in ("seed", "mode", "nodes", "command", "start-timeout", "client-timeout",
                 "ping-method"):
        result.stdout.fnmatch_lines([f"*--partition-{name}*"])
        result.stdout.fnmatch_lines([f"*partition_{name.replace('-', '_')} *"])


def test_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=3)
        @pytest.mark.nemesis("random-halves", interval=0.5)
        def test_marked():
            pass
    """)
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.cluster(*", "@pytest.mark.partition(*",
                                  "@pytest.mark.nemesis(*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partition-seed=abc"], "*--partition-seed: 'abc' is not a seed*'last'*"),
        (["--partition-seed=-3"], "*seed -3 is negative*"),
        (["--partition-mode=ca"], "*--partition-mode: 'ca' is not a mode; choose cp or ap*"),
        (["--partition-nodes=0"], "*node count 0 is out of range; accepted: an integer >= 1*"),
        (["--partition-start-timeout=soon"], "*'soon' is not a number of seconds*"),
        (["--partition-client-timeout=inf"],
         ("*--partition-client-timeout: 'inf' is not finite; accepted: a number of seconds > 0 "
         "and <= 3600*")),
        (["--partition-client-timeout=1e10"], ("*'1e10' is out of range; accepted: a number of "
         "seconds > 0 and <= 3600*")),
        (["--partition-start-timeout=nan"], "*'nan' is not finite; accepted: *"),
        (["--partition-command="], "*the command is empty*"),
    ],
)
def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester, args: list[str],
                                            message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("partition_client_timeout = -1", ("*ini key partition_client_timeout: '-1' is out of "
         "range; accepted: a number of seconds > 0 and <= 3600*")),
        ("partition_start_timeout = inf", ("*ini key partition_start_timeout: 'inf' is not "
         "finite; accepted: a number of seconds > 0 and <= 3600*")),
    ],
)
def test_bad_ini_value_names_the_key(pytester: pytest.Pytester, line: str, message: str) -> None:
    pytester.makeini(f"[pytest]\n{line}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_seed_is_in_the_header_and_last_replays_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_seed(partition_seed, pytestconfig):
            with open("seeds.txt", "a") as f:
                f.write(f"{partition_seed}\\n")
    """)
    first = pytester.runpytest("--partition-seed=1234")
    first.stdout.fnmatch_lines(["partition: run seed 1234 (replay with --partition-seed=1234)"])
    again = pytester.runpytest("--partition-seed=last")
    again.stdout.fnmatch_lines(["partition: run seed 1234 *"])
    other = pytester.runpytest("--partition-seed=99")
    other.assert_outcomes(passed=1)
    seeds = (pytester.path / "seeds.txt").read_text().split()
    assert seeds[0] == seeds[1] != seeds[2], "same run seed, same test seed"


def test_last_without_a_recorded_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--partition-seed=last", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no previous run seed is recorded*"])


def test_partition_marker_gives_one_readable_id_per_spec(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=["A", "B", "C"])
        @pytest.mark.partition("A,B|C", "A -> C", "isolate:leader", "random-halves")
        def test_specs(partition_spec):
            pass
    """)
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "*test_specs[[]A,B|C[]]",
        "*test_specs[[]A->C[]]",
        "*test_specs[[]isolate:leader[]]",
        "*test_specs[[]random-halves[]]",
    ])


ACCEPTED_SECONDS = "accepted: a number of seconds > 0 and <= 3600"
ABC = '@pytest.mark.cluster(nodes=["A", "B", "C"])\n'


@pytest.mark.parametrize(
    ("marks", "message"),
    [
        # Unknown arguments and bad values.
        (ABC + '@pytest.mark.partition("A,B|D")',
         ("@pytest.mark.partition: partition spec 'A,B|D': unknown node 'D'; the cluster's "
         "nodes are A, B, C")),
        ('@pytest.mark.partition("n1->")', "*empty node name in 'n1->'*"),
        ("@pytest.mark.cluster(nodez=3)",
         ("@pytest.mark.cluster: unknown argument(s) nodez; accepted: nodes, mode, bug, command, "
         "start_timeout, client_timeout, ping_method, env")),
        ('@pytest.mark.cluster(mode="ca")', "*: mode='ca' is not accepted; accepted: cp, ap"),
        ("@pytest.mark.partition()", "*needs at least one spec*"),
        ("@pytest.mark.partition(3)", "*spec 3 must be a string*"),
        # Seconds: finite, > 0, and bounded.
        ('@pytest.mark.cluster(client_timeout=float("nan"))',
         f"@pytest.mark.cluster: client_timeout=nan is not finite; {ACCEPTED_SECONDS}"),
        ('@pytest.mark.cluster(client_timeout=float("inf"))',
         f"*client_timeout=inf is not finite; {ACCEPTED_SECONDS}"),
        ("@pytest.mark.cluster(start_timeout=1e10)",
         f"*start_timeout=10000000000.0 is out of range; {ACCEPTED_SECONDS}"),
        ("@pytest.mark.cluster(start_timeout=True)",
         f"*start_timeout=True is not a number; {ACCEPTED_SECONDS}"),
        ('@pytest.mark.nemesis("random-halves", interval=float("inf"))',
         f"@pytest.mark.nemesis: interval=inf is not finite; {ACCEPTED_SECONDS}, or None "
         "(windows of random length)"),
        ('@pytest.mark.nemesis("random-halves", heal_interval=-1)',
         "*heal_interval=-1 is out of range; accepted: a number of seconds >= 0 and <= 3600"),
        # Wrong types.
        ("@pytest.mark.cluster(nodes=2.5)",
         ("@pytest.mark.cluster: nodes=2.5 is not accepted; accepted: a count (an integer "
         ">= 1) or a list of node names")),
        ('@pytest.mark.cluster(command="")',
         "@pytest.mark.cluster: command='' is not accepted: the command is empty; accepted: *"),
        ("@pytest.mark.cluster(command=\"python 'x\")",
         "*command=\"python 'x\" is not accepted: cannot split command*No closing quotation*"),
        ("@pytest.mark.cluster(command=[])", "*command=[] is not accepted*"),
        ('@pytest.mark.cluster(env={"X": 1})',
         ("@pytest.mark.cluster: env={'X': 1} is not accepted: the value of 'X' is not a "
         "string; accepted: *")),
        ('@pytest.mark.cluster(env={"PARTITION_NODE": "x"})',
         "*env=* is not accepted: PARTITION_NODE is set by pytest-partition*"),
        ("@pytest.mark.cluster(ping_method=3)",
         "@pytest.mark.cluster: ping_method=3 is not accepted; accepted: an XML-RPC method *"),
        ('@pytest.mark.cluster(ping_method="")', "*ping_method='' is not accepted*"),
        ('@pytest.mark.cluster(bug="nope")',
         ("@pytest.mark.cluster: bug='nope' is not a planted bug of the reference store in cp "
         "mode; accepted: stale-read, ack-before-commit")),
        ('@pytest.mark.cluster(mode="ap", bug="stale-read")',
         ("*bug='stale-read' is not a planted bug of the reference store in ap mode; accepted: "
         "no-anti-entropy, lost-update ('stale-read' is a bug of cp mode)")),
        ('@pytest.mark.cluster(bug="stale-read", command=["my-node"])',
         "@pytest.mark.cluster: bug='stale-read' cannot be combined with command=*"),
        ("@pytest.mark.nemesis(42)",
         ("@pytest.mark.nemesis: spec=42 is not accepted; accepted: a partition spec or a list "
         "of them*")),
        ("@pytest.mark.nemesis(interval=1)", "@pytest.mark.nemesis needs a spec*"),
        (ABC + '@pytest.mark.nemesis(["A|B", "A|Q"])',
         "@pytest.mark.nemesis: partition spec 'A|Q': unknown node 'Q'*"),
        # Specs that cut nothing.
        (ABC + '@pytest.mark.partition("A->A")', "*node 'A' is on both sides of 'A->A'*"),
        (ABC + '@pytest.mark.partition("A,B,C")',
         "*'A,B,C' puts every node in one group, so it cuts nothing*"),
        # Node names known from a farther marker.
        ('pytestmark = pytest.mark.cluster(nodes=["A", "B"])\n@pytest.mark.partition("n1|n9")',
         "*partition spec 'n1|n9': unknown node 'n1'; the cluster's nodes are A, B"),
        # Where the bad argument was set, when not on the test itself.
        ("pytestmark = pytest.mark.cluster(nodez=3)",
         "@pytest.mark.cluster of test_bad.py: unknown argument(s) nodez; *"),
    ],
)
def test_a_bad_marker_is_a_setup_error_of_that_test_only(
        pytester: pytest.Pytester, marks: str, message: str) -> None:
    pytester.makepyfile(test_bad=f"""
import pytest

{marks}
def test_bad(cluster):
    pass

def test_neighbour():
    pass
""", test_other_file="""
def test_other():
    pass
""")
    # -rN: no short summary, so that the message is printed once, in the error.
    result = pytester.runpytest("-rN", "--partition-start-timeout=5")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_bad*", message])
    output = result.stdout.str()
    assert "Interrupted" not in output and "During handling" not in output
    assert len(fnmatch.filter(result.stdout.lines, message)) == 1, "the message once"
    assert "settings.py" not in output, "no traceback of our internals"


def test_cluster_factory_arguments_are_checked_like_marker_arguments(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.cluster(bug="stale-read")
        def test_factory(cluster_factory):
            with pytest.raises(ValueError, match=r"cluster_factory\\(\\): nodes=2.5 is not"):
                cluster_factory(nodes=2.5)
            with pytest.raises(ValueError, match=r"unknown argument\\(s\\) spec; accepted"):
                cluster_factory(spec="n1|n2")
            with pytest.raises(ValueError, match=r"cannot be combined with command="):
                cluster_factory(command=["my-node"])
    """)
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.slow
def test_cluster_markers_merge_closest_wins_per_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        import sys
        import pytest

        TOY = [sys.executable, {str(TOY_NODE)!r}]
        pytestmark = pytest.mark.cluster(nodes=["A", "B", "C"], command=TOY, client_timeout=0.7)

        @pytest.mark.cluster(client_timeout=0.3)
        def test_function_marker_over_module_marker(cluster):
            assert cluster.names == ["A", "B", "C"] and cluster.command == TOY
            assert cluster.client("A").timeout == 0.3

        def test_module_marker_alone(cluster):
            assert cluster.names == ["A", "B", "C"] and cluster.client("B").timeout == 0.7

        @pytest.mark.cluster(nodes=2)
        class TestClass:
            def test_class_marker(self, cluster):
                assert cluster.names == ["n1", "n2"] and cluster.command == TOY
                assert cluster.client("n1").timeout == 0.7

            @pytest.mark.cluster(nodes=["X"])
            def test_closest_marker_wins(self, cluster):
                assert cluster.names == ["X"] and cluster.command == TOY
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=4)


def test_nemesis_markers_merge_closest_wins_per_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        import sys
        import pytest
        from pytest_partition import eventually

        pytestmark = [
            pytest.mark.cluster(nodes=["A", "B", "C"], command=[sys.executable, {str(TOY_NODE)!r}]),
            pytest.mark.nemesis("A|B,C", interval=60),
        ]

        @pytest.mark.nemesis(interval=0.1, heal_interval=0.1)
        def test_faster_schedule(cluster):
            cuts = lambda: [e.value["spec"] for e in cluster.history.faults()
                            if e.f == "partition"]
            assert eventually(lambda: len(cuts()) >= 2 and cuts(), timeout=10)[:2] == [
                "A|B,C", "A|B,C"]
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


@pytest.mark.slow
def test_cluster_fixture_end_to_end_with_hooks(toy: pytest.Pytester) -> None:
    toy.makeconftest(TOY_CONFTEST + """
EVENTS = []

def pytest_partition_cluster_started(cluster):
    EVENTS.append(("started", sorted(cluster.nodes)))

def pytest_partition_fault(cluster, event):
    EVENTS.append((event.f, event.value and event.value["spec"]))

@pytest.fixture
def events():
    return EVENTS
""")
    toy.makepyfile("""
        import pytest

        @pytest.mark.cluster(nodes=["A", "B", "C"])
        @pytest.mark.partition("A,B|C", "C->A")
        def test_partitioned(cluster, partition_spec, events):
            assert cluster.client("A").put("k", 1) is True
            with cluster.partitioned() as part:
                assert part.spec == partition_spec
                assert cluster.call("C", "send", "A", "x", 0.3) == "timeout"
            assert events == [("started", ["A", "B", "C"]), ("partition", partition_spec),
                              ("heal", None)]
            events.clear()
    """)
    result = toy.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_partitioned[[]A,B|C[]] PASSED*",
                                 "*test_partitioned[[]C->A[]] PASSED*"])


@pytest.mark.slow
def test_precedence_ini_then_command_line_then_marker(toy: pytest.Pytester) -> None:
    toy.makeini("[pytest]\npartition_nodes = 2\npartition_client_timeout = 0.7\n")
    toy.makepyfile("""
        import pytest

        def test_from_options(cluster, pytestconfig):
            expected = int(pytestconfig.getoption("partition_nodes") or 2)
            assert len(cluster.nodes) == expected
            assert cluster.client("n1").timeout == 0.7

        @pytest.mark.cluster(nodes=1, client_timeout=0.2)
        def test_marker_wins(cluster):
            assert list(cluster.nodes) == ["n1"]
            assert cluster.client("n1").timeout == 0.2
    """)
    toy.runpytest_subprocess().assert_outcomes(passed=2)
    toy.runpytest_subprocess("--partition-nodes=3").assert_outcomes(passed=2)


def test_failing_test_report_shows_node_logs_and_replay_command(toy: pytest.Pytester) -> None:
    toy.makepyfile(test_fails="""
        import pytest

        @pytest.mark.cluster(nodes=["A", "B"])
        @pytest.mark.partition("A|B")
        def test_broken(cluster):
            with cluster.partitioned():
                assert cluster.client("A").get("k") == "never"
    """)
    result = toy.runpytest_subprocess("--partition-seed=77")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*partition: log of node A (last lines)*",
        "toynode A serving on *",
        "*partition: log of node B (last lines)*",
        "*partition: replay*",
        "pytest 'test_fails.py::test_broken[[]A|B[]]' --partition-seed=77",
    ])


def test_cluster_factory_starts_several_clusters(toy: pytest.Pytester) -> None:
    toy.makepyfile("""
        def test_two(cluster_factory):
            small = cluster_factory(nodes=1)
            big = cluster_factory(nodes=["X", "Y", "Z"])
            assert list(small.nodes) == ["n1"] and list(big.nodes) == ["X", "Y", "Z"]
            assert small.seed != big.seed
            assert small.workdir != big.workdir
    """)
    toy.runpytest_subprocess().assert_outcomes(passed=1)


def test_node_start_failure_is_a_setup_error_naming_the_node(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        import sys
        import pytest

        @pytest.mark.cluster(nodes=2, command=[sys.executable, {str(TOY_NODE)!r},
                                               "--exit-early", "5"])
        def test_never_runs(cluster):
            pass
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([("*NodeStartError: node n?: exited before it was ready "
                                 "(exit code 5)*"), "*exiting early with 5 as asked*"])
    assert "cluster.py" not in result.stdout.str(), "no traceback of our internals"
    assert "During handling" not in result.stdout.str(), "no chained exception"
    # On CI (the CI variable set) pytest repeats the whole message in its short
    # summary, so count only in the error report itself.
    report = result.stdout.str().split("short test summary info")[0]
    assert report.count("exiting early with 5 as asked") == 1, "message once"
    # The node the error names is the one that exited first; the other may
    # have been stopped before it wrote anything, so only its log is read.
    named = result.stdout.str().split("NodeStartError: node ")[1].split(":")[0]
    logs = result.stdout.str().split("node logs: ")[1].split()[0]
    assert "exiting early with 5" in (Path(logs) / f"{named}.log").read_text()


@pytest.mark.slow
def test_runs_under_xdist_with_one_seed_and_no_port_clash(toy: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    toy.makepyfile("""
        import json, os
        import pytest
        from pytest_partition.plugin import SETTINGS

        @pytest.mark.parametrize("i", range(6))
        def test_many(cluster, i, pytestconfig):
            ports = [n.port for n in cluster.nodes.values()]
            links = [cluster.network.port(a, b) for a in cluster.names for b in cluster.names
                     if a != b]
            with open(f"run-{i}.json", "w") as f:
                json.dump({"seed": pytestconfig.stash[SETTINGS].seed,
                           "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                           "ports": ports + links}, f)
            with cluster.partitioned("n1|n2,n3"):
                assert cluster.call("n2", "send", "n3", "x") == "ok"
    """)
    result = toy.runpytest_subprocess("-n", "2", "--partition-seed=5")
    result.assert_outcomes(passed=6)
    runs = [json.loads(p.read_text()) for p in Path(toy.path).glob("run-*.json")]
    assert {r["seed"] for r in runs} == {5}
    assert len({r["worker"] for r in runs}) == 2


def test_subprocess_runs_import_the_package_under_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest_partition

        def test_where():
            print("package at", pytest_partition.__file__)
    """)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*package at {pytest_partition.__file__}*"])


def test_a_closer_marker_drops_a_farther_command_with_none() -> None:
    from pytest_partition.settings import (
        CLUSTER_MARKER_ARGS,
        OPTIONS,
        Settings,
        cluster_kwargs,
        merge_marker_args,
    )

    settings = Settings(**{o.name.replace("-", "_"): o.default for o in OPTIONS} | {"seed": 1})
    marks = [("@pytest.mark.cluster", (), {"bug": "stale-read", "command": None}),
             ("@pytest.mark.cluster of test_x.py", (3,), {"command": ["my-node"]})]
    kwargs = cluster_kwargs(merge_marker_args("cluster", marks, ("nodes",), CLUSTER_MARKER_ARGS),
                            settings)
    assert kwargs["bug"] == "stale-read" and kwargs["nodes"] == 3
    assert "command" not in kwargs, "the reference store, which plants the bug"
