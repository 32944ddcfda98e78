"""One work type for the render step: what to dream, as the scheduled cycle (bot/pipeline.py)
and a dream request (bot/requests/dreaming.py) both hand it on: a photo, its classes and seed,
the recipe they go into, where the result goes, and whether it is a still or a dive. `make`
is the one place that tells a still from a dive."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from dreamer import Recipe
from PIL import Image

from bot.render.renderer import Dive, Renderer, dive_renderer, make_dive, make_dream

if TYPE_CHECKING:
    from dreamer.places import Places


@dataclass(frozen=True)
class DiveSpec:
    """What makes the work a dive: the engine's dive settings ([dive]: fps, glide, ease, size)
    and what the video's metadata records."""

    settings: Mapping[str, Any]
    info: Mapping[str, Any]


@dataclass(frozen=True)
class Work:
    image: Image.Image
    classes: Mapping[str, float]  # class term -> weight
    seed: int
    recipe: Recipe  # without classes; a dive's has its frames and camera
    stem: Path  # where it goes, without suffix: the picture .png, a dive's video .mp4
    dive: DiveSpec | None = None  # None: a still picture


@dataclass(frozen=True)
class Made:
    recipe: Recipe  # as it ran: the classes and seed (and a still's stopping step)
    picture: Path  # the still, or the dive's poster frame
    seconds: float
    places: "Places | None" = None  # where each class grew, when the renderer measured it
    dive: Dive | None = None  # the dive's video and frames

    @property
    def video(self) -> Path | None:
        return None if self.dive is None else self.dive.video


def make(renderer: Renderer, work: Work) -> Made:
    """Dream `work` with `renderer` (a dive with the engine in this process when the renderer
    makes no dives) and save it."""
    if work.dive is None:
        still = make_dream(renderer, work.image, work.recipe, classes=work.classes, seed=work.seed,
                           path=work.stem.with_suffix(".png"))
        return Made(still.recipe, still.path, still.seconds, still.places)
    dive = make_dive(dive_renderer(renderer), work.image, work.recipe, classes=work.classes, seed=work.seed,
                     video=work.stem.with_suffix(".mp4"), settings=work.dive.settings, info=work.dive.info)
    return Made(dive.recipe, dive.poster, dive.seconds, dive=dive)
