"""A mutant's regions grow for the class its checks miss (recipe.hybrid_grow, dreamer.regions.
Regions.grow): the lagging class gets more of the picture, one seen about as well does not, the
growth is seeded like the rest of the dream and a recorded recipe replays it."""
import numpy as np
import pytest

from dreamer import render_views as rv
from dreamer.recipe import STOPPED_AT, Recipe, RecipeError, as_ran
from dreamer.regions import place_classes
from dreamer.render import dream
from dreamer.transform import to_tensor
from tests.test_regions import half_busy
from tests.test_render import net  # noqa: F401 - the tiny net, shared

PAIR = {"goldfish": 1.0, "stingray": 1.0}
GOLDFISH, STINGRAY = 1, 6
FAST = dict(steps=20, batch_size=2, stop_every=2, seed=3)


def test_the_class_a_check_misses_gets_more_of_the_picture_and_one_seen_as_well_does_not(net):
    regions = place_classes(to_tensor(half_busy()), net, {STINGRAY: 1.0, GOLDFISH: 1.0}, 4)
    before = regions.masks.mean((1, 2))
    assert not regions.grow({GOLDFISH: 0.5, STINGRAY: 0.3}, 2.0)  # more than half as often: level
    assert np.allclose(regions.masks.mean((1, 2)), before)
    assert regions.grow({GOLDFISH: 0.5, STINGRAY: 0.2}, 2.0)
    after = regions.masks.mean((1, 2))  # in the caller's order: stingray first
    assert after[0] > before[0] + 0.1 and after[1] < before[1] - 0.1
    assert np.allclose(regions.masks.sum(0), 1.0, atol=1e-5)


def scripted(monkeypatch, answers: list[dict[int, float]]) -> list[float]:
    """The checks answer from `answers` in turn; returns the stingray's share of the picture
    after each growth."""
    it = iter(answers)
    monkeypatch.setattr(rv, "seen_shares", lambda _n, _p, ids, _c, _s: next(it))
    shares = []
    real = rv._repaint

    def spy(d):
        real(d)
        shares.append(float(d.masks[list(d.plan.placed).index(STINGRAY)].mean()))
        assert np.allclose(d.work_masks.mean((1, 2)), d.masks.mean((1, 2)), atol=0.02)  # what is painted
    monkeypatch.setattr(rv, "_repaint", spy)
    return shares


def test_a_mutant_grows_the_missing_class_at_each_check_until_all_are_seen(net, monkeypatch):
    missing = {GOLDFISH: 0.8, STINGRAY: 0.0}
    shares = scripted(monkeypatch, [missing, missing, {GOLDFISH: 1.0, STINGRAY: 1.0}])
    r = Recipe.from_flat(classes=PAIR, hybrid_grow=2.0, **FAST)
    out = dream(half_busy(seed=8), r, net=net)
    assert len(shares) == 2 and 0.5 < shares[0] < shares[1]  # grown twice, then seen at step 6
    assert out.info[STOPPED_AT] == 12


def test_a_grown_mutant_differs_from_one_that_stays_and_its_recorded_recipe_replays_it(net, monkeypatch):
    image = half_busy(seed=8)
    script = [{GOLDFISH: 0.8, STINGRAY: 0.0}] * 2 + [{GOLDFISH: 1.0, STINGRAY: 1.0}]
    r = Recipe.from_flat(classes=PAIR, hybrid_grow=2.0, **FAST).replace(steps=14)
    scripted(monkeypatch, list(script))
    grown = dream(image, r, net=net)
    scripted(monkeypatch, list(script))
    stayed = dream(image, r.replace(hybrid_grow=1.0), net=net)
    assert not np.array_equal(np.asarray(grown), np.asarray(stayed))
    recorded = Recipe.from_dict(as_ran(r, grown).to_dict())  # through the picture's metadata
    assert recorded.views.stopped_at == 12 and recorded.views.hybrid_grow == 2.0
    scripted(monkeypatch, list(script))  # the replay checks again: its regions grow alike
    assert np.array_equal(np.asarray(dream(image, recorded, net=net)), np.asarray(grown))


@pytest.mark.parametrize("value", [0.5, 5, "2", True])
def test_bad_growth_is_refused_with_the_key_named(value):
    with pytest.raises(RecipeError, match="hybrid_grow"):
        Recipe.from_flat(hybrid_grow=value)


def pair_recipe(*flags: str) -> Recipe:
    """The recipe `dream photo.jpg --classes "goldfish, stingray" FLAGS` makes."""
    from dreamer.cli import make_recipe
    from dreamer.cli_args import build_parser

    return make_recipe(build_parser().parse_args(["photo.jpg", "--classes", "goldfish, stingray", *flags]))


def test_the_cli_flag_sets_the_growth_and_a_bad_one_is_refused_by_name():
    recipe = pair_recipe
    assert recipe("--hybrid-grow", "1").views.hybrid_grow == 1.0
    assert recipe().views.hybrid_grow == Recipe().views.hybrid_grow
    with pytest.raises(RecipeError, match="hybrid_grow"):
        recipe("--hybrid-grow", "0.5")


def test_the_last_step_is_checked_too_and_a_class_it_misses_grows_before_the_picture_is_made(net, monkeypatch):
    image = half_busy(seed=8)
    r = Recipe.from_flat(classes=PAIR, hybrid_grow=2.0, **FAST).replace(steps=5, stop_every=100)  # no check but last
    shares = scripted(monkeypatch, [{GOLDFISH: 0.8, STINGRAY: 0.0}])
    grown = dream(image, r, net=net)
    assert len(shares) == 1 and shares[0] > 0.5  # the stingray's share, grown from half
    shares = scripted(monkeypatch, [])  # a check now would fail on the empty script
    unchecked = dream(image, r.replace(hybrid_grow_last=False), net=net)
    assert shares == [] and not np.array_equal(np.asarray(grown), np.asarray(unchecked))
    scripted(monkeypatch, [{GOLDFISH: 0.8, STINGRAY: 0.0}])
    recorded = Recipe.from_dict(as_ran(r, grown).to_dict())
    assert np.array_equal(np.asarray(dream(image, recorded, net=net)), np.asarray(grown))


def test_a_recipe_recorded_before_the_last_check_replays_without_it():
    old = {k: v for k, v in Recipe(classes=PAIR).to_dict().items() if k != "hybrid_grow_last"}
    assert Recipe.from_dict(old).views.hybrid_grow_last is False and Recipe().views.hybrid_grow_last is True
    with pytest.raises(RecipeError, match="hybrid_grow_last"):
        Recipe.from_flat(hybrid_grow_last="yes")

