"""Several pictures through one net batch (dreamer.render_batch): each comes out as it would
alone, and the batch really is one forward pass a step."""
import numpy as np
import pytest
import torch
from PIL import Image

from dreamer.recipe import Recipe, RecipeError
from dreamer.render import dream, dream_tensor
from dreamer.render_batch import dream_batch, dream_batch_tensor
from dreamer.transform import to_tensor
from tests.test_render import net  # noqa: F401 - the tiny random-weight net, shared


def picture(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width)[None, :, None] * np.ones((height, width, 3))
    return Image.fromarray((0.7 * ramp + 0.3 * rng.uniform(0, 255, ramp.shape)).astype(np.uint8))


# Different sizes, classes, modes, view counts and step counts. The hybrids run longer: the split
# one 4 × 1.5 = 6 steps, drawing from its rng after the net too (which class each view leans
# to); the three-class one on regions 2 × 2 = 4.
IMAGES = [picture(150, 110, 0), picture(90, 130, 1), picture(200, 70, 2), picture(100, 100, 3)]
RECIPES = [
    Recipe.from_flat(classes={"goldfish": 1.0}, steps=4, batch_size=4, seed=1),
    Recipe.from_flat(classes={"tench": 1.0, "goldfish": 1.0}, hybrid="split", steps=4, batch_size=3, seed=2,
                     hybrid_steps=0.5),
    Recipe.from_flat(mode="deepdream", layer="conv2", param="pixel", steps=2, batch_size=2, seed=3),
    Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0, "7": 0.5}, hybrid="regions", steps=2, batch_size=2, seed=4,
                     hybrid_steps=0.5, hybrid_steps_classes=2),
]
# Before the steps the regions hybrid shows its photo to the net at two sizes (dreamer.regions);
# then the pictures drop out as they finish, the regions hybrid after a last check for being
# seen (3 crop sizes x 8 crops: recipe.hybrid_grow_last).
ROWS_PER_STEP = [1, 1] + [4 + 3 + 2 + 2] * 2 + [4 + 3 + 2] * 2 + [3 * 8] + [3] * 2


@pytest.fixture(scope="module")
def alone(net):
    return [dream_tensor(to_tensor(i), r, net, r.seed) for i, r in zip(IMAGES, RECIPES)]


def test_batched_pictures_come_out_as_each_dreamt_alone(net, alone):
    batched = dream_batch_tensor([to_tensor(i) for i in IMAGES], RECIPES, net, [r.seed for r in RECIPES])
    for i, (a, b) in enumerate(zip(alone, batched)):
        assert b.shape == a.shape
        assert float((a - b).abs().max()) < 1e-4, f"picture {i}"
        assert float((a - to_tensor(IMAGES[i])).abs().mean()) > 0.002  # and it was dreamt at all
    # the pictures differ from each other in what they ask, so a mix-up would show
    pics = dream_batch(IMAGES, RECIPES, net=net)
    for i, (pic, img) in enumerate(zip(pics, IMAGES)):
        own = np.asarray(dream(img, RECIPES[i], net=net), dtype=int)
        assert pic.size == img.size
        assert np.abs(np.asarray(pic, dtype=int) - own).max() <= 1, f"picture {i}"  # 8-bit rounding


def test_seeds_given_replace_the_recipes_seeds(net):
    r = RECIPES[0]
    a, b = dream_batch([IMAGES[0], IMAGES[0]], [r, r], seeds=[5, 6], net=net)
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    own = np.asarray(dream(IMAGES[0], r.replace(seed=6), net=net), dtype=int)
    assert np.abs(np.asarray(b, dtype=int) - own).max() <= 1


def test_each_step_is_one_forward_call_over_the_running_pictures(net, monkeypatch):
    # as on a GPU: a CPU takes the batch a few views at a time (tests/test_net_chunks.py)
    monkeypatch.setattr("dreamer.render_views.net_chunk", lambda batch: batch.shape[0])
    monkeypatch.setattr("dreamer.seen.net_chunk", lambda batch: batch.shape[0])  # the checks' crops too
    rows = []
    handle = net.module.register_forward_pre_hook(lambda m, inp: rows.append(inp[0].shape[0]))
    try:
        dream_batch(IMAGES, RECIPES, net=net)
    finally:
        handle.remove()
    assert rows == ROWS_PER_STEP


def test_pictures_for_other_nets_or_engines_are_refused_before_any_work(net):
    calls = []
    handle = net.module.register_forward_pre_hook(lambda m, inp: calls.append(1))
    try:
        with pytest.raises(RecipeError, match=r"picture 1 asks for model 'tiny'.*picture 0 for 'efficientnet-lite0'"):
            dream_batch(IMAGES[:2], [RECIPES[0], RECIPES[0].replace(model="tiny")], net=net)
        with pytest.raises(RecipeError, match=r"picture 1 .*weights '/w\.pt'"):
            dream_batch(IMAGES[:2], [RECIPES[0], RECIPES[0].replace(weights="/w.pt")], net=net)
        with pytest.raises(RecipeError, match=r"picture 2 uses the 'tiles' engine"):
            dream_batch(IMAGES[:3], RECIPES[:2] + [RECIPES[0].replace(method="tiles")], net=net)
        with pytest.raises(RecipeError, match="3 pictures but 2 recipes"):
            dream_batch(IMAGES[:3], RECIPES[:2], net=net)
        with pytest.raises(RecipeError, match="4 pictures but 1 seeds"):
            dream_batch(IMAGES, RECIPES, seeds=[1], net=net)
        with pytest.raises(RecipeError, match="classes is empty"):
            dream_batch(IMAGES[:2], [RECIPES[0], Recipe.from_flat(steps=2)], net=net)
    finally:
        handle.remove()
    assert calls == []
    assert dream_batch([], [], net=net) == [] and dream_batch_tensor([], [], net, []) == []


