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


@pytest.mark.skipif(not DANCER.is_file(), reason="shared data not available")
@pytest.mark.skipif(not has_mediapipe(), reason="the mediapipe extra is not installed")
@pytest.mark.parametrize("model", ["selfie", "pose"])
def test_a_run_prints_no_mediapipe_start_up_lines_into_the_progress_bar(tmp_path, model):
    """TFLite's and absl's start-up lines go to fd 2 from MediaPipe's own threads: the node drops them."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "graphrun", "stabilize_person", "--out", str(tmp_path / "run"),
                           "--set", f"vars.input={DANCER}", "source.max_frames=3", f"seg.model={model}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "frame/s" in proc.stderr or "3/3" in proc.stderr          # the progress bar itself is there
    for noise in ("XNNPACK delegate", "Feedback manager", "absl::InitializeLog", "W0000"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
