"""The bot's one boundary with the engine: a `Renderer` turns a photo into a dream by a
recipe, and `make_dream` is the recipe -> render -> save step that the cycle (bot/pipeline.py)
and dream requests (bot/requests/worker.py) share.

A renderer is the engine in this process (`EngineRenderer`), the render queue's workers
(bot.queue_bot.RemoteRender), or, in tests, any function `(image, recipe) -> image`
(`as_renderer` wraps it). `parallel` says how many renders it takes at once: the queue's
workers render several requests side by side; the engine in this process one at a time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Protocol, runtime_checkable

import dreamer
from dreamer import Recipe
from PIL import Image

RenderFn = Callable[[Image.Image, Recipe], Image.Image]


@runtime_checkable
class Renderer(Protocol):
    """Renders a picture by a recipe; `parallel` renders may be in flight at once."""

    parallel: int

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image: ...


@dataclass(frozen=True)
class EngineRenderer:
    """The engine in this process (it keeps its model loaded between renders)."""

    parallel: int = 1

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image:
        return dreamer.dream(image, recipe)


@dataclass(frozen=True)
class FnRenderer:
    """A plain function as a renderer, one render at a time (tests, stand-ins)."""

    fn: RenderFn
    parallel: int = 1

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image:
        return self.fn(image, recipe)


def as_renderer(render: Renderer | RenderFn | None) -> Renderer:
    """`render` as a Renderer: the engine when None, a function wrapped, a Renderer as is."""
    if render is None:
        return EngineRenderer()
    if isinstance(render, Renderer):
        return render
    return FnRenderer(render)


@dataclass(frozen=True)
class Dream:
    recipe: Recipe  # the base recipe with this dream's classes and seed
    path: Path  # the saved picture (its recipe is in its metadata and sidecar)
    seconds: float  # how long the render took


def make_dream(renderer: Renderer, image: Image.Image, base: Recipe, *, classes: Mapping[str, float],
               seed: int, path: Path) -> Dream:
    """Dream `image` into `classes` with `base`'s settings and `seed`, and save it at `path`."""
    recipe = base.replace(classes=dict(classes), seed=seed)
    started = time.monotonic()
    out = renderer.render(image, recipe)
    took = time.monotonic() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    dreamer.save_image(out, path, recipe.to_dict())
    return Dream(recipe, path, took)


def is_engine_error(exc: BaseException) -> bool:
    """A bad image, recipe or model: the engine's message says what to do (no traceback
    needed), and no retry of the same render helps."""
    if isinstance(exc, INPUT_ERRORS):
        return True
    # A model error can only come from a render that loaded the model zoo (and torch); asking
    # for its class when the error came from elsewhere would load torch for nothing.
    return type(exc).__module__.split(".")[0] == "models" and isinstance(exc, dreamer.ModelError)


# The engine's errors about its input: a queue worker reports them back at once, unretried.
INPUT_ERRORS: tuple[type[Exception], ...] = (dreamer.ImageError, dreamer.RecipeError)
