"""Dreaming a picture: `dream`, which works the recipe out into a plan (dreamer.plan) and runs
the engine it names: the views engine (dreamer.render_views, the default) or the tiles engine
(dreamer.render_tiles, `classic`); and the nets, loaded once and shared.
"""
from __future__ import annotations

import os
import threading
from functools import lru_cache

import torch
from PIL import Image

from dreamer import threads
from dreamer.activations import Progress, ProgressFn, capture
from dreamer.plan import Engine, dreams_a_mutant, engine, partner_name, partner_turns, tiles_plan, views_plan
from dreamer.recipe import Recipe, RecipeError, with_stop
from dreamer.render_tiles import dream_tiles
from dreamer.render_views import dream_views
from dreamer.shape import check_shape
from dreamer.transform import as_float, to_bytes, to_image
from models import DreamNet, create_model


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise RecipeError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    # torch knows more device types (meta, mps, xpu...) than the engine runs on: those failed
    # mid-dream with "unsupported autocast device_type" or "not linked with support".
    if dev.type not in ("cpu", "cuda"):
        raise RecipeError(f"device {device!r}: the engine runs on cpu or cuda (cuda:N), or auto")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"device {device!r} asked for, but this torch build sees no CUDA GPU")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RecipeError(f"device {device!r}: there is no such GPU; this machine has "
                          f"{torch.cuda.device_count()} (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
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


def dream_net(recipe: Recipe, device: str) -> DreamNet:
    """The net `recipe` dreams with: its model, joined by its hybrid partner for a hybrid of the
    views engine when the partner has the same classes (a net with other classes dreams alone)."""
    net = load_net(recipe.model, recipe.weights, device)
    partner = partner_name(recipe)
    if not partner or not dreams_a_mutant(recipe, net):
        return net
    with _LOADING:  # one ensemble object per pair: a batch runs only pictures of one net
        return _pair(recipe.model, recipe.weights, partner, device, partner_turns(recipe))


@lru_cache(maxsize=4)
def _pair(model: str, weights: str | None, partner: str, device: str, turns: bool = False) -> DreamNet:
    from models.ensemble import ensemble, same_classes

    net, other = load_net(model, weights, device), load_net(partner, None, device)  # dream_net holds _LOADING
    if other.name == net.name or not same_classes(net, other):
        return net
    return ensemble(f"{net.name}+{other.name}" + (" in turns" if turns else ""), [net, other], turns)


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
    # uint8: the views engine keeps the photo so while it dreams (dreamer.transform.to_bytes)
    x, stopped_at = _dream(to_bytes(image, dev), recipe, net, seed, progress)
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
        if engine(recipe) is Engine.VIEWS:
            return _dream_views(base, recipe, net, seed, progress)
        base = as_float(base)
        return dream_tiles(base, tiles_plan(recipe, net, seed, base.device), net, seed, progress), None


def _dream_views(base: torch.Tensor, recipe: Recipe, net: DreamNet, seed: int,
                 progress: ProgressFn | None) -> tuple[torch.Tensor, int | None]:
    plan = views_plan(recipe, net, seed, base.device)

    def on_step(step: int, steps: int, score: float, image) -> None:
        progress(Progress(0, 1, step, steps, step + 1, steps, score, image=image))

    with capture(net, plan.objective.layers) as run:
        # No callback without a listener: reading the score each step would sync a GPU for nothing.
        return dream_views(base, plan, net, run, seed, on_step if progress is not None else None)
