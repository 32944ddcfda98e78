"""A recipe's groups (dreamer.settings): each engine's settings in its own dataclass, reached by
the engine's name, while `replace` and `from_flat` still take the flat keys the wire carries."""
import pytest

from dreamer.recipe import HOME, KEYS, Recipe, RecipeError
from dreamer.settings import TilesSettings, VideoSettings, ViewsSettings


def test_flat_keys_reach_their_groups_and_the_copy_shares_no_group():
    r = Recipe()
    s = r.replace(steps=8, frames=3, jitter=4, seed=5)
    assert (s.views.steps, s.video.frames, s.tiles.jitter, s.seed) == (8, 3, 4, 5)
    assert (r.views.steps, r.video.frames, r.tiles.jitter, r.seed) == (128, 1, 32, 0)  # unchanged
    t = r.replace(seed=5)  # no group changed: still copied, so editing one edits one recipe
    for g in ("views", "tiles", "video"):
        assert getattr(t, g) is not getattr(r, g) and getattr(t, g) == getattr(r, g)
    assert Recipe.from_flat(steps=8, frames=3, jitter=4, seed=5) == s
    # a whole group, and flat keys on top of it
    assert r.replace(views=ViewsSettings(steps=8), strength=0.5).views == ViewsSettings(steps=8, strength=0.5)


def test_every_flat_key_has_one_home_and_no_engine_setting_is_reached_flat():
    assert sorted(HOME) == sorted(KEYS) and len(set(KEYS)) == len(KEYS)
    groups = {"views": ViewsSettings, "tiles": TilesSettings, "video": VideoSettings}
    for key in KEYS:
        home = HOME[key]
        assert hasattr(groups[home](), key) if home else key in Recipe.__dataclass_fields__, key
    # code says which engine a setting is for: no flat attribute left to read by accident
    assert not hasattr(Recipe(), "steps") and not hasattr(Recipe(), "octaves") and not hasattr(Recipe(), "frames")


@pytest.mark.parametrize("build", [
    lambda: Recipe().replace(steps=-1),
    lambda: Recipe.from_flat(steps=-1),
    lambda: Recipe.from_dict({"steps": -1}),
    lambda: ViewsSettings(steps=-1),
])
def test_a_group_checks_its_own_values_with_the_flat_message(build):
    with pytest.raises(RecipeError, match=r"^recipe: steps = -1: must be an integer 0\.\.10000$"):
        build()


@pytest.mark.parametrize("group, key, value, message", [
    ("tiles", "octaves", 0, r"^recipe: octaves = 0: must be an integer 1\.\.12$"),
    ("video", "zoom", 3.0, r"^recipe: zoom = 3\.0: must be 0\.5\.\.2\.0$"),
    ("views", "view_max", 0.1, r"^recipe: view_max = 0\.1: must be view_min\.\.1\.5$"),
])
def test_a_recipe_edited_after_it_was_built_is_checked_again_group_by_group(group, key, value, message):
    r = Recipe()
    setattr(getattr(r, group), key, value)
    with pytest.raises(RecipeError, match=message):
        r.validate()


def test_an_unknown_flat_key_is_refused_by_name():
    with pytest.raises(RecipeError, match=r"^recipe: unknown key\(s\) stepz; known keys: .*\bsteps\b"):
        Recipe().replace(stepz=8)
    with pytest.raises(RecipeError, match="views must be a ViewsSettings"):
        Recipe(views={"steps": 8})
