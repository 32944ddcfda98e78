"""A recipe worked out once, for one net and one dream: the plan the render loops follow.

A recipe says in words what a user wants (`mode`, and in its engine's group `views.hybrid`,
`views.param`, `tiles.gradient`, ...); a plan is what a loop runs: the objective, how a mutant's
classes share the picture, the detail's factory, the optimiser, the step budget and the classes a
check for being seen looks for, as lucent's `render_vis` takes `objective_f`, `param_f`,
`optimizer` and `transforms`. Every string option of a recipe that changes what a loop does is
read here and nowhere else: render_views, render_batch and render_tiles branch on none.
"""
from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Callable

import torch

from dreamer import objectives as obj
from dreamer import param as prm
from dreamer.activations import capture
from dreamer.recipe import Mode, Octave, Recipe, RecipeError
from dreamer.transform import laplacian_normalise, resize, to_tensor
from models import DreamNet
from models.heads import look_alikes

RIVALS = 8  # look-alikes a class is pushed against (recipe.rivals): about its top-5 race


class Engine(enum.Enum):
    """Which loop dreams a recipe (recipe.method)."""

    VIEWS = "views"  # a detail optimised through random views (dreamer.render_views)
    TILES = "tiles"  # gradient ascent in pixels over octaves of moving tiles (dreamer.render_tiles)


def engine(recipe: Recipe) -> Engine:
    return Engine(recipe.method)


# Who dreams a hybrid beside a model when its recipe says hybrid_partner = "auto".
AUTO_PARTNERS = {"efficientnet-lite0": "efficientnet-lite1"}


def partner_name(recipe: Recipe) -> str:
    """The net named to dream a hybrid beside recipe.model ("" for none): "auto" names Lite1 beside
    Lite0, for a mutant in regions only with `hybrid_regions_partner` (recipes recorded before it
    dreamt regions with Lite0 alone)."""
    views = recipe.views
    if views.hybrid_partner == "auto":
        if _in_regions(recipe) and not views.hybrid_regions_partner:
            return ""
        return AUTO_PARTNERS.get(recipe.model, "")
    return views.hybrid_partner


def partner_turns(recipe: Recipe) -> bool:
    """Whether the model and its partner take turns, one net a step: as `hybrid_partner_turns`
    says, and always for the "auto" partner of a mutant in regions: both nets every step cost a
    mix twice a single, while in turns a pair in regions took what Lite0 alone took and a triple a
    fifth more (benchmarks/README.md, "Lite1 in turns beside the regions, the default")."""
    views = recipe.views
    return views.hybrid_partner_turns or (views.hybrid_partner == "auto" and _in_regions(recipe))


def _in_regions(recipe: Recipe) -> bool:
    return Placement(recipe.views.hybrid) is Placement.REGIONS


def dreams_a_mutant(recipe: Recipe, net: DreamNet) -> bool:
    """Whether `recipe` dreams two or more classes at once with the views engine (the dreams a
    partner net may join)."""
    return engine(recipe) is Engine.VIEWS and _mode(recipe) is Mode.LUCID and positive_classes(recipe, net) > 1


class Placement(enum.Enum):
    """How the classes of a mutant share the picture (recipe.views.hybrid)."""

    WHOLE = "mix"  # every view pushes every class over one detail (and any one-class dream)
    REGIONS = "regions"  # each class its own regions of the photo, with a detail layer of its own
    SPLIT = "split"  # each view leans to one class, drawn at random


ParamFactory = Callable[[int, int, torch.device, int, int], prm.Param]  # (h, w, device, seed, layers)
Optimiser = Callable[[list[torch.Tensor]], torch.optim.Optimizer]


@dataclass(frozen=True)
class Plan:
    """What the views engine runs for one picture."""

    recipe: Recipe  # as run: a mutant's extra steps added
    objective: obj.Objective
    placement: Placement  # WHOLE unless 2+ classes share the picture by region or view
    placed: dict[int, float]  # those classes (id -> weight); {} for WHOLE
    seen_classes: list[int]  # the classes whose being seen ends the dream early ([]: no checks)
    make_param: ParamFactory
    optimiser: Optimiser
    routed: bool = False  # REGIONS: each view dreamt for one class, into that class's layer alone

    @property
    def steps(self) -> int:
        return self.recipe.views.steps


@dataclass(frozen=True)
class TilesPlan:
    """What the tiles engine runs: the octaves, each with its objective, and the gradient's
    normalisation."""

    recipe: Recipe
    octaves: list[Octave]
    objectives: list[obj.Objective]
    normalise: Callable[[torch.Tensor], torch.Tensor]


def views_plan(recipe: Recipe, net: DreamNet, seed: int, device: torch.device) -> Plan:
    objective = objective_for(recipe, net, recipe.layer or net.default_layer, seed, device)
    positive: dict[int, float] = {}
    if _mode(recipe) is Mode.LUCID:
        positive = {i: w for i, w in resolve_classes(recipe, net).items() if w > 0}
    views = recipe.views
    if len(positive) > 1:
        extra = min(len(positive) - 1, views.hybrid_steps_classes)
        steps = round(views.steps * (1 + views.hybrid_steps * extra))
        recipe = recipe.replace(steps=steps)
    placement = Placement(views.hybrid) if len(positive) > 1 else Placement.WHOLE
    make_param = functools.partial(_param, views.param, views.decay)
    optimiser = functools.partial(adam, lr=views.learning_rate)
    return Plan(recipe, objective, placement, positive if placement is not Placement.WHOLE else {},
                sorted(positive), make_param, optimiser, views.hybrid_routed and placement is Placement.REGIONS)


