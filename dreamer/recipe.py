"""A recipe: everything needed to make a dream again, as dataclasses that round-trip TOML/JSON.

A Recipe holds what every engine reads (the net, what is dreamt, the seed, ...) and a group for
each engine's own settings (dreamer.settings): `recipe.views`, `recipe.tiles`, `recipe.video`.
Code says which engine a setting belongs to; the wire does not: `to_dict`, `from_dict` and
`replace` speak one flat table of keys (KEYS), as pictures have recorded since the first one, so
TOML files, configs' [recipe] tables, presets, flags, queue jobs and old pictures all still load.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer.settings import (GRADIENTS, HYBRIDS, PARAMS, Octave, RecipeError, TilesSettings, VideoSettings,
                              MANY_CLASSES, ViewsSettings, is_int, is_num, need)
from models.class_spec import MAX_WEIGHT
from models.files import is_file_model

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["FILE_KEYS", "GRADIENTS", "HYBRIDS", "INFO_KEYS", "KEYS", "LATER_KEYS", "METHODS", "MODES", "Mode",
           "Octave", "PARAMS", "RECORDED_SIGN", "Recipe", "RecipeError", "STOPPED_AT", "TilesSettings", "VideoSettings",
           "ViewsSettings", "as_ran", "with_stop"]


class Mode(enum.StrEnum):
    """What a dream pushes (recipe.mode, kept a string so TOML and metadata read as before)."""

    LUCID = "lucid"  # classes
    DEEPDREAM = "deepdream"  # a layer's energy
    GUIDE = "guide"  # a guide picture's features
    RANDOMISE = "randomise"  # random classes


MODES = tuple(Mode)
METHODS = ("views", "tiles")
# Written beside a recipe in pictures' metadata for human readers; ignored when loading.
INFO_KEYS = frozenset({"class_names", "source", "version"})


# Keys added after pictures began recording their recipes, with the value that makes what such
# a picture was made with. A recorded recipe holds every key of its day (to_dict writes them
# all, octave_plan and frames included, which a person writing a recipe leaves out), so one that
# lacks these predates them, and gets these values rather than today's defaults.
RECORDED_SIGN = frozenset({"octave_plan", "frames", "zoom", "rotate", "jitter", "tile_overlap"})
LATER_KEYS: dict[str, Any] = {"stop_seen": 0.0, "view_samples": 4, "hybrid_routed": False, "hybrid_grow": 1.0,
                              "hybrid_grow_last": False, "hybrid_follow": False, "hybrid_regions_partner": False,
                              "hybrid_steps_classes": MANY_CLASSES, "hybrid_floor": 0.1}

# The flat keys in the order a recipe has always written them (TOML keeps it: a saved recipe
# reads as before, group by group no more than the flat recipe was).
KEYS = (
    "model", "weights", "mode", "classes", "layer", "guide", "guide_layer", "method", "param", "steps",
    "learning_rate", "strength", "decay", "view_min", "view_max", "view_coarsen", "view_samples", "hybrid",
    "hybrid_steps", "hybrid_steps_classes", "hybrid_partner", "hybrid_partner_turns", "rivals", "hybrid_routed", "hybrid_grow",
    "hybrid_grow_last", "hybrid_follow", "hybrid_regions_partner", "hybrid_floor", "work_pixels", "stop_seen", "stop_every",
    "stopped_at", "octaves", "octave_scale", "iterations", "sigma_start", "sigma_end", "step_start", "step_end",
    "jitter", "gradient", "view_scale_min", "view_scale_max", "view_rotate", "balance_classes", "octave_plan",
    "tile_size", "tile_overlap", "batch_size", "seed", "max_pixels", "frames", "zoom", "rotate",
)
# Keys whose value can be a file of the user's disk: weights and guide always, model and
# hybrid_partner when the net is imported from a file (models.registry.is_file_model).
FILE_KEYS = ("model", "weights", "guide", "hybrid_partner")
GROUPS = {"views": ViewsSettings, "tiles": TilesSettings, "video": VideoSettings}


SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # torch.Generator.manual_seed's range


@dataclass
class Recipe:
    """The settings every engine reads, and each engine's own (`views`, `tiles`, `video`)."""

    model: str = "efficientnet-lite0"
    weights: str | None = None
    mode: str = "lucid"
    # Class terms as the user wrote them (name, synonym, id or "a-b" range) -> weight.
    # A negative weight pushes a class away.
    classes: dict[str, float] = field(default_factory=dict)
    layer: str | None = None
    guide: str | None = None
    guide_layer: str | None = None
    # "views": a detail over the photo optimised with Adam through random views of the whole
    # picture (dreamer.render_views, its settings `views`). "tiles": the earlier engine, gradient
    # ascent in pixels over octaves of moving tiles (the `classic` preset, its settings `tiles`).
    method: str = "views"
    # Each class is also pushed against its own look-alikes (the RIVALS classes nearest it by the
    # net's classifier weights: the electric ray for a stingray), by this share of their
    # logsumexp: it is ranked among the top few by its own features, not by what its family shares.
    rivals: float = 0.0
    # In a hybrid, push hardest in each tile (or view of a "mix" or "split" hybrid) on the class
    # that shows least there, so every class of the hybrid appears rather than the easiest one
    # everywhere.
    balance_classes: bool = True
    # Views (and the tiles engine's view of the picture) are turned by up to ±view_rotate degrees:
    # what grows has to read at any angle.
    view_rotate: float = 8.0
    # None: the net's input size. The tiles' side, and the side a guide picture is seen at.
    tile_size: int | None = None
    batch_size: int = 8  # views (or tiles) through the net at once

    seed: int | None = 0
    max_pixels: int = 16_000_000

    views: ViewsSettings = field(default_factory=ViewsSettings)
    tiles: TilesSettings = field(default_factory=TilesSettings)
    video: VideoSettings = field(default_factory=VideoSettings)

    def __post_init__(self) -> None:
        self.validate()

    # --- validation ---------------------------------------------------------------------
    def validate(self) -> None:
        """Every value in range, the groups' too (again: a recipe may be edited after it was built)."""
        need(self, self.mode in MODES, "mode", f"must be one of {', '.join(MODES)}")
        need(self, self.method in METHODS, "method", f"must be one of {', '.join(METHODS)}")
        # Paths and names reach Path() and the nets' lookups, where a number from a TOML file
        # (`weights = 5`) was a TypeError long after the recipe was read.
        need(self, isinstance(self.model, str) and self.model != "", "model", "must be a model name or file")
        for key, kinds in (("weights", (str, os.PathLike)), ("guide", (str, os.PathLike)), ("layer", str),
                           ("guide_layer", str)):
            need(self, getattr(self, key) is None or isinstance(getattr(self, key), kinds), key,
                 "must be text (a file or layer name), or left out")
        for name, kind in GROUPS.items():
            if not isinstance(getattr(self, name), kind):
                raise RecipeError(f"recipe: {name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        self.views.validate()
        # The same net beside itself dreamt a hybrid in twice the time, exactly as it alone would.
        # Files are told apart by their paths, which a published recipe records without their
        # folders (bot.render.renderer.public_recipe): /a/model.onnx beside /b/model.onnx is two
        # nets, read back as one name twice.
        need(self.views, self.views.hybrid_partner != self.model or is_file_model(self.model), "hybrid_partner",
             f"must be a different net from model ({self.model!r}): \"\" for none, \"auto\" for the default")
        need(self, is_num(self.rivals) and 0 <= self.rivals <= 2, "rivals",
             "must be 0..2 (0: no push against look-alikes)")
        need(self, isinstance(self.classes, dict), "classes", "must be a table of class = weight")
        for k, v in self.classes.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise RecipeError(f"recipe: classes.{k} = {v!r}: weight must be a finite number")
            if abs(v) > MAX_WEIGHT:  # relative: a larger one only overflowed (models.class_spec)
                raise RecipeError(f"recipe: classes.{k} = {v!r}: weight must be from {-MAX_WEIGHT:g} to {MAX_WEIGHT:g}")
        self.tiles.validate()
        need(self, isinstance(self.balance_classes, bool), "balance_classes", "must be true or false")
        need(self, is_num(self.view_rotate) and 0 <= self.view_rotate <= 45, "view_rotate", "must be 0..45 degrees")
        need(self, self.tile_size is None or (is_int(self.tile_size) and 32 <= self.tile_size <= 2048),
             "tile_size", "must be an integer 32..2048 (or unset for the net's input size)")
        need(self, is_int(self.batch_size) and 1 <= self.batch_size <= 256, "batch_size", "must be an integer 1..256")
        # What torch's generators take; a dive's frame k dreams with seed + k. A larger seed failed
        # after the net was loaded, "Overflow when unpacking long".
        top = SEED_MAX - (self.video.frames - 1 if is_int(self.video.frames) and self.video.frames > 1 else 0)
        need(self, self.seed is None or (is_int(self.seed) and SEED_MIN <= self.seed <= top), "seed",
             f"must be an integer from {SEED_MIN} to {top} (or unset for a random one)")
        need(self, is_int(self.max_pixels) and self.max_pixels >= 64 * 64, "max_pixels", "must be an integer >= 4096")
        self.video.validate()

    def check_complete(self) -> None:
        """What a render needs beyond valid values (kept out of __post_init__ so a recipe can
        be built up step by step, e.g. the bot adding classes to a preset)."""
        if self.mode == Mode.LUCID and not self.classes:
            raise RecipeError("recipe: classes is empty: lucid mode needs at least one class")
        if self.mode == Mode.LUCID and all(isinstance(w, (int, float)) and w == 0 for w in self.classes.values()):
            # every class at 0 pushes nothing: the "dream" would be the photo, slightly blurred
            raise RecipeError("recipe: every class has weight 0, so nothing would be dreamt; give one a weight "
                              "other than 0 (goldfish:1)")
        if self.mode == Mode.GUIDE and not self.guide:
            raise RecipeError("recipe: guide is unset: guide mode needs a guide image")

    # --- flat keys ----------------------------------------------------------------------
    @classmethod
    def from_flat(cls, **settings: Any) -> "Recipe":
        """A recipe from flat keys (`Recipe.from_flat(classes=..., steps=8, frames=3)`), each
        routed to its group; the rest at their defaults."""
        return cls().replace(**settings)

    def replace(self, **changes: Any) -> "Recipe":
        """A copy with `changes`: flat keys (KEYS), each routed to its group, or whole groups
        (`views=ViewsSettings(...)`). The copy shares no group with this recipe."""
        shared: dict[str, Any] = {}
        grouped: dict[str, dict[str, Any]] = {name: {} for name in GROUPS}
        for key, value in changes.items():
            home = "" if key in GROUPS else HOME.get(key)
            if home is None:
                raise RecipeError(f"recipe: unknown key(s) {key}; known keys: {', '.join(sorted(KEYS))}")
            (grouped[home] if home else shared)[key] = value
        for name, kw in grouped.items():
            shared[name] = dataclasses.replace(shared.get(name, getattr(self, name)), **kw)
        return dataclasses.replace(self, **shared)

    # --- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The flat table (KEYS, in their order) pictures, sidecars and queue jobs carry."""
        nested = dataclasses.asdict(self)
        homes = {"": nested, **{name: nested[name] for name in GROUPS}}
        # TOML has no null: unset values are left out, and come back as defaults.
        return _drop_none({key: homes[HOME[key]][key] for key in KEYS})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipe":
        if not isinstance(data, dict):
            raise RecipeError("recipe: expected a table of settings")
        data = {k: v for k, v in data.items() if k not in INFO_KEYS}
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise RecipeError(
                f"recipe: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(KEYS))}"
            )
        if RECORDED_SIGN <= data.keys():  # a picture's recipe: it replays as it was made
            data = {**LATER_KEYS, **data}
        plan = data.pop("octave_plan", None)
        plan = [] if plan is None else plan
        if not isinstance(plan, list):  # 0, "", false or {} too: not quietly "no plan"
            raise RecipeError(f"recipe: octave_plan = {plan!r}: must be a list of tables, one per octave")
        octave_keys = {f.name for f in dataclasses.fields(Octave)}
        octaves = []
        for i, o in enumerate(plan):
            if not isinstance(o, dict):
                raise RecipeError(f"recipe: octave_plan[{i}] must be a table")
            bad = sorted(set(o) - octave_keys)
            if bad:
                raise RecipeError(f"recipe: octave_plan[{i}] has unknown key(s) {', '.join(bad)}")
            # Octave entries may leave out anything the recipe itself sets.
            defaults = {k: data.get(k, getattr(TilesSettings, k)) for k in octave_keys if k not in ("scale", "layer")}
            merged = {**defaults, "layer": None, **o}
            if "scale" not in merged:
                raise RecipeError(f"recipe: octave_plan[{i}] needs a scale")
            octaves.append(Octave(**merged))
        if "classes" in data and isinstance(data["classes"], dict):
            data["classes"] = {str(k): v for k, v in data["classes"].items()}
        try:
            return cls.from_flat(**data, octave_plan=octaves)
        except TypeError as exc:
            raise RecipeError(f"recipe: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Recipe":
        p = Path(path)
        try:
            # utf-8-sig: Windows editors (Notepad) start UTF-8 files with a BOM, which tomllib and
            # json refuse with no word of why ("Invalid statement (at line 1, column 1)").
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            # A picture or any binary file: the codec's byte offsets say nothing to the user.
            raise RecipeError(f"{p}: not a recipe: a recipe is TOML or JSON text, and this file is "
                              "not UTF-8 text") from None
        except OSError as exc:
            raise RecipeError(f"cannot read recipe {p}: {exc}") from None
        try:
            data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RecipeError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'TOML'}: {exc}") from None
        if isinstance(data, dict) and "recipe" in data and isinstance(data["recipe"], dict):
            data = data["recipe"]  # accept a sidecar written by save_image
        try:
            return cls.from_dict(data)
        except RecipeError as exc:
            raise RecipeError(f"{p}: {exc}") from None

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.write_text(self.to_json() if p.suffix.lower() == ".json" else self.to_toml(), encoding="utf-8")


# Flat key -> the group it lives in ("": the Recipe itself).
HOME: dict[str, str] = {f.name: "" for f in dataclasses.fields(Recipe) if f.name not in GROUPS}
for _name, _kind in GROUPS.items():
    HOME.update({f.name: _name for f in dataclasses.fields(_kind)})
if sorted(HOME) != sorted(KEYS):  # a field added to a group but not to the wire, or the reverse
    raise AssertionError(f"recipe KEYS and fields differ: {sorted(set(HOME) ^ set(KEYS))}")


# The step a dream stopped at before its cap travels with the picture (in PIL's `info`), so
# whoever saves it records the recipe as it ran (`as_ran`) through interfaces that pass only
# pictures (the bot's renderers, a queue worker's batches).
STOPPED_AT = "lucid_dream_stopped_at"


def with_stop(image: "Image.Image", stopped_at: int | None) -> "Image.Image":
    if stopped_at is not None:
        image.info[STOPPED_AT] = stopped_at
    return image


def as_ran(recipe: Recipe, image: "Image.Image") -> Recipe:
    """`recipe` as `image` was made with it: with the step it stopped at when a check found every
    class seen before the cap, so a replay stops there without checking (the same picture)."""
    stopped_at = image.info.get(STOPPED_AT)
    if is_int(stopped_at) and recipe.views.stopped_at is None:
        return recipe.replace(stopped_at=stopped_at)
    return recipe


def _drop_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v

