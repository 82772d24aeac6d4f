"""The README's graph example is a valid graph (docs that cannot rot silently)."""
import re
from pathlib import Path

import yaml

from graphrun.runtime import spec as spec_mod
from graphrun.runtime.graph import build

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_yaml_example_builds():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no yaml example"
    for text in blocks:
        spec = spec_mod.from_dict(yaml.safe_load(text))
        spec.device = "cpu"
        graph = build(spec)
        assert graph.sources()