def tiles_plan(recipe: Recipe, net: DreamNet, seed: int, device: torch.device) -> TilesPlan:
    octaves = recipe.tiles.plan()
    guides: dict[str, torch.Tensor] = {}  # a guide is read and seen once a dream, not once an octave
    objectives = []
    for i, octave in enumerate(octaves):
        if _mode(recipe) is Mode.LUCID and octave.layer:
            objectives.append(obj.layer_energy(octave.layer))
        else:
            layer = octave.layer or recipe.layer or net.default_layer
            objectives.append(objective_for(recipe, net, layer, seed + i, device, guides))
    normalise = laplacian_normalise if recipe.tiles.gradient == "laplacian" else _unchanged
    return TilesPlan(recipe, octaves, objectives, normalise)


def _unchanged(g: torch.Tensor) -> torch.Tensor:
    return g


def _param(kind: str, decay: float, height: int, width: int, device: torch.device, seed: int,
           layers: int) -> prm.Param:
    return prm.make(kind, height, width, device, decay=decay, seed=seed, layers=layers)


def adam(tensors: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """Adam as one fused kernel where this torch has it (2.4+: CPU too): the detail's spectrum has
    millions of values, and the per-op update took 20-30 ms a step on one core against 3.5 ms."""
    try:
        return torch.optim.Adam(tensors, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or a device without the kernel
        return torch.optim.Adam(tensors, lr=lr)


# --- the objective ---------------------------------------------------------------------------
def objective_for(recipe: Recipe, net: DreamNet, layer: str | None, seed: int, device: torch.device,
                  guides: dict[str, torch.Tensor] | None = None) -> obj.Objective:
    """The objective `recipe.mode` asks for, at `layer` where the mode reads one. `guides` keeps
    a guide's activations per layer between calls (the tiles engine's octaves)."""
    mode = _mode(recipe)
    if mode is Mode.LUCID:
        weights = resolve_classes(recipe, net)
        # A mutant in regions: each view already leans to the classes whose regions it covers,
        # and the balance would push the class that lags in a view, which is the one not meant
        # to be there.
        regions = recipe.method == "views" and recipe.views.hybrid == "regions"
        positive = [i for i, w in weights.items() if w > 0]
        rivals = look_alikes(net, positive, RIVALS) if recipe.rivals > 0 else None
        return obj.class_logits(weights, balance=recipe.balance_classes and not regions,
                                rivals=rivals, rival_share=recipe.rivals)
    if mode is Mode.DEEPDREAM:
        return obj.layer_energy(_layer(net, layer))
    if mode is Mode.RANDOMISE:
        n = len(net.labels) if net.labels is not None else _num_classes(net)
        return obj.randomise(n, torch.Generator().manual_seed(seed))
    glayer = recipe.guide_layer or layer  # Mode.GUIDE
    guides = {} if guides is None else guides
    if glayer not in guides:
        guides[glayer] = guide_activations(recipe, net, glayer, device)
    return obj.guide_features(glayer, guides[glayer])


def _mode(recipe: Recipe) -> Mode:
    """recipe.mode, which a Recipe validates but a recipe edited past validation may not hold."""
    try:
        return Mode(recipe.mode)
    except ValueError:
        raise RecipeError(f"unknown mode {recipe.mode!r}") from None


def resolve_classes(recipe: Recipe, net: DreamNet) -> dict[int, float]:
    """The recipe's classes as the net's ids (id -> weight)."""
    if net.labels is not None:
        from models.labels import resolve_weights

        weights = resolve_weights(recipe.classes, net.labels)
    else:
        weights = {}
        for term, w in recipe.classes.items():
            if not term.strip().isdigit():
                raise RecipeError(f"model {net.name!r} has no labels: give classes as ids, not {term!r}")
            weights[int(term)] = weights.get(int(term), 0.0) + float(w)
    n = _num_classes(net)
    bad = [i for i in weights if not 0 <= i < n]
    if bad:
        raise RecipeError(f"class id(s) {bad} out of range 0..{n - 1} for model {net.name!r}")
    return weights


def positive_classes(recipe: Recipe, net: DreamNet) -> int:
    """How many classes `recipe` pushes towards: 2 or more make a mutant."""
    return sum(1 for w in resolve_classes(recipe, net).values() if w > 0)


def _layer(net: DreamNet, name: str | None) -> str:
    if not name:
        raise RecipeError(f"deepdream needs a layer; model {net.name!r} has: {', '.join(net.layers)}")
    net.layer(name)  # raises ModelError listing the layers
    return name


def _num_classes(net: DreamNet) -> int:
    if net.num_classes is not None:
        return net.num_classes
    last = [m for m in net.module.modules() if isinstance(m, torch.nn.Linear)]
    return last[-1].out_features if last else 1000


def guide_activations(recipe: Recipe, net: DreamNet, layer: str | None, device: torch.device) -> torch.Tensor:
    """The guide picture's activations at `layer`, seen whole on its short side at its centre."""
    from dreamer.image_io import load_image

    guide = load_image(recipe.guide, max_pixels=4_000_000)
    x = to_tensor(guide, device)
    size = recipe.tile_size or net.input_size
    h, w = x.shape[-2:]
    s = size / min(h, w)
    x = resize(x, (max(size, round(h * s)), max(size, round(w * s))))
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    x = x[..., top:top + size, left:left + size]
    name = _layer(net, layer)
    with torch.no_grad(), capture(net, frozenset({name})) as run:
        return run(x)[name].detach()
