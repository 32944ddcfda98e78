"""Named presets, the `--preset` flag, and the recipe fields the quality work added, on the tiny net."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dreamer.cli import main
from dreamer.presets import PRESETS, preset
from dreamer.recipe import Recipe, RecipeError
from dreamer.render import dream
from dreamer.objectives import class_logits
from dreamer.transform import view_grid
from models import create_model
from tests.conftest import PHOTOS

FAST = dict(method="tiles", octaves=1, iterations=2, tile_size=64, batch_size=4, seed=1)


@pytest.fixture(scope="module")
def net():
    return create_model("tiny")


@pytest.fixture(scope="module")
def photo():
    return Image.open(PHOTOS / "chelsea.jpg").convert("RGB").resize((150, 100))


def test_presets_build_valid_distinct_recipes(net, photo):
    recipes = {name: preset(name) for name in PRESETS}
    assert set(recipes) >= {"subtle", "default", "wild", "classic", "quick"}
    assert recipes["default"] == Recipe()  # the default preset is the Recipe's defaults
    assert recipes["classic"].method == "tiles" and recipes["default"].method == "views"
    assert len({r.to_json() for r in recipes.values()}) == len(recipes)

    # subtle changes the photo less than default, and default less than wild
    def change(name):
        out = dream(photo, preset(name, classes={"goldfish": 1.0}, seed=1, batch_size=4), net=net)
        return np.abs(np.asarray(out, float) - np.asarray(photo, float)).mean()

    assert change("subtle") < change("default") < change("wild")
    # quick is the default in half the steps: the same dream, less far along
    assert recipes["quick"].replace(steps=Recipe().views.steps) == Recipe()
    assert recipes["quick"].views.steps * 2 == Recipe().views.steps
    assert change("quick") < change("default")


def test_preset_overrides_and_round_trip(tmp_path):
    r = preset("wild", classes={"goldfish": 1.0}, seed=9)
    assert r.classes == {"goldfish": 1.0} and r.seed == 9
    assert r.tiles.iterations == PRESETS["wild"].get("iterations", Recipe().tiles.iterations)
    r.save(tmp_path / "wild.toml")
    assert Recipe.load(tmp_path / "wild.toml") == r


def test_unknown_preset_lists_the_names():
    with pytest.raises(RecipeError, match="subtle, default, wild"):
        preset("nightmare")


def test_bad_override_names_the_key():
    with pytest.raises(RecipeError, match="view_rotate"):
        preset("default", view_rotate=90)


@pytest.mark.parametrize("data,key", [
    ({"view_scale_min": 0.1}, "view_scale_min"),
    ({"view_scale_min": 1.2, "view_scale_max": 1.1}, "view_scale_max"),
    ({"view_rotate": 50}, "view_rotate"),
    ({"view_rotate": "a lot"}, "view_rotate"),
    ({"balance_classes": "yes"}, "balance_classes"),
])
def test_new_fields_are_validated_by_name(data, key):
    with pytest.raises(RecipeError, match=key):
        Recipe.from_dict(data)


def test_cli_preset_flag(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.open(PHOTOS / "chelsea.jpg").resize((120, 80)).save(photo)
    out = tmp_path / "p.png"
    args = [str(photo), "-c", "goldfish", "--model", "tiny", "--steps", "1", "-q"]
    assert main([*args, "--preset", "subtle", "--seed", "3", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())["recipe"]
    for key, value in PRESETS["subtle"].items():
        if key != "steps":  # the flag wins over the preset
            assert side[key] == value
    assert side["steps"] == 1 and side["seed"] == 3


def test_cli_unknown_preset_is_one_clear_line(tmp_path, capsys):
    assert main(["x.jpg", "--preset", "nightmare"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nightmare'" in err and "subtle" in err and "Traceback" not in err


def test_view_grid_identity_and_cover():
    x = torch.rand(1, 3, 40, 70)
    g = view_grid(40, 70, 1.0, 0.0, (0.0, 0.0), 0)
    same = torch.nn.functional.grid_sample(x, g, align_corners=False)
    assert torch.allclose(same, x, atol=1e-5)
    # a turned, magnified view is large enough to hold every corner of the picture
    g = view_grid(40, 70, 1.2, 10.0, (0.0, 0.0), 4)
    px = (g[..., 0] + 1) * 70 / 2
    py = (g[..., 1] + 1) * 40 / 2
    inside = (px >= 0) & (px <= 70) & (py >= 0) & (py <= 40)
    assert inside.sum() > 0.7 * g.shape[1] * g.shape[2] / 1.44
    for cx, cy in ((0.5, 0.5), (69.5, 0.5), (0.5, 39.5), (69.5, 39.5)):
        assert ((px - cx).abs() < 1).logical_and((py - cy).abs() < 1).any()


def test_balanced_hybrid_pushes_the_lagging_class_hardest():
    logits = torch.tensor([[8.0, 1.0, 0.0], [1.0, 8.0, 0.0]], requires_grad=True)
    plain = class_logits({0: 1.0, 1: 1.0})
    (g,) = torch.autograd.grad(plain({"logits": logits}).sum(), logits)
    assert torch.equal(g[:, :2], torch.ones(2, 2))  # the plain sum pushes both alike
    balanced = class_logits({0: 1.0, 1: 1.0, 2: -0.5}, balance=True)
    (g,) = torch.autograd.grad(balanced({"logits": logits}).sum(), logits)
    assert g[0, 1] > 5 * g[0, 0] and g[1, 0] > 5 * g[1, 1]  # each picture's weaker class gets the push
    assert torch.allclose(g[:, :2].sum(1), torch.tensor([2.0, 2.0]))  # the total weight is the user's
    assert torch.allclose(g[:, 2], torch.tensor([-0.5, -0.5]))  # negative weights untouched
    single = class_logits({0: 1.0}, balance=True)
    (g,) = torch.autograd.grad(single({"logits": logits}).sum(), logits)
    assert torch.equal(g[:, 0], torch.ones(2))


@pytest.mark.parametrize("extra", [
    dict(view_scale_min=0.6, view_scale_max=1.25, view_rotate=10.0),
    dict(view_scale_min=1.0, view_scale_max=1.0, view_rotate=0.0),
])
def test_views_dream_deterministically_and_reach_the_edges(net, photo, extra):
    r = Recipe.from_flat(classes={"goldfish": 1.0}, **FAST, **extra)
    a, b = dream(photo, r, net=net), dream(photo, r, net=net)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    diff = np.abs(np.asarray(a, dtype=int) - np.asarray(photo, dtype=int))
    assert diff.mean() > 0.5
    for region in (diff[:6], diff[-6:], diff[:, :6], diff[:, -6:]):  # no untouched frame
        assert region.mean() > 0.2


def test_view_gradient_is_the_true_gradient_pulled_back_evenly():
    # For an objective that scores each pixel on its own, the gradient through a turned and
    # magnified view, tiled, must still be (close to) the whole-picture gradient, at every pixel
    # including corners: no pixel counts more for where the tiles or samples fell.
    import random

    from dreamer.objectives import Objective
    from dreamer.render_tiles import _view_gradient

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 90), torch.linspace(0, 1, 120), indexing="ij")
    x = torch.stack([0.5 + 0.4 * torch.sin(3 * xx + c) * torch.cos(2 * yy) for c in range(3)]).unsqueeze(0)
    objective = Objective(lambda acts: -(acts["logits"] - 0.5).pow(2).sum((1, 2, 3)), frozenset({"logits"}), "pixels")
    r = Recipe.from_flat(tile_size=48, jitter=8, tile_overlap=0.25, batch_size=4)
    g, _ = _view_gradient(x, lambda xb: {"logits": xb}, objective, r.tiles, r.batch_size, 48, random.Random(0),
                          1.2, 10.0)
    want = -2 * (x - 0.5)
    assert (g - want).abs().max() < 0.05
