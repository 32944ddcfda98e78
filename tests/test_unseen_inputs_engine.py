"""Inputs to the engine and the `dream` command that nobody had tried: each test here failed (a
traceback, a lost file or a wrong result) before the fix it guards."""
import json

import pytest
from PIL import Image

from dreamer.cli import main, plan_outputs
from dreamer.recipe import Recipe

TINY = ["--model", "tiny", "--steps", "1", "-q", "--seed", "5", "-c", "goldfish"]


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(p)
    return p


# --- outputs that would have replaced a file ------------------------------------------------------


def test_two_photos_of_one_name_get_two_outputs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "cat.png", tmp_path / "b" / "cat.png"
    Image.new("RGB", (40, 30), (250, 0, 0)).save(a)
    Image.new("RGB", (40, 30), (0, 0, 250)).save(b)
    out = tmp_path / "out"
    outputs = plan_outputs([a, b], out, "png", False, Recipe.from_flat(classes={"1": 1.0}, seed=5))
    assert len(set(outputs)) == 2
    assert main([str(a), str(b), "-o", f"{out}/", "--format", "png", *TINY]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["cat_goldfish_s5-2.png", "cat_goldfish_s5.png"]


def test_a_new_format_does_not_take_an_earlier_dreams_sidecar(tmp_path, photo):
    out = tmp_path / "out"
    assert main([str(photo), "-o", f"{out}/", "--format", "png", *TINY]) == 0
    first = json.loads((out / "photo_goldfish_s5.json").read_text())
    assert main([str(photo), "-o", f"{out}/", "--format", "jpg", *TINY, "--strength", "0.3"]) == 0
    # The jpg is named apart, so the png keeps its own recipe beside it.
    assert (out / "photo_goldfish_s5-2.jpg").is_file()
    assert json.loads((out / "photo_goldfish_s5.json").read_text())["recipe"] == first["recipe"]
    assert json.loads((out / "photo_goldfish_s5-2.json").read_text())["recipe"]["strength"] == 0.3


def test_output_that_is_the_input_photo_is_refused(photo):
    before = photo.read_bytes()
    assert main([str(photo), "-o", str(photo), *TINY]) == 2
    assert photo.read_bytes() == before


def test_output_whose_sidecar_is_someone_elses_json_is_refused(tmp_path, photo, capsys):
    credits = tmp_path / "dream.json"  # a photo's credits, as photos/*.json and the folder source keep them
    credits.write_text('{"title": "Chelsea the cat", "author": "someone"}')
    assert main([str(photo), "-o", str(tmp_path / "dream.png"), *TINY]) == 2
    assert "dream.json" in capsys.readouterr().err
    assert credits.read_text() == '{"title": "Chelsea the cat", "author": "someone"}'
    assert not (tmp_path / "dream.png").exists()


def test_save_image_keeps_a_foreign_sidecar_and_replaces_its_own(tmp_path):
    from dreamer.image_io import ImageError, save_image

    picture = Image.new("RGB", (8, 8))
    (tmp_path / "x.json").write_text("my notes")
    with pytest.raises(ImageError, match="x.json"):
        save_image(picture, tmp_path / "x.png", {"seed": 1})
    assert (tmp_path / "x.json").read_text() == "my notes"
    save_image(picture, tmp_path / "y.png", {"seed": 1})
    save_image(picture, tmp_path / "y.png", {"seed": 2})  # a dream made again under its own name
    assert json.loads((tmp_path / "y.json").read_text())["recipe"] == {"seed": 2}
    save_image(picture, tmp_path / "x.png")  # no recipe, no sidecar written: nothing to refuse


def test_video_whose_sidecar_is_someone_elses_json_is_refused_before_dreaming(tmp_path, photo):
    (tmp_path / "dive.json").write_text("[]")
    assert main([str(photo), "--video", str(tmp_path / "dive.mp4"), "--frames", "2", *TINY]) == 2
    assert (tmp_path / "dive.json").read_text() == "[]"
    assert not (tmp_path / "dive.mp4.parts").exists()


def test_dive_video_refuses_to_replace_a_foreign_sidecar_before_any_work(tmp_path):
    from dreamer.dive import dive_video
    from dreamer.image_io import ImageError

    (tmp_path / "dive.json").write_text("notes")
    recipe = Recipe.from_flat(model="tiny", classes={"1": 1.0}, steps=1, frames=2)
    with pytest.raises(ImageError, match="dive.json"):
        dive_video(Image.new("RGB", (40, 30)), recipe, tmp_path / "dive.mp4")
    assert (tmp_path / "dive.json").read_text() == "notes"


# --- recipes whose values used to fail deep in the render ------------------------------------------


@pytest.mark.parametrize("plan, says", [
    (5, "octave_plan = 5"),
    ({"scale": 1}, "must be a list of tables"),
    (0, "octave_plan = 0"), ("", "must be a list of tables"), ({}, "must be a list of tables"),
    ([{"scale": 1, "sigma_start": "a"}], "octave_plan[0].sigma_start"),
    ([{"scale": 1, "step_end": float("nan")}], "octave_plan[0].step_end"),
    ([{"scale": 1, "layer": 5}], "octave_plan[0].layer"),
])
def test_bad_octave_plans_are_recipe_errors(plan, says):
    from dreamer.presets import preset
    from dreamer.recipe import RecipeError

    with pytest.raises(RecipeError) as err:
        Recipe.from_dict({"method": "tiles", "classes": {"1": 1}, "octave_plan": plan})
    assert says in str(err.value)
    with pytest.raises(RecipeError):
        preset("classic", octave_plan=plan)


def test_a_bad_octave_plan_in_a_recipe_file_is_a_clear_cli_error(tmp_path, photo, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text('method = "tiles"\noctave_plan = [{scale = 1, sigma_start = "a", iterations = 1}]\n')
    assert main([str(photo), "--recipe", str(recipe), "-o", str(tmp_path / "o.png"), *TINY]) == 2
    assert "octave_plan[0].sigma_start" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 10**30])
