"""Each engine's own settings, the groups a Recipe (dreamer.recipe) holds beside its shared ones:
`ViewsSettings` for the views engine (dreamer.plan, render_views), `TilesSettings` for the tiles
engine (render_tiles, the `classic` preset) and `VideoSettings` for dives (dreamer.dive,
animate). A setting lives in the group of the one engine that reads it; one read by two engines
(the batch size, the views' turn, the tile size a guide is seen at) stays on the Recipe.

Each group checks its own values, with the messages a flat recipe always gave (`recipe: steps =
-1: ...`): on the wire (TOML, JSON, pictures' metadata, flags) a recipe is still one flat table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PARAMS = ("fourier", "pixel")
HYBRIDS = ("split", "mix", "regions")
GRADIENTS = ("laplacian", "mean")


class RecipeError(ValueError):
    """A recipe value is out of range or of the wrong kind; the message names the key."""


def need(owner: Any, cond: bool, key: str, what: str) -> None:
    if not cond:
        raise RecipeError(f"recipe: {key} = {getattr(owner, key)!r}: {what}")


# hybrid_steps_classes past any mutant's class count: every class beyond the first adds steps
# (how recipes recorded before the key ran).
MANY_CLASSES = 99


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class ViewsSettings:
    """The views engine: a detail over the photo (param: "fourier" or "pixel") optimised with Adam
    through random views of the whole picture (dreamer.render_views)."""

    param: str = "fourier"
    # 128 steps of 8 views at strength 0.4: creatures a judge net finds in ~80 % of views (after
    # blur and JPEG) while the photo's composition stays (benchmarks/quality.py, README).
    steps: int = 128
    learning_rate: float = 0.05
    strength: float = 0.4  # scales the detail
    decay: float = 1.0  # the Fourier detail's 1/f^decay spectrum
    # Views' sides as fractions of the picture's short side (log-uniform between the two).
    view_min: float = 0.33
    view_max: float = 1.0
    # Half the views are seen coarser, down to 1 − view_coarsen of the net's resolution. Seen only
    # sharp, a class grows as pixel detail that blur, downscaling and JPEG wipe out (a hybrid's
    # weaker class most of all); seen down to a tenth, it has to grow shapes. 0.9 against 0.5:
    # held-out singles 82 -> 97 % visible, hybrids' weaker class 26 -> 33 % (benchmarks/README.md).
    view_coarsen: float = 0.9
    # Samples per pixel a side a view is averaged from before a halved copy of the picture is
    # sampled instead (dreamer.transform.view_batch): 4 is a near-exact box filter, 2 a little
    # softer at a quarter of the samples.
    view_samples: int = 4
    # How a hybrid shares the picture between its classes: "regions" (each class gets soft
    # regions of the photo where the net already sees it most, and paints them with a detail of
    # its own: dreamer.regions), "mix" (every view pushes all classes over one detail, the one
    # lagging in that view hardest; the default until session 9) or "split" (each view leans to
    # one class, drawn at random). Blind viewers named 16 of 22 creatures in regions mutants
    # against 7 of 22 in mix ones (at 1.24 singles' time against 2.1 in session 9, before
    # singles stopped early), while the quality judge
    # found the weaker class in fewer views (31 % against 56 % on three held-out rows):
    # benchmarks/README.md, "Mutants in their places".
    hybrid: str = "regions"
    # Each class of a hybrid beyond the first adds this share of `steps` (a pair 144; a triple
    # too, `hybrid_steps_classes`). Mutants run all their steps (the check that stops a single
    # rarely passes for a creature in its own places), and past ~144 the judge's weakest class
    # barely moves: 192 steps against 144 gave 48 against 45 % on the tuning pairs and 42 against
    # 39 % on eight held-out ones, at a third more time and less of the photo (benchmarks/
    # README.md, "Fewer steps for mutants").
    hybrid_steps: float = 0.125
    # ... for this many classes beyond the first: a pair and a triple both 144 steps. A triple's
    # last 16 steps added nothing to its weakest class (48 held-out triples over six runs: 14.8 %
    # of the judge's views at 144 steps, 14.9 % at 160) and took fidelity 0.594 -> 0.579, at a
    # tenth of its time; a pair's last 16 gave its weaker class 1.3 points (benchmarks/README.md,
    # "A triple in a pair's steps").
    hybrid_steps_classes: int = 1
    # A hybrid dreams with this net beside `model`, their logits averaged (models.ensemble), when
    # both have the same classes; "" for none; "auto": Lite1 beside the default Lite0 (in turns
    # for "regions": `hybrid_regions_partner`), none beside other nets. What convinces two nets
    # shows to a third: the judge found a mix's weaker class in 48 % of its held-out views against
    # 30 % for Lite0 alone (benchmarks/README.md, "Two nets for hybrids"), at about twice the time.
    hybrid_partner: str = "auto"
    # The model and its partner take turns, one net a step, instead of both every step: a
    # two-class hybrid in about 60 % of the time, its weaker class a little weaker (held out
    # 43 % of the judge's views against 48 %; never-seen photos 66 % against 68 %; Lite0 alone
    # 30 % / 40 %; benchmarks/README.md, "Partners in turns").
    hybrid_partner_turns: bool = False
    # A mutant in regions: each view is dreamt for one class, drawn by how much of the view its
    # regions cover, and its gradient reaches only that class's detail layer (shared, the class
    # that takes the picture painted its texture over the other's regions too). Held out: the
    # weaker class in 37 % of the judge's views against 27 %, at 1.06 times the time
    # (benchmarks/README.md, "Routed views").
    hybrid_routed: bool = True
    # A mutant in regions: at each check for being seen (`stop_every`), a class the dreaming net
    # finds in fewer than half as many degraded crops as the best-seen one has its area grown by
    # this factor, so a creature gets room to grow whole (dreamer.regions.Regions.grow; 1: the
    # regions stay as placed). Held out: the weaker class of a pair in 42 % of the judge's views
    # against 33 % with regions that stay, at the same time (benchmarks/README.md, "Regions that grow").
    hybrid_grow: float = 2.0
    # ... and once more after the last step, before the picture is finished: otherwise the last
    # 16 steps go unchecked. On 10 pairs at 144 steps it changed one picture (held out: a brown
    # bear + fly agaric, the weaker class 8 -> 33 % of the judge's views), the others were
    # unchanged (no class lagging): benchmarks/README.md, "Fewer steps for mutants".
    hybrid_grow_last: bool = True
    # ... shared out again, when a class lags, from the evidence in the picture as dreamt so far,
    # not the photo's: the grown class takes room where the others have not formed (the fig's
    # pufferfish took the plate the broccoli had formed on). benchmarks/README.md, "Regions that
    # follow the dream".
    hybrid_follow: bool = True
    # A mutant in regions with hybrid_partner "auto" dreams with Lite1 beside Lite0, the nets
    # taking turns (one net a step): on eight held-out triples the weakest class in 14-16 % of the
    # judge's views against 7-11 % (two seeds), on sixteen held-out pairs the weaker in 46-47 %
    # against 44 % (two seeds; the six tuning pairs 40 % against 46 % at one), a blind viewer
    # named every creature of 12 pairs of 16 against 10, at 1.15 times a pair's time
    # (benchmarks/README.md, "Lite1 in turns beside the regions"). False: Lite0 alone, as before.
    hybrid_regions_partner: bool = True
    # A mutant in regions: every class paints this share of the picture everywhere (split between
    # the classes, dreamer.regions.FLOOR), its region the rest, so the creatures' markings run
    # into each other. 0.3 against 0.1 (until session 24), held out: the weakest class of 24
    # triples in 16.2 % of the judge's views against 16.8, the weaker of 32 pairs 47.1 against
    # 46.3 %, the photo kept better (fidelity 0.589 -> 0.620, 0.601 -> 0.625); benchmarks/README.md,
    # "Creatures that run into each other".
    hybrid_floor: float = 0.3
    work_pixels: int = 1_000_000  # the detail is optimised at up to this size, then enlarged
    # Stop before `steps` once the creature is there: every `stop_every` steps the dreaming net
    # looks at the picture as the quality judge does (downscaled, blurred, JPEG'd crops:
    # dreamer.seen); once it finds every class in at least this share of the crops, the dream
    # runs as many steps again and stops (0: always run `steps`). All of them, 1.0: at
    # 0.83-0.96 the judge still missed the creature (benchmarks/README.md, "Stop when the
    # creature is there"). `stopped_at` is written into the recipe a picture records: a replay
    # stops at that step without checking.
    stop_seen: float = 1.0
    stop_every: int = 16
    stopped_at: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        need(self, self.param in PARAMS, "param", f"must be one of {', '.join(PARAMS)}")
        need(self, is_int(self.steps) and 0 <= self.steps <= 10_000, "steps", "must be an integer 0..10000")
        need(self, is_num(self.learning_rate) and 0 < self.learning_rate <= 10, "learning_rate", "must be in (0, 10]")
        need(self, is_num(self.strength) and 0 <= self.strength <= 20, "strength", "must be 0..20")
        need(self, is_num(self.decay) and 0 <= self.decay <= 3, "decay", "must be 0..3")
        need(self, is_num(self.view_min) and 0.05 <= self.view_min <= 1.5, "view_min", "must be 0.05..1.5")
        need(self, is_num(self.view_max) and self.view_min <= self.view_max <= 1.5, "view_max",
             "must be view_min..1.5")
        need(self, is_num(self.view_coarsen) and 0 <= self.view_coarsen <= 0.9, "view_coarsen", "must be 0..0.9")
        need(self, self.view_samples in (2, 4) and is_int(self.view_samples), "view_samples", "must be 2 or 4")
        need(self, self.hybrid in HYBRIDS, "hybrid", f"must be one of {', '.join(HYBRIDS)}")
        need(self, is_num(self.hybrid_steps) and 0 <= self.hybrid_steps <= 4, "hybrid_steps", "must be 0..4")
        need(self, is_int(self.hybrid_steps_classes) and 0 <= self.hybrid_steps_classes <= MANY_CLASSES,
             "hybrid_steps_classes", f"must be a whole number 0..{MANY_CLASSES}")
        need(self, isinstance(self.hybrid_partner, str), "hybrid_partner", "must be a model name (\"\" for none)")
        for key in ("hybrid_partner_turns", "hybrid_routed", "hybrid_grow_last", "hybrid_follow",
                    "hybrid_regions_partner"):
            need(self, isinstance(getattr(self, key), bool), key, "must be true or false")
        need(self, is_num(self.hybrid_grow) and 1 <= self.hybrid_grow <= 4, "hybrid_grow",
             "must be 1..4 (1: regions stay)")
        need(self, is_num(self.hybrid_floor) and 0 <= self.hybrid_floor < 1, "hybrid_floor",
             "must be a share from 0 up to, not including, 1 (each class needs a region of its own)")
        need(self, is_int(self.work_pixels) and self.work_pixels >= 64 * 64, "work_pixels",
             "must be an integer >= 4096")
        need(self, is_num(self.stop_seen) and 0 <= self.stop_seen <= 1, "stop_seen",
             "must be a share 0..1 (0: never stop early)")
        need(self, is_int(self.stop_every) and 1 <= self.stop_every <= 10_000, "stop_every",
             "must be an integer 1..10000")
        need(self, self.stopped_at is None or (is_int(self.stopped_at) and self.stopped_at >= 1), "stopped_at",
             "must be a step number >= 1 (or unset)")


@dataclass
class Octave:
    """Settings for one scale. Unset fields fall back to the recipe's."""

    scale: float  # of the full picture's side, 0 < scale <= 1
    iterations: int
    sigma_start: float
    sigma_end: float
    step_start: float
    step_end: float
    layer: str | None = None


