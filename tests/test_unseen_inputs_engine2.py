"""Inputs to the engine and the `dream` command that the first sweeps had not tried: each test here
failed (a traceback, a wrong picture or an unclear refusal) before the fix it guards."""
import pytest
from PIL import Image

from dreamer.cli import main
from dreamer.recipe import Recipe, RecipeError

TINY = ["--model", "tiny", "--steps", "1", "-q", "--seed", "5", "--device", "cpu"]


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(p)
    return p


# --- recipe files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key, mode", [("weights", "lucid"), ("guide", "guide"), ("layer", "deepdream"),
                                       ("guide_layer", "guide"), ("model", "lucid")])
def test_a_recipe_path_or_name_that_is_no_text_is_a_recipe_error(key, mode):
    with pytest.raises(RecipeError, match=f"{key} = 5"):
        Recipe.from_dict({key: 5, "mode": mode, "classes": {"1": 1.0}})


def test_a_recipe_whose_weights_are_a_number_is_a_clear_cli_error(tmp_path, photo, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text("weights = 5\nclasses = {goldfish = 1}\n")
    assert main([str(photo), "--recipe", str(recipe), "-o", str(tmp_path / "o.png"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "weights = 5" in err


@pytest.mark.parametrize("name, text", [("r.toml", "steps = 3\nclasses = {goldfish = 1}\n"),
                                        ("r.json", '{"steps": 3, "classes": {"goldfish": 1}}')])
def test_a_recipe_saved_with_a_byte_order_mark_loads(tmp_path, name, text):
    # Windows Notepad writes UTF-8 with a BOM; tomllib and json both refuse it.
    p = tmp_path / name
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert Recipe.load(p).views.steps == 3
