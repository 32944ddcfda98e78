"""The recipe's wire format: the flat keys and values pictures, sidecars, queue jobs, configs and
presets carry. Pinned by literals written out from the code before the recipe was split into
groups (dreamer.settings), so old pictures replay and old configs load."""
import json

from dreamer.recipe import Recipe

DEFAULT = {
    "model": "efficientnet-lite0", "mode": "lucid", "classes": {}, "method": "views", "param": "fourier",
    "steps": 128, "learning_rate": 0.05, "strength": 0.4, "decay": 1.0, "view_min": 0.33, "view_max": 1.0,
    "view_coarsen": 0.9, "view_samples": 4, "hybrid": "regions", "hybrid_steps": 0.125, "hybrid_steps_classes": 1,
    "hybrid_partner": "auto",
    "hybrid_partner_turns": False, "rivals": 0.0, "hybrid_routed": True, "hybrid_grow": 2.0,
    "hybrid_grow_last": True, "hybrid_follow": True, "hybrid_regions_partner": True, "hybrid_floor": 0.3,
    "work_pixels": 1000000, "stop_seen": 1.0, "stop_every": 16,
    "octaves": 3,
    "octave_scale": 1.4, "iterations": 12, "sigma_start": 2.0, "sigma_end": 0.6, "step_start": 10.0,
    "step_end": 4.0, "jitter": 32, "gradient": "laplacian", "view_scale_min": 0.55, "view_scale_max": 1.1,
    "view_rotate": 8.0, "balance_classes": True, "octave_plan": [], "tile_overlap": 0.15, "batch_size": 8,
    "seed": 0, "max_pixels": 16000000, "frames": 1, "zoom": 1.05, "rotate": 0.0,
}

# Every key away from its default, every group touched.
CHANGED = {
    "model": "efficientnet-lite1", "weights": "w.pth", "mode": "guide",
    "classes": {"goldfish": 1.0, "stingray": -0.5}, "layer": "blocks.4", "guide": "guide.png",
    "guide_layer": "blocks.5", "method": "tiles", "param": "pixel", "steps": 96, "learning_rate": 0.075,
    "strength": 0.7, "decay": 1.5, "view_min": 0.4, "view_max": 1.2, "view_coarsen": 0.5, "view_samples": 2,
    "hybrid": "mix", "hybrid_steps": 0.25, "hybrid_steps_classes": 2, "hybrid_partner": "", "hybrid_partner_turns": True, "rivals": 0.5,
    "hybrid_routed": False, "hybrid_grow": 1.5, "hybrid_grow_last": False, "hybrid_follow": False,
    "hybrid_regions_partner": False, "hybrid_floor": 0.5, "work_pixels": 500000,
    "stop_seen": 0.9, "stop_every": 8, "stopped_at": 40, "octaves": 4, "octave_scale": 1.5, "iterations": 10,
    "sigma_start": 1.5, "sigma_end": 0.5, "step_start": 8.0, "step_end": 3.0, "jitter": 16, "gradient": "mean",
    "view_scale_min": 0.6, "view_scale_max": 1.2, "view_rotate": 5.0, "balance_classes": False,
    "octave_plan": [
        {"scale": 0.5, "iterations": 6, "sigma_start": 1.0, "sigma_end": 0.5, "step_start": 6.0, "step_end": 2.0,
         "layer": "blocks.3"},
        {"scale": 1.0, "iterations": 4, "sigma_start": 0.8, "sigma_end": 0.4, "step_start": 5.0, "step_end": 2.0},
    ],
    "tile_size": 256, "tile_overlap": 0.2, "batch_size": 4, "seed": 42, "max_pixels": 2000000, "frames": 12,
    "zoom": 1.1, "rotate": 2.5,
}

