"""A request's picture or dive, made through bot/render/renderer.py (the worker holds no tensor code)
and kept private: a requester's photo may have been sent privately, so its dream is for the
bot's user alone (data_dir/requests, mode 0600)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.folders import private_dir, private_file
from bot.render import Renderer, dive_renderer, make_dive, make_dream

if TYPE_CHECKING:
    from dreamer import Recipe

    from bot.config import Config
    from bot.store import Store

Terms = tuple[list[str], list[float]]  # (class terms, weights)


@dataclass(frozen=True)
class Made:
    path: Path  # the picture, or the dive's video (its poster frame beside it, as .png)
    recipe: "Recipe"  # what it was dreamt with


def dream(cfg: "Config", store: "Store", renderer: Renderer, image: Any, terms: Terms, key: str, *, seed: int,
          base: "Recipe | None" = None) -> Made:
    """A picture of `image` with `terms`, by `base` (the bot's recipe when None)."""
    folder = private_dir(cfg.data_dir / "requests")
    made = make_dream(renderer, image, base or cfg.base_recipe(), classes=dict(zip(*terms)), seed=seed,
                      path=folder / f"{key}.png")
    _private(folder, key)
    took, old = made.seconds, store.get_meta("requests:render_seconds")
    # a running average, for the "about M minutes" in the queued note
    store.set_meta("requests:render_seconds", took if old is None else 0.7 * float(old) + 0.3 * took)
    return Made(made.path, made.recipe)


def dive(cfg: "Config", renderer: Renderer, image: Any, terms: Terms, key: str, *,
         base: "Recipe | None" = None) -> Made:
    """A short dive of `image`. Its seed comes from the request, so a dive killed midway is
    taken up again from its keyframes."""
    recipe = cfg.dive.recipe(base or cfg.base_recipe()).replace(frames=cfg.requests.dive_frames)
    made = make_dive(dive_renderer(renderer), image, recipe, classes=dict(zip(*terms)), seed=int(key[:8], 16),
                     video=private_dir(cfg.data_dir / "requests") / f"{key}.mp4",
                     settings=cfg.dive.settings(), info={"class_names": list(terms[0])})
    _private(made.video.parent, key)
    return Made(made.video, made.recipe)


def _private(folder: Path, key: str) -> None:
    """A request's dream, its recipe sidecar, a dive and its poster: the bot's user's alone."""
    for made in folder.glob(f"{key}.*"):
        private_file(made)