def test_a_seed_torch_cannot_take_is_refused_with_its_range(seed):
    from dreamer.recipe import RecipeError

    with pytest.raises(RecipeError, match="seed"):
        Recipe.from_flat(seed=seed)


def test_the_largest_seeds_torch_takes_still_dream_a_dive_included(tmp_path, photo):
    # Seeds of 2**63 and up dreamt before the range was checked: their pictures must replay.
    from dreamer.recipe import SEED_MAX, SEED_MIN, RecipeError

    Recipe.from_flat(seed=SEED_MIN)
    with pytest.raises(RecipeError, match="seed"):  # its second frame would dream with SEED_MAX + 1
        Recipe.from_flat(seed=SEED_MAX, frames=2)
    out = tmp_path / "dive"
    assert main([str(photo), "-o", str(out), *TINY, "--seed", str(SEED_MAX - 1), "--frames", "2"]) == 0
    assert len(list(out.glob("frame_*.png"))) == 2
    assert main([str(photo), "-o", str(tmp_path / "one.png"), *TINY, "--seed", str(SEED_MAX)]) == 0


# --- command-line values that ended in "internal error" ------------------------------------------


@pytest.mark.parametrize("model", ["tiny", "efficientnet-lite0"])
@pytest.mark.parametrize("content", [b"", b"hello\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40], ids=["empty", "text", "png"])
def test_a_file_that_is_not_weights_is_a_clear_error(tmp_path, photo, capsys, model, content):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(content)
    assert main([str(photo), "--weights", str(weights), "-o", str(tmp_path / "o.png"), *TINY, "--model", model]) == 2
    err = capsys.readouterr().err
    assert "weights.pt" in err and "not a PyTorch state dict" in err


@pytest.mark.parametrize("model", ["tiny", "efficientnet-lite0"])
def test_weights_that_cannot_be_read_say_so_not_that_they_are_no_state_dict(tmp_path, model):
    from models import ModelError, create_model

    with pytest.raises(ModelError) as err:
        create_model(model, weights=str(tmp_path / "missing.pt"))
    assert "missing.pt" in str(err.value) and "state dict" not in str(err.value)


@pytest.mark.parametrize("device", ["meta", "mps", "xpu"])
def test_a_device_type_the_engine_does_not_run_on_is_refused(tmp_path, photo, capsys, device):
    from dreamer.recipe import RecipeError
    from dreamer.render import pick_device

    with pytest.raises(RecipeError, match="cpu or cuda"):
        pick_device(device)
    assert main([str(photo), "--device", device, "-o", str(tmp_path / "o.png"), *TINY]) == 2
    assert "cpu or cuda" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--start-frame", "3"], ["--start-frame", "-3", "--frames", "2"]],
                         ids=["no-dive", "negative"])
def test_a_start_frame_outside_a_dive_is_refused(tmp_path, photo, capsys, extra):
    out = tmp_path / "out"
    assert main([str(photo), "-o", str(out), *TINY, *extra]) == 2
    assert "--start-frame" in capsys.readouterr().err
    assert not out.exists()


def test_dive_refuses_a_negative_start_frame(tmp_path):
    from dreamer.animate import dive

    with pytest.raises(ValueError, match="start_frame -1"):
        dive(Image.new("RGB", (40, 30)), Recipe.from_flat(model="tiny", classes={"1": 1.0}, steps=1, frames=2),
             tmp_path / "dive", start_frame=-1)
    assert not list(tmp_path.glob("dive/frame_-*"))


def test_resuming_a_dive_from_a_damaged_frame_is_a_clear_error(tmp_path):
    from dreamer.animate import dive, frame_path
    from dreamer.image_io import ImageError

    folder = tmp_path / "dive"
    folder.mkdir()
    frame_path(folder, 0).write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # a frame cut off mid-write
    with pytest.raises(ImageError, match="cannot resume at frame 1"):
        dive(Image.new("RGB", (64, 48)), Recipe.from_flat(model="tiny", classes={"1": 1.0}, steps=1, frames=3),
             folder, start_frame=1)


def test_save_recipe_may_name_the_dreams_own_sidecar(tmp_path, photo):
    # Before: the plain recipe was written first, and the sidecar check then refused the dream.
    out = tmp_path / "out"
    out.mkdir()
    assert main([str(photo), *TINY, "--save-recipe", str(out / "dream.json"), "-o", str(out / "dream.png")]) == 0
    assert (out / "dream.png").exists()
    again = tmp_path / "again.png"
    assert main([str(photo), "--recipe", str(out / "dream.json"), "-q", "-o", str(again)]) == 0
    assert Recipe.load(str(out / "dream.json")).seed == 5
    # elsewhere it is written as before, beside the dream
    assert main([str(photo), *TINY, "--save-recipe", str(out / "r.toml"), "-o", str(out / "other.png")]) == 0
    assert (out / "r.toml").exists() and (out / "other.png").exists()
