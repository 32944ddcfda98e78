"""The config's [recipe] table: a dreamer Recipe (with its preset), and its errors as config lines."""
from __future__ import annotations

import difflib
import re
from typing import Any

from dreamer import Recipe
from dreamer.presets import get_preset
from dreamer.recipe import INFO_KEYS, KEYS

# Keys a picture's recorded recipe has that a [recipe] table refuses (the picker sets the
# classes; stopped_at is an outcome), and the one it adds.
REFUSED_KEYS = ("classes", "stopped_at")
ALLOWED_KEYS = tuple(sorted({*KEYS, "preset"} - set(REFUSED_KEYS)))


def build_recipe(table: dict[str, Any]) -> Recipe:
    """A Recipe without classes from a [recipe] table (its `preset` applied first)."""
    data = dict(table)
    _known_keys(data)
    if "stopped_at" in data:
        raise ValueError(f"recipe: stopped_at = {data['stopped_at']!r}: the engine writes it into a picture's "
                         "recipe when a dream stopped early; here it would cut every dream at that step: leave "
                         "it out (steps sets the most a dream takes)")
    preset = data.pop("preset", None)
    if preset is not None:
        if not isinstance(preset, str):
            raise ValueError(f"recipe: preset = {preset!r}: must be a preset name such as 'subtle'")
        base = get_preset(preset).to_dict()
        base.pop("classes", None)
        data = {**base, **data}
    return Recipe.from_dict(data)


def _known_keys(data: dict[str, Any]) -> None:
    """ValueError naming the keys [recipe] does not know. The engine's own message lists the
    keys a recipe may record, refused ones too, and not `preset`."""
    unknown = sorted(set(data) - set(ALLOWED_KEYS) - set(REFUSED_KEYS) - INFO_KEYS)
    if not unknown:
        return
    close = [m for k in unknown for m in difflib.get_close_matches(k, ALLOWED_KEYS, n=1)]
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    raise ValueError(f"recipe: unknown key(s) {', '.join(unknown)}{hint}; allowed in [recipe]: "
                     + ", ".join(ALLOWED_KEYS))


def recipe_problem(message: str) -> str:
    # RecipeError says "recipe: key = value: what"; turn it into "recipe.key: what".
    m = re.match(r"^recipe: (\w+(?:\[\d+\])?(?:\.\w+)?) = (.*?): (.*)$", message)
    if m:
        return f"recipe.{m.group(1)}: {m.group(3)} (got {m.group(2)})"
    return message if message.startswith("recipe") else f"recipe: {message}"
