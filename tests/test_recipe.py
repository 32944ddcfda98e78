import json

import pytest

from dreamer.recipe import Octave, Recipe, RecipeError


def test_toml_and_json_round_trip(tmp_path):
    r = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": -0.5}, octaves=4, seed=42, tile_overlap=0.3,
                         octave_plan=[Octave(0.5, 5, 1.0, 0.5, 2.0, 1.0),
                                      Octave(1.0, 3, 0.5, 0.2, 1.5, 1.0, layer="block9")])
    for name in ("r.toml", "r.json"):
        r.save(tmp_path / name)
        assert Recipe.load(tmp_path / name) == r


def test_sidecar_with_recipe_key_loads(tmp_path):
    r = Recipe(classes={"1": 1.0}, seed=7)
    (tmp_path / "pic.json").write_text(json.dumps({"recipe": r.to_dict(), "software": "x"}))
    assert Recipe.load(tmp_path / "pic.json") == r


def test_plan_is_coarse_to_fine_and_ends_full_size():
    plan = Recipe.from_flat(octaves=3, octave_scale=1.5).tiles.plan()
    assert [round(o.scale, 4) for o in plan] == [round(1 / 2.25, 4), round(1 / 1.5, 4), 1.0]


def test_octave_plan_entries_inherit_recipe_values():
    r = Recipe.from_dict({"classes": {"1": 1}, "iterations": 7, "sigma_start": 1.1,
                          "octave_plan": [{"scale": 0.5}, {"scale": 1.0, "iterations": 2}]})
    assert [o.iterations for o in r.tiles.plan()] == [7, 2]
    assert r.tiles.plan()[0].sigma_start == 1.1


@pytest.mark.parametrize("data,key", [
    ({"octaves": 0}, "octaves"),
    ({"tile_overlap": 0.9}, "tile_overlap"),
    ({"mode": "nightmare"}, "mode"),
    ({"classes": {"goldfish": "lots"}}, "classes.goldfish"),
    ({"classes": {"goldfish": float("nan")}}, "classes.goldfish"),
    ({"iterations": True}, "iterations"),
    ({"colour": "blue"}, "colour"),
    ({"octave_plan": [{"iterations": 3}]}, "octave_plan[0]"),
    ({"hybrid_partner": "efficientnet-lite0"}, "hybrid_partner"),  # the default model beside itself
    ({"model": "tiny", "hybrid_partner": "tiny"}, "hybrid_partner"),
])
def test_bad_values_name_the_key(data, key):
    with pytest.raises(RecipeError, match=key.replace("[", r"\[").replace("]", r"\]")):
        Recipe.from_dict(data)


def test_bad_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("octaves = [")
    with pytest.raises(RecipeError, match="bad.toml: not valid TOML"):
        Recipe.load(bad)
    with pytest.raises(RecipeError, match="cannot read recipe"):
        Recipe.load(tmp_path / "missing.toml")


def test_lucid_needs_classes_at_render_time_not_construction():
    r = Recipe()
    with pytest.raises(RecipeError, match="classes"):
        r.check_complete()
    r.replace(classes={"1": 1}).check_complete()


def test_a_hybrid_partner_must_be_another_net():
    with pytest.raises(RecipeError, match=r"hybrid_partner = 'tiny': must be a different net from model \('tiny'\)"):
        Recipe.from_flat(model="tiny", hybrid_partner="tiny")
    for partner in ("", "auto", "tiny-b"):  # none, the default, another net
        assert Recipe.from_flat(model="tiny", hybrid_partner=partner).views.hybrid_partner == partner
