"""The README's examples work (docs that cannot rot silently)."""
import re
from pathlib import Path

import yaml

from graphrun.runtime import spec as spec_mod
from graphrun.runtime.run import build_spec

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_readme_yaml_examples_build():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no yaml example"
    for text in blocks:
        spec = spec_mod.from_dict(yaml.safe_load(text))
        graph = build_spec(spec, device="cpu")
        assert graph.sources()


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    code = re.findall(r"```python\n(.*?)```", section("Python API"), flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)
    assert (tmp_path / "mine.yaml").exists() and (tmp_path / "runs" / "demo" / "metrics.json").exists()
    assert len(namespace["masks"]) == 5
