"""Every graph shipped in graphs/ builds: nodes exist, parameters validate, links type-check."""
from pathlib import Path

import pytest

from graphrun.runtime.run import load_graph

GRAPHS = sorted((Path(__file__).resolve().parents[1] / "graphs").glob("*.yaml"))


@pytest.mark.parametrize("path", GRAPHS, ids=[p.stem for p in GRAPHS])
def test_shipped_graph_builds(path):
    graph = load_graph(path, device="cpu")
    assert graph.sources()
