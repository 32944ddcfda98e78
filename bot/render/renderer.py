"""The bot's one boundary with the engine: a `Renderer` turns a photo into a dream by a
recipe, and `make_dream` is the recipe -> render -> save step that the cycle (bot/pipeline.py)
and dream requests (bot/requests/worker.py) share.

A renderer is the engine in this process (`EngineRenderer`), the render queue's workers
(bot.queue.remote.RemoteRender), or, in tests, any function `(image, recipe) -> image`
(`as_renderer` wraps it). `parallel` says how many renders it takes at once: the queue's
workers render several requests side by side; the engine in this process one at a time.

A renderer that also says where each class grew (`PlacesRenderer`: the engine in this process)
hands back the engine's measured places (dreamer.places) with the picture; the caption words
them. Other renderers give none, and the alt text says what it said before.

Dives (videos) go through a `DiveRenderer` and `make_dive`. Only the engine in this process
makes them for now (the queue's workers take pictures), so `dive_renderer` falls back to it.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, runtime_checkable

import dreamer
from dreamer import Recipe
from dreamer.recipe import FILE_KEYS, as_ran
from PIL import Image

if TYPE_CHECKING:
    from dreamer.dive import DiveResult
    from dreamer.places import Places

log = logging.getLogger("bot.render")

RenderFn = Callable[[Image.Image, Recipe], Image.Image]


@runtime_checkable
class Renderer(Protocol):
    """Renders a picture by a recipe; `parallel` renders may be in flight at once."""

    parallel: int

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image: ...


@runtime_checkable
class PlacesRenderer(Protocol):
    """A renderer that also measures where each class grew; None when it could not."""

    def render_places(self, image: Image.Image, recipe: Recipe) -> "tuple[Image.Image, Places | None]": ...


@dataclass(frozen=True)
class EngineRenderer:
    """The engine in this process (it keeps its model loaded between renders)."""

    parallel: int = 1

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image:
        return dreamer.dream(image, recipe)

    def render_places(self, image: Image.Image, recipe: Recipe) -> "tuple[Image.Image, Places | None]":
        out = self.render(image, recipe)
        return out, measured_places(image, out, recipe)

    def dive(self, image: Image.Image, recipe: Recipe, out: Path, settings: Mapping[str, Any],
             info: Mapping[str, Any]) -> "DiveResult":
        from dreamer.dive import DiveSettings, dive_video  # torch: only when a dive is made

        return dive_video(image, recipe, out, DiveSettings.from_dict(dict(settings)), info=dict(info))


@runtime_checkable
class DiveRenderer(Protocol):
    """Makes a dive video of recipe.video.frames frames at `out`, resuming from the keyframes a killed
    run left beside it (`<out>.parts/`) when the recipe, settings and photo are the same. The
    video records `info` as its recipe (the bot's: `public_recipe`, with the class names)."""

    def dive(self, image: Image.Image, recipe: Recipe, out: Path, settings: Mapping[str, Any],
             info: Mapping[str, Any]) -> "DiveResult": ...


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


def measured_places(image: Image.Image, dream: Image.Image, recipe: Recipe) -> "Places | None":
    """Where each class of `recipe` grew from `image` to `dream`, by the engine; None when it
    cannot say. A failed measurement never costs the dream: the alt text says less."""
    try:
        from dreamer.places_measure import measure_places  # torch: only where the engine runs

        return measure_places(image, dream, recipe)
    except Exception as exc:  # noqa: BLE001  (a bug or a model problem; the picture is made)
        log.warning("could not measure where the classes grew (%s: %s); the alt text says less",
                    type(exc).__name__, exc)
        return None


@dataclass(frozen=True)
class Dream:
    recipe: Recipe  # the base recipe with this dream's classes and seed
    path: Path  # the saved picture (its recipe is in its metadata and sidecar)
    seconds: float  # how long the render took (and the places measured)
    places: "Places | None" = None  # where each class grew, when the renderer measured it


def make_dream(renderer: Renderer, image: Image.Image, base: Recipe, *, classes: Mapping[str, float],
               seed: int, path: Path) -> Dream:
    """Dream `image` into `classes` with `base`'s settings and `seed`, and save it at `path`."""
    recipe = base.replace(classes=dict(classes), seed=seed)
    started = time.monotonic()
    places = None
    if isinstance(renderer, PlacesRenderer):
        out, places = renderer.render_places(image, recipe)
    else:
        out = renderer.render(image, recipe)
    took = time.monotonic() - started
    recipe = as_ran(recipe, out)  # with the step it stopped at, if it was done before its cap
    path.parent.mkdir(parents=True, exist_ok=True)
    dreamer.save_image(out, path, public_recipe(recipe))
    return Dream(recipe, path, took, places)


def public_recipe(recipe: Recipe) -> dict[str, Any]:
    """`recipe` as the files the bot publishes record it (a picture's metadata, a video's tags,
    their sidecars): each file it names (a guide, a net's weights) by its name alone. Those
    files are uploaded as they are, and a folder ("/home/alice/private/") is the operator's
    business, not a follower's; the store keeps the whole recipe for remixes and replays."""
    recorded = recipe.to_dict()
    for key in FILE_KEYS:
        value = recorded.get(key)
        if isinstance(value, (str, os.PathLike)):
            # Windows' rules split at "/" and "\\" both: a path of either system loses its folders.
            recorded[key] = PureWindowsPath(os.fspath(value)).name or os.fspath(value)
    return recorded


def dive_renderer(render: object) -> DiveRenderer:
    """`render` if it makes dives, else the engine in this process."""
    return render if isinstance(render, DiveRenderer) else EngineRenderer()


@dataclass(frozen=True)
class Dive:
    recipe: Recipe  # the dive's recipe with its classes and seed
    video: Path
    poster: Path  # a frame of it as a picture, for the gallery and platforms' previews
    frames: int
    fps: int
    size: tuple[int, int]
    resumed_at: int  # 0: made from scratch; else the first frame this run dreamt
    seconds: float

    @property
    def duration(self) -> float:
        return self.frames / self.fps


class DiveIncomplete(RuntimeError):
    """The engine returned a dive that is not the whole video asked for; never posted."""


def make_dive(renderer: DiveRenderer, image: Image.Image, base: Recipe, *, classes: Mapping[str, float],
              seed: int, video: Path, settings: Mapping[str, Any], info: Mapping[str, Any]) -> Dive:
    """Dive into `image` with `base`'s settings (its frames and camera are the dive's), save the
    video at `video` and its poster frame beside it (`video` as .png)."""
    from dreamer.video import poster  # PyAV; no torch

    recipe = base.replace(classes=dict(classes), seed=seed)
    started = time.monotonic()
    video.parent.mkdir(parents=True, exist_ok=True)
    # the recipe as the video records it, as `dream` writes it (dreamer.cli_common.recipe_metadata)
    recorded = {**public_recipe(recipe), **info}
    made = _finished(video, recipe) or renderer.dive(image, recipe, video, settings, recorded)
    took = time.monotonic() - started
    if made.frames != recipe.video.frames or not Path(made.path).is_file():
        raise DiveIncomplete(f"the dive {video.name} came back with {made.frames} of {recipe.video.frames} frames")
    still = video.with_suffix(".png")
    tmp = still.with_name(still.name + ".tmp")
    poster(made.path).save(tmp, format="PNG")
    tmp.replace(still)
    return Dive(recipe, Path(made.path), still, made.frames, made.fps, tuple(made.size), made.resumed_at, took)


@dataclass(frozen=True)
class _Made:
    path: Path
    frames: int
    fps: int
    size: tuple[int, int]
    resumed_at: int


def _finished(video: Path, recipe: Recipe) -> _Made | None:
    """The dive a killed run had finished (its video in place, its keyframes cleared away) but
    not yet recorded: used as it is rather than dreamt again."""
    from dreamer.video import VideoError, probe, read_video_metadata

    if not video.is_file() or video.with_name(video.name + ".parts").exists():
        return None
    try:
        meta = read_video_metadata(video) or {}
        info = probe(video)
    except VideoError:
        return None
    made = meta.get("recipe") or {}
    if {k: made.get(k) for k in ("classes", "seed", "frames")} != {k: recipe.to_dict().get(k) for k in
                                                                   ("classes", "seed", "frames")}:
        return None
    return _Made(video, info.frames, int(round(float(info.fps))), (info.width, info.height), recipe.video.frames)


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
