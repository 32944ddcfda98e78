"""Every class of a mutant paints a share of the picture everywhere (views.hybrid_floor,
dreamer.regions.Regions.floor): its markings run into the other creatures' regions."""
import numpy as np
import pytest

from dreamer.plan import views_plan
from dreamer.recipe import Recipe, RecipeError, as_ran
from dreamer.regions import FLOOR, place_classes
from dreamer.render import dream
from dreamer.render_views import start
from dreamer.transform import to_bytes, to_tensor
from tests.test_grow import FAST, PAIR, pair_recipe
from tests.test_regions import half_busy
from tests.test_render import net  # noqa: F401 - the tiny net, shared


def test_the_floor_is_each_class_s_least_share_and_the_regions_keep_the_rest(net):
    photo = to_tensor(half_busy())
    for floor in (0.1, 0.3, 0.6):
        masks = place_classes(photo, net, {1: 1.0, 6: 1.0}, 4, floor).masks
        assert float(masks.min()) >= floor / 2 - 1e-6
        assert float(masks.min()) < floor / 2 + 0.05  # somewhere a class has no more than its floor
        assert np.allclose(masks.sum(0).numpy(), 1.0, atol=1e-5)


def test_the_recipe_s_floor_reaches_the_regions_and_the_picture(net):
    image = half_busy(seed=3)
    r = Recipe.from_flat(classes=PAIR, **FAST).replace(steps=6)
    assert r.views.hybrid_floor == 0.3
    for floor in (0.1, 0.5):
        plan = views_plan(r.replace(hybrid_floor=floor), net, 1, "cpu")
        d = start(to_bytes(image), plan, net, 1)
        assert float(d.masks.min()) >= floor / 2 - 1e-6 and float(d.masks.min()) < floor / 2 + 0.05
    made = dream(image, r, net=net)
    loose = dream(image, r.replace(hybrid_floor=0.5), net=net)
    assert not np.array_equal(np.asarray(made), np.asarray(loose))
    recorded = Recipe.from_dict(as_ran(r.replace(hybrid_floor=0.5), loose).to_dict())  # a picture's metadata
    assert recorded.views.hybrid_floor == 0.5
    assert np.array_equal(np.asarray(dream(image, recorded, net=net)), np.asarray(loose))


def test_a_recipe_recorded_before_the_floor_replays_with_the_old_one_and_a_bad_floor_is_refused():
    old = {k: v for k, v in Recipe(classes=PAIR).to_dict().items() if k != "hybrid_floor"}
    assert Recipe.from_dict(old).views.hybrid_floor == 0.1
    assert Recipe().views.hybrid_floor == FLOOR  # the regions' own default is the recipe's
    for bad in (1.0, -0.1, "0.3", True):
        with pytest.raises(RecipeError, match="hybrid_floor"):
            Recipe.from_flat(hybrid_floor=bad)


def test_the_cli_flag_sets_the_floor_and_a_bad_one_is_refused_by_name():
    recipe = pair_recipe
    assert recipe("--hybrid-floor", "0.1").views.hybrid_floor == 0.1
    assert recipe().views.hybrid_floor == Recipe().views.hybrid_floor
    with pytest.raises(RecipeError, match="hybrid_floor"):
        recipe("--hybrid-floor", "1")
