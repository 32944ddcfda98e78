"""`dream … --frames N -o FOLDER` writes only into a new or empty folder, or one of its own
frames (cli_dive.check_frames_folder). Before, it wrote into any folder: a user's
frame_00000.png or dive.gif was replaced, and their photos got a dive's frames mixed in."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from dreamer.cli import main
from tests.test_unseen_inputs_engine import TINY, photo  # noqa: F401 - the fixture, shared


@pytest.fixture
def no_net(monkeypatch):
    """A refusal must come before any net is loaded."""
    import dreamer.render as render

    monkeypatch.setattr(render, "load_net", lambda *a, **k: pytest.fail("the net was loaded"))


def _users_folder(tmp_path):
    folder = tmp_path / "holiday"
    folder.mkdir()
    Image.new("RGB", (40, 30), (10, 120, 40)).save(folder / "beach.jpg")
    # what `ffmpeg -i film.mp4 frame_%05d.png` names its frames: ours by name, not by mark
    Image.new("RGB", (40, 30), (90, 20, 140)).save(folder / "frame_00000.png")
    return folder, {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_frame_dive_into_a_folder_of_the_users_is_refused_before_the_net_loads(tmp_path, photo, capsys, no_net):
    folder, before = _users_folder(tmp_path)
    assert main([str(photo), *TINY, "--frames", "2", "-o", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dream: error:" in err
    assert f"--output {folder} holds files dream cannot tell for its own (beach.jpg, frame_00000.png) (a " \
        "frame_NNNNN.png without dream's mark: another program's, or from a version of dream before frames " \
        "were marked); a dive writes" in err
    assert f"name another folder (e.g. -o {tmp_path / 'holiday-2'}/), or move those files" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # untouched, nothing added


@pytest.mark.parametrize("name", ["dive.gif", "recipe.json", "notes"])
def test_a_users_file_of_a_dives_own_name_or_a_subfolder_is_refused_too(tmp_path, photo, capsys, no_net, name):
    folder = tmp_path / "frames"
    folder.mkdir()
    if name == "dive.gif":
        Image.new("RGB", (40, 30), (1, 2, 3)).save(folder / name)  # a GIF, not one we wrote
    elif name == "recipe.json":
        (folder / name).write_text('{"steps": 3}')  # a recipe the user wrote
    else:
        (folder / name).mkdir()
    assert main([str(photo), *TINY, "--frames", "2", "-o", str(folder)]) == 2
    assert f"({name})" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == [name]


def test_a_frame_dive_goes_again_into_a_folder_of_its_own_frames(tmp_path, photo, capsys):
    folder = tmp_path / "dive"
    args = [str(photo), *TINY, "--frames", "3", "-o", str(folder)]
    assert main(args) == 0
    (folder / ".DS_Store").write_bytes(b"\0")  # the Finder's, written into any folder it shows
    assert main([*args, "--seed", "9"]) == 0  # made again over its own frames
    assert json.loads((folder / "recipe.json").read_text())["recipe"]["seed"] == 9
    assert sorted(p.name for p in folder.iterdir()) == [
        ".DS_Store", "dive.gif", "frame_00000.png", "frame_00001.png", "frame_00002.png", "recipe.json"]
    # and resumed: the last frame gone, the same dive goes on from it
    (folder / "frame_00002.png").unlink()
    assert main([*args, "--seed", "9", "--start-frame", "2"]) == 0
    assert (folder / "frame_00002.png").is_file()
    # its recipe.json is still a recipe --recipe reads, named by its folder
    assert main([str(photo), "--recipe", str(folder), "-q", "--frames", "1", "-o", str(tmp_path / "one.png")]) == 0


def test_a_frame_dive_into_the_current_folder_of_the_users_is_refused_with_a_folder_to_use(
        tmp_path, photo, capsys, no_net, monkeypatch):
    """`-o .` has no name of its own: the suggestion was made from it and failed with
    "PosixPath('.') has an empty name", telling the user nothing."""
    folder, before = _users_folder(tmp_path)
    monkeypatch.chdir(folder)
    assert main([str(photo), *TINY, "--frames", "2", "-o", "."]) == 2
    err = capsys.readouterr().err
    assert "holds files dream cannot tell for its own (beach.jpg, frame_00000.png)" in err
    assert f"(e.g. -o {tmp_path / 'holiday-2'}/)" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
