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
