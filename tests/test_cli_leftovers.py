"""`dream` as a user new to it types it, the leftovers of tests/test_cli_sweep.py: each test here
failed (a flag silently not doing what it said, a file that was not ours replaced) before the fix
it guards."""
import json

import pytest

from dreamer.cli import main
from tests.test_unseen_inputs_engine import TINY, photo  # noqa: F401 - the fixture, shared

# The tiles engine at its smallest: one octave of one step.
TILES = ["--model", "tiny", "-q", "--seed", "5", "-c", "goldfish", "--octaves", "1", "--iterations", "1",
         "--tile-size", "64"]


# --- flags of the engine this run does not dream with -------------------------------------------


@pytest.fixture
def no_net(monkeypatch):
    import dreamer.render

    monkeypatch.setattr(dreamer.render, "create_model", lambda *a, **k: pytest.fail("the net was loaded"))


@pytest.mark.parametrize("flags,says", [
    (["--preset", "classic", "--steps", "300"], "--steps is the views engine's; --preset classic dreams with the "
     "tiles engine, which does not read it: leave it out (set --iterations per octave and --octaves instead), "
     "or use another --preset"),
    (["--method", "tiles", "--strength", "0.3", "--stop-seen", "0"], "--strength and --stop-seen are the views "
     "engine's; --method tiles dreams with the tiles engine"),
    (["--recipe", "TILES_RECIPE", "--lr", "0.1"], "--recipe TILES_RECIPE dreams with the tiles engine"),
    (["--iterations", "30", "--octaves", "2"], "--iterations and --octaves are the tiles engine's; this run (the "
     "default) dreams with the views engine, which does not read them: leave them out (set --steps instead), "
     "or use --method tiles"),
    (["--preset", "wild", "--sigma-start", "3"], "--preset wild dreams with the views engine"),
    (["--tile-size", "64"], "the views engine reads --tile-size only with --guide"),
])
def test_a_flag_of_the_engine_not_dreaming_is_refused(tmp_path, photo, capsys, no_net, flags, says):
    # Before: dropped without a word: `--preset classic --steps 300` dreamt the tiles engine's 3
    # octaves of 12 steps, `--iterations 30` a views dream of its 128 steps.
    tiles_recipe = tmp_path / "tiles.toml"
    tiles_recipe.write_text('method = "tiles"\nmodel = "tiny"\n')
    flags = [str(tiles_recipe) if f == "TILES_RECIPE" else f for f in flags]
    out = tmp_path / "x.png"
    assert main([str(photo), "--model", "tiny", "-q", "-c", "goldfish", *flags, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert says.replace("TILES_RECIPE", str(tiles_recipe)) in err, err
    assert not out.exists()


@pytest.mark.parametrize("flags", [
    TILES + ["--preset", "classic", "--jitter", "4", "--gradient", "mean"],
    TILES + ["--method", "tiles", "--sigma-start", "1"],
    [*TINY, "--preset", "wild", "--strength", "0.2", "--stop-seen", "0"],
    # a guide is seen at --tile-size by the views engine too (dreamer.plan.guide_activations)
    ["--model", "tiny", "--steps", "1", "-q", "--guide", "PHOTO", "--tile-size", "48"],
])
def test_each_engines_own_flags_still_dream(tmp_path, photo, flags):
    flags = [str(photo) if f == "PHOTO" else f for f in flags]
    out = tmp_path / "x.png"
    assert main([str(photo), *flags, "-o", str(out)]) == 0
    assert out.is_file()


def test_a_tiles_recipe_dreams_with_steps_under_method_views(tmp_path, photo):
    # The refusal's other way out: --method views over a tiles recipe reads --steps (the recipe's
    # own tiles settings are no flags, and are not refused).
    recipe = tmp_path / "r.json"
    assert main([str(photo), *TILES, "--method", "tiles", "-o", str(tmp_path / "t.png"),
                 "--save-recipe", str(recipe)]) == 0
    out = tmp_path / "v.png"
    assert main([str(photo), "--recipe", str(recipe), "-q", "--method", "views", "--steps", "1", "-o", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["recipe"]["steps"] == 1


# --- flags of the octaves a recipe's octave_plan sets -------------------------------------------


PLAN = {"method": "tiles", "model": "tiny", "tile_size": 64,
        "octave_plan": [{"scale": 0.5, "iterations": 1}, {"scale": 1.0, "iterations": 1}]}


@pytest.mark.parametrize("flags,says", [
    (["--octaves", "5"], "--octaves sets the octaves the tiles engine makes; --recipe R has an octave_plan, whose "
     "2 octave(s) are dreamt as it sets them: leave it out, or edit the octave_plan (its number of octaves)"),
    (["--octave-scale", "2", "--iterations", "3"], "--octave-scale and --iterations set the octaves the tiles "
     "engine makes; --recipe R has an octave_plan"),
])
def test_a_flag_of_the_octaves_a_recipes_plan_sets_is_refused(tmp_path, photo, capsys, no_net, flags, says):
    # Before: dropped without a word: the plan's 2 octaves were dreamt, their scales and steps as
    # the plan (and the recipe, filling it in) set them.
    recipe = tmp_path / "plan.json"
    recipe.write_text(json.dumps(PLAN))
    out = tmp_path / "x.png"
    assert main([str(photo), "-q", "-c", "goldfish", "--recipe", str(recipe), *flags, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert says.replace("--recipe R", f"--recipe {recipe}") in err, err
    assert not out.exists()


def test_a_recipes_plan_dreams_without_octave_flags(tmp_path, photo):
    # The refusal's way out, and no refusal for a plan the user did not flag (--seed is no octave's).
    recipe = tmp_path / "plan.json"
    recipe.write_text(json.dumps(PLAN))
    out = tmp_path / "x.png"
    assert main([str(photo), "-q", "-c", "goldfish", "--seed", "5", "--recipe", str(recipe), "-o", str(out)]) == 0
    assert len(json.loads(out.with_suffix(".json").read_text())["recipe"]["octave_plan"]) == 2


# --- a video or a GIF that is not ours ----------------------------------------------------------


def _film(path, tags=None):
    """A short video as another program would have made it (no recipe in its tags)."""
    from PIL import Image

    from dreamer.video import VideoWriter

    with VideoWriter(path, "mp4", (32, 24), 8, tags) as writer:
        for shade in (0, 120):
            writer.write(Image.new("RGB", (32, 24), (shade, 60, 200)))


@pytest.mark.parametrize("which", ["video", "preview", "a folder", "a dangling link"])
def test_a_video_or_preview_that_is_not_ours_is_kept(tmp_path, photo, capsys, no_net, which):
    # Before: `--video holiday.mp4` replaced the user's film once the dive was done, `--preview
    # cat.gif` any GIF; a photo of that name was refused (-o), a video not.
    from PIL import Image

    video, preview = tmp_path / "holiday.mp4", tmp_path / "cat.gif"
    if which == "video":
        _film(video, {"comment": "my holiday"})
    elif which == "preview":
        Image.new("RGB", (20, 10), (0, 90, 200)).save(preview)
    elif which == "a folder":
        video.mkdir()
    else:
        video.symlink_to(tmp_path / "gone.mp4")
    taken = preview if which == "preview" else video
    before = taken.read_bytes() if taken.is_file() else None
    args = [str(photo), *TINY, "--frames", "4", "--glide", "2", "--video", str(video), "--preview", str(preview)]
    assert main(args) == 2
    flag = "--preview" if which == "preview" else "--video"
    err = capsys.readouterr().err
    assert f"{flag} {taken} is there already and is no dive" in err and "choose another name" in err, err
    assert (taken.read_bytes() if taken.is_file() else None) == before
    assert not (tmp_path / "holiday.json").exists() and not (tmp_path / "holiday.mp4.parts").exists()


def test_a_preview_that_is_a_named_pipe_is_refused_at_once(tmp_path, photo, capsys, no_net):
    # Before: `--preview fifo.gif` hung for ever in Image.open, waiting for a writer.
    import os
    import threading

    preview = tmp_path / "fifo.gif"
    os.mkfifo(preview)
    args = [str(photo), *TINY, "--frames", "4", "--glide", "2", "--video", str(tmp_path / "d.mp4"),
            "--preview", str(preview)]
    got: list[int] = []
    run = threading.Thread(target=lambda: got.append(main(args)), daemon=True)
    run.start()
    run.join(30)
    if run.is_alive():  # let the hung reader go (a writer opens and closes), then fail
        os.close(os.open(preview, os.O_WRONLY | os.O_NONBLOCK))
        run.join(10)
        pytest.fail("the CLI hung on the named pipe")
    assert got == [2]
    assert f"--preview {preview} is there already and is no dive's preview" in capsys.readouterr().err


def test_a_dive_of_ours_is_made_again_over_preview_and_all(tmp_path, photo):
    video, preview = tmp_path / "dive.mp4", tmp_path / "dive.gif"
    args = [str(photo), *TINY, "--frames", "4", "--glide", "2", "--video", str(video), "--preview", str(preview)]
    assert main(args) == 0
    first = json.loads((tmp_path / "dive.json").read_text())["recipe"]["seed"]
    assert main([*args, "--seed", "6"]) == 0  # its own dive: made again, its preview too
    assert json.loads((tmp_path / "dive.json").read_text())["recipe"]["seed"] == 6 != first
    # a frame dive's dive.gif is ours too, and may be a video dive's preview
    assert main([str(photo), *TINY, "--frames", "2", "-o", str(tmp_path / "frames")]) == 0
    assert main([*args[:-1], str(tmp_path / "frames" / "dive.gif")]) == 0


# --- what a dream of a mode without classes records --------------------------------------------


@pytest.mark.parametrize("dive", [False, True])
def test_a_recipe_of_a_mode_without_classes_records_no_class_names(tmp_path, photo, dive):
    # Before: a deepdream recipe that carried classes (a bot's post recorded them) named them in
    # the picture's or the dive's class_names, as if they had been dreamt.
    from dreamer.video import read_video_metadata

    recipe = tmp_path / "deep.toml"
    recipe.write_text('model = "tiny"\nmode = "deepdream"\nlayer = "conv2"\nsteps = 1\n[classes]\ngoldfish = 1.0\n')
    out = tmp_path / ("dive.mp4" if dive else "x.png")
    flags = ["--frames", "3", "--glide", "2", "--video", str(out)] if dive else ["-o", str(out)]
    assert main([str(photo), "--recipe", str(recipe), "-q", *flags]) == 0
    recorded = [json.loads(out.with_suffix(".json").read_text())["recipe"]]
    if dive:
        recorded.append(read_video_metadata(out)["recipe"])
    for meta in recorded:
        assert meta["mode"] == "deepdream" and meta.get("class_names", {}) == {}, meta
    # a lucid dream names its classes as before
    assert main([str(photo), *TINY, "-o", str(tmp_path / "g.png")]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["recipe"]["class_names"] == {"1": "goldfish"}
