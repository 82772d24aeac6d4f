"""The YAML graph file, plugins and the graphrun command line."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from graphrun.runtime import GraphError, NodeError, registry
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.run import load_graph, run_graph

import runtime_nodes  # noqa: F401

TESTS = Path(__file__).resolve().parent


def write(tmp_path, text, name="g.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


GRAPH = """\
name: small
plugins: [runtime_nodes]
nodes:
  src: {kind: test_count, params: {n: 4}}
  sink: {kind: test_collect}
edges:
  - src.out -> sink.x
"""


def test_yaml_errors_say_file_and_line(tmp_path):
    p = write(tmp_path, """\
    nodes:
      src: {kind: test_count}
      sink:
        kind: test_collect
        workerz: 2
    edges: []
    """)
    with pytest.raises(GraphError, match=r"g\.yaml:5: node 'sink': unknown key 'workerz' \(did you mean 'workers'\?\)"):
        load_graph(p)


def test_duplicate_node_names_are_rejected(tmp_path):
    p = write(tmp_path, "nodes:\n  a: {kind: test_count}\n  a: {kind: test_collect}\nedges: []\n")
    with pytest.raises(GraphError, match="g.yaml:3: duplicate key 'a'"):
        load_graph(p)


def test_yaml_is_never_evaluated_as_code(tmp_path):
    p = write(tmp_path, "nodes: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(GraphError, match="not valid YAML"):
        load_graph(p)


def test_plugin_loaded_from_a_py_file_named_in_yaml(tmp_path):
    (tmp_path / "my_nodes.py").write_text(textwrap.dedent('''
        from graphrun.runtime import Node, Input, Output, register
        from graphrun.runtime.types import SCALAR

        @register("test_plugin_negate")
        class Negate(Node):
            """Negate a number."""
            x = Input(SCALAR)
            out = Output(SCALAR)

            def process(self, ctx, x):
                return {"out": -x}
    '''))
    p = write(tmp_path, """\
    plugins: [runtime_nodes, ./my_nodes.py]
    nodes:
      src: {kind: test_count, params: {n: 3}}
      neg: test_plugin_negate
      sink: test_collect
    edges:
      - src.out -> neg.x
      - neg.out -> sink.x
    """)
    run_graph(p)
    assert [v for _, v, *_ in runtime_nodes.Collect.seen["sink"]] == [-0.0, -1.0, -2.0]


def test_missing_plugin_file_is_a_clear_error(tmp_path):
    p = write(tmp_path, "plugins: [./nope.py]\nnodes: {src: test_count}\nedges: []\n")
    with pytest.raises(GraphError, match="plugin file not found.*nope.py"):
        load_graph(p)


def test_entry_point_plugins_register_their_nodes(monkeypatch):
    class FakeEP:
        name = "test_from_entry_point"

        def load(self):
            from runtime_nodes import Add
            return type("EPAdd", (Add,), {"__doc__": "Entry point node."})

    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    import importlib.metadata as md
    monkeypatch.setattr(md, "entry_points",
                        lambda group=None: [FakeEP()] if group == registry.ENTRY_POINT_GROUP else [])
    assert registry.get("test_from_entry_point").describe() == "Entry point node."


def test_cli_validate_list_inspect_and_dot(tmp_path, capsys):
    p = write(tmp_path, GRAPH)
    assert main(["validate", str(p)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["list"]) == 0
    assert "test_count" in capsys.readouterr().out
    assert main(["inspect", "test_count"]) == 0
    out = capsys.readouterr().out
    assert "out" in out and "scalar" in out and "fail_at" in out and "default 10" in out
    assert main(["dot", str(p)]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "small"') and '"src" -> "sink"' in dot and "scalar" in dot


def test_list_shows_every_shipped_graph_with_one_line_beside_nodes_and_subgraphs(capsys):
    from graphrun.runtime.registry import shipped_graphs_dir
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    graphs_part, _, rest = out.partition("\nnodes")
    shipped = sorted(p.stem for p in shipped_graphs_dir().glob("*.yaml"))
    assert len(shipped) >= 5
    for name in shipped:
        line = next(ln for ln in graphs_part.splitlines() if ln.split()[:1] == [name])
        assert len(line.split(None, 1)[1]) > 10               # a real description, not a placeholder
    assert "(no description)" not in graphs_part and "unreadable" not in graphs_part
    assert "bg_subtract" in rest and "\nsubgraphs" in rest and "stabilizer" in rest.partition("\nsubgraphs")[2]


def test_graph_summary_takes_the_description_else_the_comments_first_sentence(tmp_path):
    from graphrun.runtime.frontends.cli import graph_summary
    described = tmp_path / "a.yaml"
    described.write_text("# comment\nname: a\ndescription: what a does\nnodes: {}\n")
    commented = tmp_path / "b.yaml"
    commented.write_text("# First sentence. Second one\n# goes on.\n#\n# Usage line.\nname: b\n")
    assert graph_summary(described) == "what a does"
    assert graph_summary(commented) == "First sentence."


def test_help_ends_with_examples_that_work(capsys):
    import shlex
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    examples = out.partition("examples:")[2]
    assert examples, "graphrun --help has no examples"
    commands = [shlex.split(ln.strip().split("  ")[0])[1:] for ln in examples.splitlines()
                if ln.strip().startswith("graphrun ")]
    kinds = {c[0] for c in commands}
    assert {"launch", "batch", "list"} <= kinds and any("--set" in c for c in commands)
    for argv in commands:                  # each checked without running: validate, --print-yaml
        if argv[0] == "launch":
            assert main(["launch", argv[1], "--print-yaml"]) == 0
        elif argv[0] == "batch":
            assert main(["validate", argv[1]]) == 0
        elif argv[0] not in ("list", "inspect"):
            rest = [a for a in argv if a != "--out" and not a.startswith("runs/")]
            assert main(["validate", *rest]) == 0, argv
        capsys.readouterr()


def test_cli_run_prints_summary_and_writes_stats(tmp_path, capsys):
    p = write(tmp_path, GRAPH)
    code = main([str(p), "--set", "src.n=3", "--out", str(tmp_path / "out"), "--stats", str(tmp_path / "s.json"), "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "3 frames" in out and "sink" in out
    assert (tmp_path / "s.json").exists()


def test_cli_user_error_is_one_line_and_nonzero(tmp_path, capsys):
    p = write(tmp_path, GRAPH.replace("test_collect", "test_colect"))
    assert main([str(p), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'test_collect'" in err[0] and "Traceback" not in err[0]
    assert main(["nope.yaml"]) == 2
    assert "graph file not found: nope.yaml" in capsys.readouterr().err


def test_cli_node_failure_exits_nonzero_with_node_and_frame(tmp_path, capsys):
    p = write(tmp_path, """\
    plugins: [runtime_nodes]
    nodes:
      src: {kind: test_count, params: {n: 50}}
      slow: {kind: test_slow, params: {fail_at: 5}}
      sink: test_collect
    edges: [src.out -> slow.x, slow.out -> sink.x]
    """)
    assert main([str(p), "-q", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "node 'slow' failed at frame 5: ValueError: boom" in err and "Traceback" not in err


def test_sigint_drains_the_graph_and_prints_the_summary(tmp_path):
    p = write(tmp_path, """\
    plugins: [runtime_nodes]
    nodes:
      src: {kind: test_count, params: {n: 100000, fps: 200}}
      slow: {kind: test_slow, params: {delay: 0.002, marker: MARKER}}
      sink: test_collect
    edges: [src.out -> slow.x, slow.out -> sink.x]
    """.replace("MARKER", str(tmp_path / "started")))
    env = dict(os.environ, PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "graphrun.runtime.frontends.cli", str(p), "-q", "--mode", "realtime",
                             "--out", str(tmp_path / "o")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)          # let some frames flow
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "realtime:" in out and "frames" in out


def test_changing_a_nodes_kind_starts_from_the_new_kinds_defaults(tmp_path):
    p = write(tmp_path, GRAPH.replace("{kind: test_count, params: {n: 4}}",
                                      "{kind: test_count, params: {n: 4, fps: 5}}"))
    g = load_graph(p, overrides=["src.n=2", "src.kind=test_count"])
    assert g.nodes["src"].params.n == 2 and g.nodes["src"].params.fps == 5
    with pytest.raises(GraphError, match="unknown parameter 'n'"):
        load_graph(p, overrides=["src.n=2", "src.kind=test_collect"])
    from graphrun.runtime import spec as spec_mod
    s = spec_mod.load(p)
    spec_mod.apply_overrides(s, ["src.delay=0.5", "src.kind=test_slow"])
    assert s.nodes["src"].kind == "test_slow" and s.nodes["src"].params == {"delay": 0.5}


def test_graph_variables_fill_parameters_and_can_be_set_from_the_command_line(tmp_path):
    p = write(tmp_path, """\
    vars: {count: 4}
    plugins: [runtime_nodes]
    nodes:
      src: {kind: test_count, params: {n: 2}}
      sink: {kind: test_slow, params: {delay: 0}}
      out: test_collect
    edges: [src.out -> sink.x, sink.out -> out.x]
    """)
    from graphrun.runtime import spec as spec_mod
    s = spec_mod.load(p)
    s.nodes["src"].params["name"] = "${graph_dir}/${count}"
    spec_mod.apply_overrides(s, ["vars.count=7"])
    spec_mod.substitute_vars(s)
    assert s.nodes["src"].params["name"] == f"{tmp_path.resolve()}/7"
    s.nodes["src"].params["name"] = "${cuont}"
    with pytest.raises(GraphError, match=r"\$\{cuont\}.*did you mean 'count'"):
        spec_mod.substitute_vars(s)


def test_changing_a_kind_drops_edges_from_ports_it_lacks_into_optional_inputs(tmp_path):
    p = write(tmp_path, """\
    plugins: [runtime_nodes]
    nodes:
      src: {kind: test_count, params: {n: 3}}
      extra: {kind: test_count, params: {n: 3}}
      add: test_add
      sink: test_collect
    edges: [src.out -> add.a, extra.out -> add.b, add.out -> sink.x]
    """)
    g = load_graph(p, overrides=["extra.kind=test_value_source"])
    assert [str(e) for e in g.edges] == ["src.out -> add.a", "add.out -> sink.x"]
    with pytest.raises(GraphError, match="has no output 'out'"):
        load_graph(p, overrides=["src.kind=test_value_source"])     # add.a is required


def test_realtime_options_can_be_set_from_the_command_line(tmp_path):
    p = write(tmp_path, GRAPH)
    assert load_graph(p, overrides=["realtime.max_in_flight=3"]).spec.realtime["max_in_flight"] == 3
    with pytest.raises(GraphError, match="unknown realtime option 'max_inflight'.*max_in_flight"):
        load_graph(p, overrides=["realtime.max_inflight=3"])
    with pytest.raises(GraphError, match="realtime.speed must be a positive number"):
        load_graph(p, overrides=["realtime.speed=fast"])


def test_library_threads_can_be_set_from_the_command_line(tmp_path):
    p = write(tmp_path, GRAPH)
    assert load_graph(p, overrides=["threads.torch=1", "threads.opencv=2"]).spec.threads == {"torch": 1, "opencv": 2}
    with pytest.raises(GraphError, match="unknown threads key 'tourch'.*did you mean 'torch'"):
        load_graph(p, overrides=["threads.tourch=1"])
    with pytest.raises(GraphError, match="threads.opencv must be a positive integer"):
        load_graph(p, overrides=["threads.opencv=0"])


@pytest.mark.parametrize("executor", ["fused", "per_node", "inline"])
def test_a_second_sigint_ends_a_run_whose_node_hangs_within_two_seconds(tmp_path, executor):
    p = write(tmp_path, """\
    plugins: [runtime_nodes]
    nodes:
      src: {kind: test_count, params: {n: 100000}}
      stuck: {kind: test_hang, params: {at: 3, marker: MARKER}}
      sink: test_collect
    edges: [src.out -> stuck.x, stuck.out -> sink.x]
    """.replace("MARKER", str(tmp_path / "hung")))
    env = dict(os.environ, PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "graphrun", str(p), "-q", "--executor", executor,
                             "--out", str(tmp_path / "o")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    while not (tmp_path / "hung").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)          # drain: the stuck node never returns
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)          # stop at once
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 130, err
    assert "stopped at once" in err and "Traceback" not in err
    assert "partial" in (tmp_path / "o" / "FAILED.txt").read_text()


def test_a_run_replaces_the_previous_outputs_whole_and_a_failed_run_says_so(tmp_path):
    out = tmp_path / "o"
    p = write(tmp_path, GRAPH)
    run_graph(p, out_dir=out)
    (out / ".graphrun").write_text((out / ".graphrun").read_text() + "stale_from_an_older_run.png\n")
    (out / "stale_from_an_older_run.png").write_text("old")    # as if an older run had written it
    run_graph(p, out_dir=out)
    assert [f.name for f in out.iterdir()] == [".graphrun"]    # nothing of the older run survives
    failing = write(tmp_path, GRAPH.replace("sink: {kind: test_collect}", "sink: {kind: test_slow, params: "
                                            "{fail_at: 2}}").replace("src.out -> sink.x", "src.out -> sink.x"),
                    name="f.yaml")
    with pytest.raises(NodeError):
        run_graph(failing, out_dir=out)
    text = (out / "FAILED.txt").read_text()
    assert "failed at frame 2" in text and "frames completed: 2" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]     # no staging or lock left


def test_a_second_run_into_an_out_in_use_is_refused(tmp_path):
    from graphrun.runtime.outdir import OutputFolder
    first = OutputFolder(tmp_path / "o")
    first.open()
    try:
        with pytest.raises(GraphError, match="another graphrun run .*is writing there"):
            run_graph(write(tmp_path, GRAPH), out_dir=tmp_path / "o")
    finally:
        first.close()
    run_graph(write(tmp_path, GRAPH), out_dir=tmp_path / "o")      # free again


def test_out_that_is_a_file_or_not_writable_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    p = write(tmp_path, GRAPH)
    assert main([str(p), "-q", "--out", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "afile: is a file" in err[0]
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert main([str(p), "-q", "--out", str(ro / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Permission denied" in err[0] and "Errno" not in err[0]
    finally:
        ro.chmod(0o700)


def test_ctrl_c_while_the_command_starts_is_one_line_and_exit_130(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "graphrun", "stabilize", "-q", "--out", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)                          # still importing torch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["graphrun: interrupted"]


def test_a_closed_pipe_ends_the_listing_quietly():
    proc = subprocess.run(f"{sys.executable} -m graphrun list | head -1", shell=True, capture_output=True, text=True)
    assert len(proc.stdout.splitlines()) == 1 and "Error" not in proc.stderr and "Traceback" not in proc.stderr