DEFAULT_TOML = """\
model = "efficientnet-lite0"
mode = "lucid"
method = "views"
param = "fourier"
steps = 128
learning_rate = 0.05
strength = 0.4
decay = 1.0
view_min = 0.33
view_max = 1.0
view_coarsen = 0.9
view_samples = 4
hybrid = "regions"
hybrid_steps = 0.125
hybrid_steps_classes = 1
hybrid_partner = "auto"
hybrid_partner_turns = false
rivals = 0.0
hybrid_routed = true
hybrid_grow = 2.0
hybrid_grow_last = true
hybrid_follow = true
hybrid_regions_partner = true
hybrid_floor = 0.3
work_pixels = 1000000
stop_seen = 1.0
stop_every = 16
octaves = 3
octave_scale = 1.4
iterations = 12
sigma_start = 2.0
sigma_end = 0.6
step_start = 10.0
step_end = 4.0
jitter = 32
gradient = "laplacian"
view_scale_min = 0.55
view_scale_max = 1.1
view_rotate = 8.0
balance_classes = true
octave_plan = []
tile_overlap = 0.15
batch_size = 8
seed = 0
max_pixels = 16000000
frames = 1
zoom = 1.05
rotate = 0.0

[classes]
"""

# What a picture made before stop_seen, view_samples and the hybrid_routed / hybrid_grow /
# hybrid_follow / hybrid_regions_partner / hybrid_steps_classes / hybrid_floor keys recorded: every key of its day (octave_plan and frames
# included), none of those.
OLD_PICTURE = {k: v for k, v in CHANGED.items()
               if k not in ("stop_seen", "view_samples", "hybrid_routed", "hybrid_grow", "hybrid_grow_last",
                            "hybrid_follow", "hybrid_regions_partner", "hybrid_steps_classes", "hybrid_floor")}
# ... and the values it replays with: those keys as the engine ran before they existed.
OLD_PICTURE_REPLAYS = {**CHANGED, "stop_seen": 0.0, "view_samples": 4, "hybrid_routed": False,
                       "hybrid_grow": 1.0, "hybrid_grow_last": False, "hybrid_follow": False,
                       "hybrid_regions_partner": False, "hybrid_steps_classes": 99, "hybrid_floor": 0.1}


def test_the_default_recipe_writes_the_same_flat_keys_in_the_same_order():
    d = Recipe().to_dict()
    assert list(d.items()) == list(DEFAULT.items())
    assert Recipe().to_toml() == DEFAULT_TOML
    assert json.loads(Recipe().to_json()) == DEFAULT


def test_a_changed_recipe_writes_the_same_flat_keys_and_round_trips():
    r = Recipe.from_dict(CHANGED)
    assert list(r.to_dict().items()) == list(CHANGED.items())
    assert json.loads(r.to_json()) == CHANGED
    assert Recipe.from_dict(json.loads(r.to_json())) == r
    import tomllib

    assert Recipe.from_dict(tomllib.loads(r.to_toml())) == r


def test_an_old_pictures_recipe_replays_as_it_was_made():
    r = Recipe.from_dict({**OLD_PICTURE, "class_names": ["goldfish"], "version": "0.1"})
    assert r.to_dict() == OLD_PICTURE_REPLAYS
    assert Recipe.from_dict(r.to_dict()) == r  # and records every key now


def test_flat_replace_reaches_every_key():
    r = Recipe().replace(**{k: v for k, v in CHANGED.items() if k != "octave_plan"})
    want = {**CHANGED, "octave_plan": []}
    assert r.to_dict() == want


def test_an_unknown_key_is_refused_listing_the_flat_keys():
    import pytest

    from dreamer.recipe import RecipeError

    with pytest.raises(RecipeError) as err:
        Recipe.from_dict({"bogus": 1, "steps": 2})
    assert str(err.value) == (
        "recipe: unknown key(s) bogus; known keys: balance_classes, batch_size, classes, decay, frames, gradient, "
        "guide, guide_layer, hybrid, hybrid_floor, hybrid_follow, hybrid_grow, hybrid_grow_last, hybrid_partner, hybrid_partner_turns, "
        "hybrid_regions_partner, hybrid_routed, hybrid_steps, hybrid_steps_classes, iterations, jitter, layer, learning_rate, max_pixels, method, mode, model, "
        "octave_plan, octave_scale, octaves, param, rivals, rotate, seed, sigma_end, sigma_start, step_end, "
        "step_start, steps, stop_every, stop_seen, stopped_at, strength, tile_overlap, tile_size, view_coarsen, "
        "view_max, view_min, view_rotate, view_samples, view_scale_max, view_scale_min, weights, work_pixels, zoom")
