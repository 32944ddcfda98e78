"""Named recipes for the bot's config and the CLI: `subtle`, `default` and `wild`.

A preset is a set of Recipe field overrides (plain values, so a config file can show them);
`preset(name, **overrides)` builds the Recipe. `default` is the Recipe's own defaults, the
recipe benchmarks/quality.py measures.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from dreamer.recipe import Octave, Recipe, RecipeError

PRESETS: dict[str, dict[str, Any]] = {
    # The photo stays in front: a light veil of the classes, small shapes, two octaves.
    "subtle": {"octaves": 2, "iterations": 10, "sigma_start": 1.5, "sigma_end": 0.5,
               "step_start": 5.0, "step_end": 2.0, "view_scale_min": 0.7},
    # The Recipe's own defaults, the recipe benchmarks/quality.py measures.
    "default": {},
    # Big, bold creatures over everything: a fourth, coarser octave, more and bigger steps, and
    # views that take in more of the picture per tile.
    "wild": {"octaves": 4, "iterations": 14, "step_start": 12.0, "step_end": 5.0,
             "sigma_start": 2.5, "sigma_end": 0.7, "view_scale_min": 0.45},
}


def preset(name: str, **overrides: Any) -> Recipe:
    """The Recipe for preset `name`, with `overrides` (any Recipe field) on top.

    Raises RecipeError for an unknown name (listing the presets) or a bad override (naming it).
    """
    try:
        fields = PRESETS[name]
    except KeyError:
        raise RecipeError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
    data = {**fields, **overrides}
    if "octave_plan" in data:
        data["octave_plan"] = [dataclasses.asdict(o) if isinstance(o, Octave) else o for o in data["octave_plan"]]
    return Recipe.from_dict(data)


get_preset = preset  # the name bot/config.py looks for