def test_a_picture_of_no_steps_is_its_photo(net):
    out = dream_batch(IMAGES[:2], [RECIPES[0], RECIPES[1].replace(steps=0)], net=net)
    assert np.array_equal(np.asarray(out[1]), np.asarray(IMAGES[1]))


# batch_key: pictures share a batch exactly when dream_batch takes them together. The hybrids and
# singles below differ in what dream_net makes of them: an ensemble with tiny-b, or tiny alone.
_SMALL = dict(model="tiny", steps=1, batch_size=2, seed=1)
KEYED = {
    "single": Recipe.from_flat(classes={"goldfish": 1.0}, **_SMALL),
    "single, partner named": Recipe.from_flat(classes={"goldfish": 1.0}, hybrid_partner="tiny-b", **_SMALL),
    "hybrid, no partner": Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, hybrid_partner="", **_SMALL),
    "hybrid, auto partner (tiny has none)": Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, **_SMALL),
    "hybrid with tiny-b": Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, hybrid_partner="tiny-b", **_SMALL),
    "hybrid with tiny-b, other classes": Recipe.from_flat(classes={"7": 1.0, "tench": 0.5}, hybrid_partner="tiny-b",
                                                          **_SMALL),
    "hybrid with tiny-b in turns": Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, hybrid_partner="tiny-b",
                                                    hybrid_partner_turns=True, **_SMALL),
    "single, tiny-b in turns named": Recipe.from_flat(classes={"goldfish": 1.0}, hybrid_partner="tiny-b",
                                                      hybrid_partner_turns=True, **_SMALL),
    "one class up, one down, tiny-b named": Recipe.from_flat(classes={"goldfish": 1.0, "tench": -1.0},
                                                             hybrid_partner="tiny-b", **_SMALL),
    "deepdream, tiny-b named": Recipe.from_flat(mode="deepdream", layer="conv2", param="pixel", hybrid_partner="tiny-b",
                                                **_SMALL),
    "tiny-b": Recipe.from_flat(classes={"goldfish": 1.0}, **{**_SMALL, "model": "tiny-b"}),
    "tiles": Recipe.from_flat(classes={"goldfish": 1.0}, method="tiles", octaves=1, iterations=1, tile_size=64,
                              model="tiny", seed=1),
}


def test_batch_keys_are_equal_exactly_when_dream_batch_takes_the_pair():
    from itertools import combinations_with_replacement

    from dreamer.render_batch import batch_key

    keys = {name: batch_key(r, "cpu") for name, r in KEYED.items()}
    assert keys["tiles"] is None and all(k is not None for n, k in keys.items() if n != "tiles")
    pictures = [picture(40, 30, 0), picture(30, 40, 1)]
    for a, b in combinations_with_replacement(KEYED, 2):
        try:
            dream_batch(pictures, [KEYED[a], KEYED[b]], device="cpu")
            taken = True
        except RecipeError:
            taken = False
        assert (keys[a] is not None and keys[a] == keys[b]) == taken, (a, b)
    # the plain net, the ensemble, the ensemble in turns and the other model: four batches
    assert len({k for k in keys.values() if k is not None}) == 4


def test_hybrids_in_turns_batched_come_out_as_each_dreamt_alone():
    # the batch's one forward a step runs the member whose turn it is for every picture in it
    turns = dict(model="tiny", hybrid_partner="tiny-b", hybrid_partner_turns=True, steps=3, batch_size=2)
    recipes = [Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, seed=1, **turns),
               Recipe.from_flat(classes={"7": 1.0, "stingray": 1.0}, seed=2, **turns)]
    pictures = [picture(40, 30, 0), picture(30, 40, 1)]
    batched = dream_batch(pictures, recipes, device="cpu")
    for got, image, recipe in zip(batched, pictures, recipes):
        alone = np.asarray(dream(image, recipe, device="cpu"), dtype=int)
        assert np.abs(np.asarray(got, dtype=int) - alone).max() <= 1


def test_a_recipe_that_cannot_dream_gets_the_engines_error_for_a_key():
    from dreamer.render_batch import batch_key

    bad = Recipe.from_flat(classes={"no-such-class": 1.0}, hybrid_partner="tiny-b", **_SMALL)
    with pytest.raises(Exception) as alone:
        dream(picture(40, 30, 0), bad, device="cpu")
    with pytest.raises(type(alone.value), match="no-such-class"):
        batch_key(bad, "cpu")
