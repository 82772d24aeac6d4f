"""The command line about input files: hints for --set source.path, validate checks the files, the system's words."""
from pathlib import Path

import pytest

from graphrun.runtime import GraphError
from graphrun.runtime.errors import without_errno
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.run import load_graph

STABILIZE = Path(__file__).resolve().parents[1] / "graphs" / "stabilize.yaml"


def test_a_path_set_on_a_source_that_reads_no_file_hints_at_video_file():
    with pytest.raises(GraphError, match=r"unknown parameter 'path' \(synthetic_scene reads no file: "
                                         r"--set source.kind=video_file source.path=\.\.\."):
        load_graph(STABILIZE, ["source.path=my.mp4"])


def test_validate_checks_that_the_input_files_exist(tmp_path, capsys):
    missing = tmp_path / "nowhere.mp4"
    assert main(["validate", str(STABILIZE), "--set", "source.kind=video_file", f"source.path={missing}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"graphrun: error: node 'source' (video_file): path: {missing}: no such file or folder"]
    assert main(["validate", str(STABILIZE), "--set", "source.kind=video_file", f"source.path={tmp_path}"]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
    assert main(["validate", str(STABILIZE), "--set", "source.kind=image_folder", f"source.path={missing}"]) == 2
    assert "node 'source' (image_folder): path" in capsys.readouterr().err


def test_validate_accepts_a_graph_whose_inputs_are_there(tmp_path, capsys):
    import media
    video = media.make_mkv(tmp_path / "clip.mkv", n=3)
    assert main(["validate", str(STABILIZE), "--set", "source.kind=video_file", f"source.path={video}"]) == 0
    assert ": ok" in capsys.readouterr().out


def test_errors_show_the_systems_words_not_errno_numbers():
    assert without_errno("node 'out.report' failed at end of stream: PermissionError: [Errno 13] Permission denied: "
                     "'/x/report.html'") == ("node 'out.report' failed at end of stream: PermissionError: "
                                             "Permission denied: '/x/report.html'")


def test_a_node_that_cannot_write_its_output_says_so_in_the_systems_words(tmp_path):
    from graphrun.runtime.errors import UserInputError
    from graphrun.runtime.testing import Harness

    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("a file")
    with pytest.raises(UserInputError) as err:
        Harness("metrics", out_dir=str(not_a_folder)).setup()
    assert str(err.value) == f"metrics 'metrics': cannot write {not_a_folder}: File exists"
