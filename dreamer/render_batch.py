"""Several pictures dreamt through one net batch: each step the views of every picture still
running go through the net together, and each picture's objective reads its own rows.

On a GPU one batch of 8 views leaves most of the chip idle; K pictures' views in one batch fill
it. Each picture keeps everything of its own (detail, Adam state, view draws, objective, step
count: a hybrid runs longer, and a picture that is done drops out of the batch), so each comes
out as `dream(image, recipe)` makes it alone, up to the last bits a batched convolution may round
differently. Only the views engine batches, and only pictures for one net (model and weights).
"""
from __future__ import annotations

from typing import Hashable

import torch
from PIL import Image

from dreamer import threads
from dreamer import render_views as rv
from dreamer.recipe import Recipe, RecipeError
from dreamer.recipe import with_stop
from dreamer.activations import capture
from dreamer.plan import Engine, engine, partner_name, partner_turns, views_plan
from dreamer.render import dream_net, load_net, pick_device, prepare
from dreamer.transform import to_bytes, to_image
from models import DreamNet


def dream_batch(
    images: list[Image.Image],
    recipes: list[Recipe],
    seeds: list[int] | None = None,
    device: str | None = None,
    net: DreamNet | None = None,
) -> list[Image.Image]:
    """Dream each image as its recipe says, all through one net batch a step. `seeds` (default:
    each recipe's seed, a random one where unset) replace the recipes' seeds. Raises RecipeError
    before any work if the pictures cannot share a batch; dream those alone."""
    _check_counts(images, recipes, seeds)
    if not images:
        return []
    check_batchable(recipes)
    prepared = [prepare(image, recipe) for image, recipe in zip(images, recipes)]
    dev = pick_device(device)
    if net is None:
        nets = [dream_net(r, str(dev)) for r in recipes]
        for i, other in enumerate(nets):
            if other is not nets[0]:
                raise RecipeError(f"dream_batch: picture {i} dreams with {other.name}, picture 0 with "
                                  f"{nets[0].name} (a hybrid dreams with its hybrid_partner too): one "
                                  "batch runs one net, so dream them in separate batches")
        net = nets[0]
    bases = [to_bytes(image, dev) for image, _ in prepared]
    seeds = list(seeds) if seeds is not None else [seed for _, seed in prepared]
    dreams = _dream_batch(bases, recipes, net, seeds)
    return [with_stop(to_image(rv.finish(d)), d.stopped_at) for d in dreams]


def batch_key(recipe: Recipe, device: str | None = None) -> Hashable | None:
    """What pictures must share to dream in one batch: None when `recipe` cannot batch at all
    (not the views engine), else a key equal for two recipes exactly when they dream with the
    same net. A queue worker groups its jobs by it.

    The net is resolved as `dream_net` resolves it (a hybrid joined by its partner, a single class
    with the model alone), so this loads the nets a dream would (dreamer caches them). A recipe
    whose net cannot load or whose classes do not resolve raises what `dream` would raise."""
    if engine(recipe) is not Engine.VIEWS:
        return None
    dev = str(pick_device(device))
    net = dream_net(recipe, dev)
    # The partner as resolved ("auto" names a net): recipes naming one partner two ways share its
    # cached pair, while a hybrid whose partner was dropped dreams with the plain net.
    partner = "" if net is load_net(recipe.model, recipe.weights, dev) else partner_name(recipe)
    return ("views", recipe.model, recipe.weights, partner, bool(partner and partner_turns(recipe)))


def _check_counts(pictures: list, recipes: list[Recipe], seeds: list[int] | None) -> None:
    if len(pictures) != len(recipes):
        raise RecipeError(f"dream_batch: {len(pictures)} pictures but {len(recipes)} recipes")
    if seeds is not None and len(seeds) != len(pictures):
        raise RecipeError(f"dream_batch: {len(pictures)} pictures but {len(seeds)} seeds")


def check_batchable(recipes: list[Recipe]) -> None:
    """Refuse, naming what differs, pictures that cannot share a net batch."""
    for i, r in enumerate(recipes):
        if engine(r) is not Engine.VIEWS:
            raise RecipeError(f"dream_batch: picture {i} uses the {r.method!r} engine; only the 'views' "
                              "engine batches pictures: dream it alone")
    first = recipes[0]
    for i, r in enumerate(recipes[1:], 1):
        if (r.model, r.weights) != (first.model, first.weights):
            raise RecipeError(f"dream_batch: picture {i} asks for model {r.model!r} (weights {r.weights!r}), "
                              f"picture 0 for {first.model!r} (weights {first.weights!r}); one batch runs "
                              "one net: dream them in separate batches")


def dream_batch_tensor(bases: list[torch.Tensor], recipes: list[Recipe], net: DreamNet,
                       seeds: list[int]) -> list[torch.Tensor]:
    """dream_batch on (1, 3, H, W) pictures in [0, 1], all on one device; the dreams at their
    pictures' sizes."""
    return [rv.finish(d) for d in _dream_batch(bases, recipes, net, seeds)]


def _dream_batch(bases: list[torch.Tensor], recipes: list[Recipe], net: DreamNet,
                 seeds: list[int]) -> list[rv.ViewDream]:
    _check_counts(bases, recipes, seeds)
    if not bases:
        return []
    check_batchable(recipes)
    devices = {b.device for b in bases}
    if len(devices) > 1:
        raise RecipeError(f"dream_batch: the pictures are on several devices ({', '.join(map(str, devices))})")
    dev = bases[0].device
    dreams = []
    for base, recipe, seed in zip(bases, recipes, seeds):
        dreams.append(rv.start(base, views_plan(recipe, net, seed, dev), net, seed))
    layers = frozenset().union(*(d.objective.layers for d in dreams))
    with threads.dreaming(), capture(net, layers) as run:
        running = [d for d in dreams if not d.done]
        while running:
            _step(running, run)
            running = [d for d in running if not d.done]
    return dreams


def _step(running: list[rv.ViewDream], run) -> None:
    """One step of every running dream, their views through the net as one batch."""
    drawn = [rv.draw(d) for d in running]
    for d in running:
        d.opt.zero_grad(set_to_none=True)
    rv.ascend(running, drawn, run)
    for d in running:
        d.opt.step()
        rv.after_step(d)
