"""A growing mutant's regions follow the picture as dreamt (views.hybrid_follow, dreamer.regions.
Regions.follow): when a check finds a class lagging, the regions are shared out again from the
evidence in the dream so far, not the photo's, keeping the areas the checks have grown."""
import numpy as np
import pytest
import torch

from dreamer.recipe import Recipe, RecipeError, as_ran
from dreamer.regions import place_classes
from dreamer.render import dream
from dreamer.transform import to_tensor
from tests.test_grow import FAST, GOLDFISH, PAIR, STINGRAY, scripted
from tests.test_regions import half_busy, half_logits
from tests.test_render import net  # noqa: F401 - the tiny net, shared


def left_lead(masks: torch.Tensor) -> float:
    """How much more of the left half than of the right the first class holds."""
    half = masks.shape[-1] // 2
    return float(masks[0, :, :half].mean() - masks[0, :, half:].mean())


def test_the_regions_move_to_where_the_picture_now_shows_each_class_and_keep_their_areas(net):
    photo = half_busy(busy_left=True)
    left, right = half_logits(net, photo)
    rise = left - right
    ids = [int(rise.argmax()), int(rise.argmin())]  # one class of the busy half, one of the flat
    for seed in (1, 2):
        regions = place_classes(to_tensor(photo), net, {ids[0]: 1.0, ids[1]: 1.0}, seed)
        assert left_lead(regions.masks) > 0.4
        assert regions.grow({ids[0]: 0.1, ids[1]: 0.8}, 2.0)  # the busy half's class lags: grown
        grown = float(regions.masks[0].mean())
        regions.follow(to_tensor(half_busy(busy_left=False)), net, seed)  # the dream moved it right
        assert left_lead(regions.masks) < -0.2, seed
        assert float(regions.masks[0].mean()) == pytest.approx(grown, abs=0.02)  # its area kept


def test_a_mutant_whose_regions_follow_differs_from_one_whose_do_not_and_replays(net, monkeypatch):
    image = half_busy(seed=8)
    script = [{GOLDFISH: 0.8, STINGRAY: 0.0}] * 2 + [{GOLDFISH: 1.0, STINGRAY: 1.0}]
    r = Recipe.from_flat(classes=PAIR, hybrid_grow=2.0, **FAST).replace(steps=14)
    assert r.views.hybrid_follow
    scripted(monkeypatch, list(script))
    followed = dream(image, r, net=net)
    scripted(monkeypatch, list(script))
    stayed = dream(image, r.replace(hybrid_follow=False), net=net)
    assert not np.array_equal(np.asarray(followed), np.asarray(stayed))
    recorded = Recipe.from_dict(as_ran(r, followed).to_dict())  # through the picture's metadata
    scripted(monkeypatch, list(script))
    assert np.array_equal(np.asarray(dream(image, recorded, net=net)), np.asarray(followed))


def test_a_recipe_recorded_before_regions_followed_replays_without_it():
    old = {k: v for k, v in Recipe(classes=PAIR).to_dict().items() if k != "hybrid_follow"}
    assert Recipe.from_dict(old).views.hybrid_follow is False
    with pytest.raises(RecipeError, match="hybrid_follow"):
        Recipe.from_flat(hybrid_follow="yes")