@dataclass
class TilesSettings:
    """The tiles engine (method "tiles", the `classic` preset): gradient ascent in pixels over
    octaves of moving tiles (dreamer.render_tiles)."""

    octaves: int = 3
    octave_scale: float = 1.4
    iterations: int = 12
    # Strong early blur and big steps, both decaying: blur lets only shapes survive at first,
    # then detail; measured by benchmarks/quality.py (see the README's quality table).
    sigma_start: float = 2.0
    sigma_end: float = 0.6
    step_start: float = 10.0
    step_end: float = 4.0
    jitter: int = 32
    # "laplacian" evens out the gradient's frequency bands so shapes grow rather than pixel
    # noise; "mean" is the original's g / mean|g|.
    gradient: str = "laplacian"
    # Each step the tiles see the picture magnified by a random factor in
    # [view_scale_min, view_scale_max] (log-uniform; below 1 a tile takes in more of the picture,
    # so bigger shapes grow) and turned by up to ±view_rotate degrees (a shared setting: the
    # views engine turns its views by it too): what grows has to read at any size and angle
    # (lucent's transformation robustness), and the tiles still cover every pixel evenly, edges
    # included.
    view_scale_min: float = 0.55
    view_scale_max: float = 1.1
    # Explicit per-octave plan (coarse to fine); when given it replaces the generated one.
    octave_plan: list[Octave] = field(default_factory=list)
    # Fraction of a tile shared with its neighbour. Small is enough: the grid moves and turns
    # every step, so no tile edge stays anywhere long enough to leave a seam.
    tile_overlap: float = 0.15

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        need(self, self.gradient in GRADIENTS, "gradient", f"must be one of {', '.join(GRADIENTS)}")
        need(self, is_int(self.octaves) and 1 <= self.octaves <= 12, "octaves", "must be an integer 1..12")
        need(self, is_num(self.octave_scale) and 1.0 <= self.octave_scale <= 4.0, "octave_scale", "must be 1.0..4.0")
        need(self, is_int(self.iterations) and 0 <= self.iterations <= 10_000, "iterations",
             "must be an integer 0..10000")
        for key in ("sigma_start", "sigma_end"):
            need(self, is_num(getattr(self, key)) and 0 <= getattr(self, key) <= 20, key, "must be 0..20 pixels")
        for key in ("step_start", "step_end"):
            need(self, is_num(getattr(self, key)) and 0 <= getattr(self, key) <= 100, key, "must be 0..100")
        need(self, is_int(self.jitter) and 0 <= self.jitter <= 512, "jitter", "must be an integer 0..512 pixels")
        need(self, is_num(self.view_scale_min) and 0.25 <= self.view_scale_min <= 4, "view_scale_min",
             "must be 0.25..4")
        need(self, is_num(self.view_scale_max) and self.view_scale_min <= self.view_scale_max <= 4,
             "view_scale_max", "must be view_scale_min..4")
        need(self, is_num(self.tile_overlap) and 0 <= self.tile_overlap <= 0.75, "tile_overlap", "must be 0..0.75")
        for i, octv in enumerate(self.octave_plan):
            # An octave's own values get the checks the recipe's give them: a string or NaN
            # here used to pass and fail deep in the render (TypeError, "cannot convert NaN").
            for key, ok, what in (
                ("scale", is_num(octv.scale) and 0 < octv.scale <= 1, "must be in (0, 1]"),
                ("iterations", is_int(octv.iterations) and 0 <= octv.iterations <= 10_000,
                 "must be an integer 0..10000"),
                ("sigma_start", is_num(octv.sigma_start) and 0 <= octv.sigma_start <= 20, "must be 0..20 pixels"),
                ("sigma_end", is_num(octv.sigma_end) and 0 <= octv.sigma_end <= 20, "must be 0..20 pixels"),
                ("step_start", is_num(octv.step_start) and 0 <= octv.step_start <= 100, "must be 0..100"),
                ("step_end", is_num(octv.step_end) and 0 <= octv.step_end <= 100, "must be 0..100"),
                ("layer", octv.layer is None or isinstance(octv.layer, str), "must be a layer name"),
            ):
                if not ok:
                    raise RecipeError(f"recipe: octave_plan[{i}].{key} = {getattr(octv, key)!r}: {what}")

    def plan(self) -> list[Octave]:
        """Octaves coarse to fine; the last is always full size."""
        if self.octave_plan:
            return list(self.octave_plan)
        return [
            Octave(
                scale=self.octave_scale ** -(self.octaves - 1 - i),
                iterations=self.iterations,
                sigma_start=self.sigma_start,
                sigma_end=self.sigma_end,
                step_start=self.step_start,
                step_end=self.step_end,
                layer=None,
            )
            for i in range(self.octaves)
        ]


@dataclass
class VideoSettings:
    """A dive (dreamer.dive, dreamer.animate): `frames` frames, the camera zooming by `zoom` and
    turning by `rotate` degrees a frame (1 frame: a still)."""

    frames: int = 1
    zoom: float = 1.05
    rotate: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        need(self, is_int(self.frames) and 1 <= self.frames <= 10_000, "frames", "must be an integer 1..10000")
        need(self, is_num(self.zoom) and 0.5 <= self.zoom <= 2.0, "zoom", "must be 0.5..2.0")
        need(self, is_num(self.rotate) and -180 <= self.rotate <= 180, "rotate", "must be -180..180 degrees")
