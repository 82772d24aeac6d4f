"""graphs/stabilize_person.yaml: a user's own person video, moving camera, stabilized with no download."""
from pathlib import Path

import numpy as np
import pytest

import graphrun
from graphrun.nodes.models.mediapipe_person import import_solutions
from graphrun.runtime.errors import UserInputError

DANCER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos" / "dancer.mp4"


def has_mediapipe() -> bool:
    try:
        import_solutions()
    except UserInputError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not DANCER.is_file(), reason="shared data not available")
@pytest.mark.skipif(not has_mediapipe(), reason="the mediapipe extra is not installed")
def test_the_person_graph_gives_dancer_mp4_a_stable_non_empty_person_mask(tmp_path):
    from PIL import Image
    result = graphrun.load("stabilize_person", set=[f"vars.input={DANCER}"]).run(out=tmp_path / "run")
    m = result.results["metrics"]
    assert result.stats["frames"] == 117
    stabilized = sorted((tmp_path / "run" / "masks" / "stabilized").glob("*.png"))
    area = np.array([(np.array(Image.open(f)) > 0).mean() for f in stabilized])
    assert len(stabilized) == 117 and (area > 0.05).all()          # the dancer on every frame
    assert m["stabilized"]["warp_iou"] > m["raw"]["warp_iou"]
    assert m["stabilized"]["fidelity"] > 0.9
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "overlay.mp4").is_file()
