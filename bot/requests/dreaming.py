"""A request's picture or dive, made through bot/render/renderer.py (the worker holds no tensor code)
and kept private: a requester's photo may have been sent privately, so its dream is for the
bot's user alone (data_dir/requests, mode 0600)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.folders import private_dir, private_file
from bot.render import DiveSpec, Made, Renderer, Work, make

if TYPE_CHECKING:
    from dreamer import Recipe
    from PIL import Image

    from bot.store import Store

    from .settings import RequestSettings

Terms = tuple[list[str], list[float]]  # (class terms, weights)


def work(settings: "RequestSettings", image: "Image.Image", terms: Terms, key: str, *, dive: bool,
         seed: int | None = None, base: "Recipe | None" = None) -> Work:
    """What a request dreams: `image` with `terms` by `base` (the bot's recipe when None), kept
    under the request's `key`; a still with `seed`, or (`dive`) a short dive whose seed comes
    from the request, so a dive killed midway is taken up again from its keyframes."""
    base = base or settings.recipe
    folder = private_dir(settings.data_dir / "requests")
    if dive:
        recipe = settings.dive.recipe(base).replace(frames=settings.requests.dive_frames)
        return Work(image, dict(zip(*terms)), int(key[:8], 16), recipe, folder / key,
                    DiveSpec(settings.dive.settings(), {"class_names": list(terms[0])}))
    if seed is None:
        raise ValueError("a still picture needs its seed")
    return Work(image, dict(zip(*terms)), seed, base, folder / key)


def dream(store: "Store", renderer: Renderer, work: Work) -> Made:
    """Make `work` and keep it private."""
    made = make(renderer, work)
    _private(work.stem.parent, work.stem.name)
    if made.dive is None:
        took, old = made.seconds, store.get_meta("requests:render_seconds")
        # a running average, for the "about M minutes" in the queued note
        store.set_meta("requests:render_seconds", took if old is None else 0.7 * float(old) + 0.3 * took)
    return made


def _private(folder: Path, key: str) -> None:
    """A request's dream, its recipe sidecar, a dive and its poster: the bot's user's alone."""
    for made in folder.glob(f"{key}.*"):
        private_file(made)
