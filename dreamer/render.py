"""Dreaming a picture: what both engines share (the device, the net and its hooked layers, the
objective a recipe asks for, progress reports) and `dream`, which picks the engine: the views
engine (dreamer.render_views, the default) or the tiles engine (dreamer.render_tiles, `classic`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

import torch
from PIL import Image

from dreamer import objectives as obj
from dreamer import threads
from dreamer.recipe import Octave, Recipe, RecipeError, with_stop
from dreamer.shape import check_shape
from dreamer.transform import resize, to_image, to_tensor
from models import DreamNet, create_model
from models.heads import look_alikes


@dataclass(frozen=True)
class Progress:
    octave: int  # 0-based
    octaves: int
    step: int  # 0-based within the octave
    steps: int
    done: int  # steps done over the whole dream
    total: int
    score: float  # objective value, averaged over the step's tiles
    image: Callable[[], Image.Image]  # the picture so far, made only when asked for


ProgressFn = Callable[[Progress], None]


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise RecipeError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"device {device!r} asked for, but this torch build sees no CUDA GPU")
    return dev


# One net is built at a time: a queue worker's threads asking for the same net at once built it
# wrong (a seeded net's weights come from torch's one global random generator; 23 of 30 tiny nets
# built in 6 threads differed), and would each have loaded its weights.
_LOADING = threading.RLock()


def load_net(model: str, weights: str | None, device: str) -> DreamNet:
    """Nets are cached so the bot and dive animations load weights once."""
    with _LOADING:
        return _load_net(model, weights, device)


@lru_cache(maxsize=4)
def _load_net(model: str, weights: str | None, device: str) -> DreamNet:
    return create_model(model, weights=weights, device=device)


# Who dreams a hybrid beside a model when its recipe says hybrid_partner = "auto".
AUTO_PARTNERS = {"efficientnet-lite0": "efficientnet-lite1"}


def dream_net(recipe: Recipe, device: str) -> DreamNet:
    """The net `recipe` dreams with: its model, joined by its hybrid partner for a hybrid of the
    views engine when the partner has the same classes (a net with other classes dreams alone)."""
    net = load_net(recipe.model, recipe.weights, device)
    partner = hybrid_partner(recipe)
    if not (partner and recipe.method == "views" and recipe.mode == "lucid"):
        return net
    if positive_classes(recipe, net) < 2:
        return net
    with _LOADING:  # one ensemble object per pair: a batch runs only pictures of one net
        return _pair(recipe.model, recipe.weights, partner, device, recipe.hybrid_partner_turns)


def hybrid_partner(recipe: Recipe) -> str:
    """The net named to dream a hybrid beside recipe.model ("" for none)."""
    if recipe.hybrid_partner == "auto":
        return "" if recipe.hybrid == "regions" else AUTO_PARTNERS.get(recipe.model, "")
    return recipe.hybrid_partner


@lru_cache(maxsize=4)
def _pair(model: str, weights: str | None, partner: str, device: str, turns: bool = False) -> DreamNet:
    from models.ensemble import ensemble, same_classes

    net, other = load_net(model, weights, device), load_net(partner, None, device)  # dream_net holds _LOADING
    if other.name == net.name or not same_classes(net, other):
        return net
    return ensemble(f"{net.name}+{other.name}" + (" in turns" if turns else ""), [net, other], turns)


# --- activations -------------------------------------------------------------------------
class _Enough(Exception):
    """Raised from a hook once every needed layer is captured, skipping the rest of the net."""


@contextlib.contextmanager
def capture(net: DreamNet, layers: frozenset[str]) -> Iterator[Callable[[torch.Tensor], dict]]:
    """Run the net, returning the activations an objective reads ('logits' = class output)."""
    wanted = {name for name in layers if name != "logits"}
    acts: dict[str, torch.Tensor] = {}
    need_logits = "logits" in layers
    handles = []
    for name in wanted:
        def hook(_m, _inp, out, name=name):
            acts[name] = out
            if not need_logits and wanted <= acts.keys():
                raise _Enough

        handles.append(net.layer(name).register_forward_hook(hook))

    def run(x: torch.Tensor, step: int | None = None) -> dict[str, torch.Tensor]:
        """The activations for batch x; `step` picks the member of an ensemble in turns."""
        threads.rebalance()  # once a step: another dream may have started or ended
        acts.clear()
        if net.turns and step is not None and not wanted:  # only the logits: one member's turn
            member = net.turns[step % len(net.turns)]
            return {"logits": member.module(member.normalise(x))}
        try:
            acts["logits"] = net.module(net.normalise(x))
        except _Enough:
            pass
        return dict(acts)

    try:
        yield run
    finally:
        for h in handles:
            h.remove()


# --- objectives from a recipe -----------------------------------------------------------
Builder = Callable[[Recipe, DreamNet, str, int, torch.device, dict], obj.Objective]


def _lucid(recipe: Recipe, net: DreamNet, layer: str, seed: int, device: torch.device, memo: dict) -> obj.Objective:
    weights = resolve_classes(recipe, net)
    # A hybrid in regions: each view already leans to the classes whose regions it covers, and
    # the balance would push the class that lags in a view, which is the one not meant to be there.
    regions = recipe.method == "views" and recipe.hybrid == "regions"
    positive = [i for i, w in weights.items() if w > 0]
    rivals = look_alikes(net, positive, RIVALS) if recipe.rivals > 0 else None
    return obj.class_logits(weights, balance=recipe.balance_classes and not regions,
                            rivals=rivals, rival_share=recipe.rivals)


RIVALS = 8  # look-alikes a class is pushed against (recipe.rivals): about its top-5 race


def _deepdream(recipe: Recipe, net: DreamNet, layer: str, seed: int, device: torch.device,
               memo: dict) -> obj.Objective:
    return obj.layer_energy(_layer(net, layer))


def _randomise(recipe: Recipe, net: DreamNet, layer: str, seed: int, device: torch.device,
               memo: dict) -> obj.Objective:
    n = len(net.labels) if net.labels is not None else _num_classes(net)
    return obj.randomise(n, torch.Generator().manual_seed(seed))


def _guide(recipe: Recipe, net: DreamNet, layer: str, seed: int, device: torch.device, memo: dict) -> obj.Objective:
    glayer = recipe.guide_layer or layer
    if glayer not in memo:  # the guide is read and seen by the net once a dream, not once an octave
        memo[glayer] = _guide_activations(recipe, net, glayer, device)
    return obj.guide_features(glayer, memo[glayer])


BUILDERS: dict[str, Builder] = {"lucid": _lucid, "deepdream": _deepdream, "randomise": _randomise, "guide": _guide}


def build_objective(recipe: Recipe, net: DreamNet, octave: Octave | None, seed: int,
                    device: torch.device, memo: dict | None = None) -> obj.Objective:
    """The objective of `recipe` (for one octave of the tiles engine, whose own layer wins).
    `memo` carries what is worth computing once a dream (the guide's activations) between calls."""
    octave_layer = octave.layer if octave is not None else None
    if recipe.mode == "lucid" and octave_layer:
        return obj.layer_energy(octave_layer)
    try:
        builder = BUILDERS[recipe.mode]
    except KeyError:
        raise RecipeError(f"unknown mode {recipe.mode!r}") from None
    return builder(recipe, net, octave_layer or recipe.layer or net.default_layer, seed, device,
                   {} if memo is None else memo)


def resolve_classes(recipe: Recipe, net: DreamNet) -> dict[int, float]:
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
    """How many classes `recipe` pushes towards: 2 or more make a hybrid."""
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


def _guide_activations(recipe: Recipe, net: DreamNet, layer: str, device: torch.device) -> torch.Tensor:
    from dreamer.image_io import load_image

    guide = load_image(recipe.guide, max_pixels=4_000_000)
    x = to_tensor(guide, device)
    size = recipe.tile_size or net.input_size
    h, w = x.shape[-2:]
    s = size / min(h, w)
    x = resize(x, (max(size, round(h * s)), max(size, round(w * s))))
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    x = x[..., top:top + size, left:left + size]
    with torch.no_grad(), capture(net, frozenset({_layer(net, layer)})) as run:
        return run(x)[layer].detach()


# --- the whole dream ---------------------------------------------------------------------
def dream(
    image: Image.Image,
    recipe: Recipe,
    progress: ProgressFn | None = None,
    device: str | None = None,
    net: DreamNet | None = None,
) -> Image.Image:
    """Dream over `image` as `recipe` says and return the new picture (same size as the input,
    or smaller if it was over recipe.max_pixels)."""
    image, seed = prepare(image, recipe)
    dev = pick_device(device)
    if net is None:
        net = dream_net(recipe, str(dev))
    x, stopped_at = _dream(to_tensor(image, dev), recipe, net, seed, progress)
    return with_stop(to_image(x), stopped_at)




def prepare(image: Image.Image, recipe: Recipe) -> tuple[Image.Image, int]:
    """The picture as the engine dreams it (RGB, capped at recipe.max_pixels) and the seed,
    after refusing an incomplete recipe or an absurd shape before any work is done."""
    recipe.validate()
    recipe.check_complete()
    check_shape(*image.size)  # before any work: an absurd strip is refused, not dreamt for an hour
    seed = recipe.seed if recipe.seed is not None else int.from_bytes(os.urandom(4), "little")
    return _cap_pixels(image if image.mode == "RGB" else image.convert("RGB"), recipe.max_pixels), seed


def _cap_pixels(image: Image.Image, max_pixels: int) -> Image.Image:
    w, h = image.size
    if w * h <= max_pixels:
        return image
    s = (max_pixels / (w * h)) ** 0.5
    return image.resize((max(1, int(w * s)), max(1, int(h * s))), Image.LANCZOS)


def dream_tensor(
    base: torch.Tensor, recipe: Recipe, net: DreamNet, seed: int, progress: ProgressFn | None = None
) -> torch.Tensor:
    return _dream(base, recipe, net, seed, progress)[0]


def _dream(base: torch.Tensor, recipe: Recipe, net: DreamNet, seed: int,
           progress: ProgressFn | None) -> tuple[torch.Tensor, int | None]:
    """The dream and the step it stopped at before its cap (None: it ran to the cap)."""
    with threads.dreaming():  # this dream's share of the cores (dreamer.threads)
        if recipe.method == "views":
            return _dream_views(base, recipe, net, seed, progress)
        from dreamer.render_tiles import dream_tiles

        return dream_tiles(base, recipe, net, seed, progress), None


def _dream_views(base: torch.Tensor, recipe: Recipe, net: DreamNet, seed: int,
                 progress: ProgressFn | None) -> tuple[torch.Tensor, int | None]:
    from dreamer.render_views import dream_views

    objective, recipe, hybrid, classes = views_plan(recipe, net, seed, base.device)

    def on_step(step: int, steps: int, score: float, image) -> None:
        progress(Progress(0, 1, step, steps, step + 1, steps, score, image=image))

    with capture(net, objective.layers) as run:
        # No callback without a listener: reading the score each step would sync a GPU for nothing.
        return dream_views(base, recipe, net, objective, run, seed, hybrid,
                           on_step if progress is not None else None, classes)


def views_plan(recipe: Recipe, net: DreamNet, seed: int,
               device: torch.device) -> tuple[obj.Objective, Recipe, dict[int, float], list[int]]:
    """What the views engine runs for `recipe`: its objective, the recipe with a hybrid's extra
    steps, the positive classes (id -> weight) of a hybrid that shares them out by view or
    region (else {}), and the classes a check for being seen looks for (lucid mode's positive
    ones; else none)."""
    objective = build_objective(recipe, net, None, seed, device)
    hybrid: dict[int, float] = {}
    positive: dict[int, float] = {}
    if recipe.mode == "lucid":
        positive = {i: w for i, w in resolve_classes(recipe, net).items() if w > 0}
        if len(positive) > 1:
            steps = round(recipe.steps * (1 + recipe.hybrid_steps * (len(positive) - 1)))
            recipe = dataclasses.replace(recipe, steps=steps)
            if recipe.hybrid != "mix":
                hybrid = positive
    return objective, recipe, hybrid, sorted(positive)
