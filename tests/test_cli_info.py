"""The `dream` command's first-hour promises: replay from a picture, names that never overwrite,
listings without weights, --help/--version, --classify, and a dive's progress bar."""
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dreamer.cli import main
from dreamer.cli_info import DiveProgress
from tests.conftest import PHOTOS

TINY = ["--model", "tiny", "--steps", "4", "-q"]


@pytest.fixture
def small_photo(tmp_path):
    p = tmp_path / "small.jpg"
    Image.open(PHOTOS / "chelsea.jpg").resize((160, 106)).save(p)
    return p


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_recipe_from_the_picture_itself_remakes_it(fmt, small_photo, tmp_path):
    first = tmp_path / f"first.{fmt}"
    assert main([str(small_photo), "--random-classes", "2", "-o", str(first), *TINY]) == 0
    first.with_suffix(".json").unlink()  # only the picture's own metadata is left
    again = tmp_path / "again.png"
    assert main([str(small_photo), "--recipe", str(first), "-o", str(again), "-q"]) == 0
    if fmt == "png":  # lossless: the very same pixels
        assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))
    from dreamer.image_io import read_embedded_recipe

    assert read_embedded_recipe(again)["seed"] == read_embedded_recipe(first)["seed"]
    assert read_embedded_recipe(again)["classes"] == read_embedded_recipe(first)["classes"]


def test_recipe_from_a_picture_without_one_is_a_clear_error(small_photo, capsys):
    assert main([str(small_photo), "--recipe", str(small_photo), "-q"]) == 2
    err = capsys.readouterr().err
    assert "carries no recipe" in err and "Traceback" not in err


def test_a_guide_a_recipe_names_without_its_folder_is_found_beside_it_or_asked_for(
        small_photo, tmp_path, monkeypatch, capsys):
    """The bot's published dreams name their guide without its folder (bot.render.renderer.
    public_recipe): replayed from a download, the guide is looked for beside the picture."""
    import dreamer
    from dreamer import Recipe

    monkeypatch.chdir(tmp_path)  # the current folder holds no clouds.png
    folder = tmp_path / "downloads"
    dream = dreamer.save_image(Image.open(small_photo), folder / "dream.png", Recipe.from_flat(
        model="tiny", mode="guide", guide="clouds.png", guide_layer="conv2", steps=2, seed=3).to_dict())
    again = ["small.jpg", "--recipe", str(dream), "-o", "again.png", "-q"]
    assert main(again) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dream: error: no guide file clouds.png in the current folder or beside {dream}: ")
    assert err.endswith(f"; pass --guide FILE, or put clouds.png in {folder}\n") and "Traceback" not in err
    # a guide of a flag's is the user's own path: no word of the recipe
    assert main([*again, "--guide", "nope.png"]) == 2
    assert capsys.readouterr().err == "dream: error: no guide file nope.png\n"
    Image.open(small_photo).save(folder / "clouds.png")
    assert main(again) == 0
    from dreamer.image_io import read_embedded_recipe

    assert read_embedded_recipe(tmp_path / "again.png")["guide"] == str(folder / "clouds.png")


def test_default_names_carry_classes_and_seed_and_never_overwrite(small_photo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(small_photo), "-c", "goldfish, stingray:0.5", "--seed", "7", *TINY]) == 0
    assert main([str(small_photo), "-c", "goldfish, stingray:0.5", "--seed", "7", *TINY]) == 0
    assert main([str(small_photo), "-c", "goldfish", *TINY]) == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("*.jpg"))
    assert names[:2] == ["small_goldfish+stingray_s7-2.jpg", "small_goldfish+stingray_s7.jpg"]
    random_one = names[2]
    assert random_one.startswith("small_goldfish_s")
    seed = int(random_one.removeprefix("small_goldfish_s").removesuffix(".jpg"))
    import json

    assert json.loads((tmp_path / "out" / random_one).with_suffix(".json").read_text())["recipe"]["seed"] == seed


def test_list_layers_of_googlenet_needs_no_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached copy
    monkeypatch.delenv("LUCID_DREAM_GOOGLENET", raising=False)
    monkeypatch.setenv("LUCID_DREAM_ALLOW_DOWNLOAD", "0")
    assert main(["--list-layers", "--model", "googlenet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "inception_4c  (default)" in out and "inception_5b" in out
    assert not list(tmp_path.rglob("*.pth"))


def test_help_shows_defaults_and_presets_and_version(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    from dreamer.presets import PRESETS, preset

    default = preset("default")
    assert f"optimisation steps (default: {default.views.steps})" in text
    assert f"(default: {default.views.strength})" in text
    for name in PRESETS:
        assert f" {name} " in text
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("dream (lucid-dream-bot) ")


def test_classify_lists_the_top_five_with_names(capsys):
    assert main(["--classify", str(PHOTOS / "chelsea.jpg")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    probs = [float(line.split("%")[0]) for line in lines]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 100.05
    assert "cat" in lines[0]  # chelsea.jpg is a cat, and the real net says so


def test_classify_a_missing_photo_is_a_clear_error(tmp_path, capsys):
    assert main(["--classify", str(tmp_path / "nope.jpg"), "--model", "tiny"]) == 2
    assert "no such photo" in capsys.readouterr().err


def test_list_groups_columns_hold_for_long_names(capsys):
    assert main(["--list-groups"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("fruit and vegetables ") for line in lines)
    assert len({line.index(" classes") for line in lines}) == 1  # counts end in one column


def test_dive_progress_total_holds_across_frames():
    from tqdm import tqdm

    bar = tqdm(file=io.StringIO(), unit="step")
    on_progress = DiveProgress(bar, frames=3, start_frame=0)
    for frame in range(3):
        for done in range(1, 5):
            on_progress(SimpleNamespace(done=done, total=4, octave=0, octaves=1, score=1.0))
            assert bar.total == 12
            assert bar.desc.startswith(f"frame {frame + 1}/3")
    assert bar.n == 12


def test_resumed_dive_progress_counts_only_the_frames_left():
    from tqdm import tqdm

    bar = tqdm(file=io.StringIO(), unit="step")
    on_progress = DiveProgress(bar, frames=5, start_frame=3)
    on_progress(SimpleNamespace(done=1, total=4, octave=0, octaves=1, score=1.0))
    assert bar.desc.startswith("frame 4/5") and bar.total == 8


def test_an_output_name_says_what_was_dreamt_by_the_mode():
    from dreamer.cli_info import dream_label
    from dreamer.recipe import Recipe

    assert dream_label(Recipe(classes={"goldfish": 1.0, "stingray": 1.0})) == "goldfish+stingray"
    assert dream_label(Recipe(mode="guide", guide="x.png", classes={})) == "guide"
    assert dream_label(Recipe(mode="deepdream", layer="blocks.4", classes={})) == "blocks-4"
    assert dream_label(Recipe(mode="randomise", classes={})) == "randomise"
