"""The render step: the bot's one boundary with the engine (dreamer). A photo and a recipe go
in, a picture (or a dive's video) comes back; the bot holds no tensor code.

renderer.py has the `Renderer` protocols, the engine in this process, `make_dream` and
`make_dive` (what the cycle and dream requests share) and which errors are the engine's;
work.py is the one work type the cycle and requests hand on (`Work`: a still or a dive) and
`make`, the one place that tells the two apart; batcher.py gathers a queue worker's jobs into
one net batch (`[queue] batch`). A renderer may
also be the render queue's workers (bot/queue/remote.py), which callers cannot tell apart.
"""
from __future__ import annotations

from bot.render.renderer import (
    INPUT_ERRORS, EngineRenderer, PlacesRenderer, Renderer, RenderFn, as_renderer, is_engine_error, make_dive,
)
from bot.render.work import DiveSpec, Made, Work, make

__all__ = ["INPUT_ERRORS", "DiveSpec", "EngineRenderer", "Made", "PlacesRenderer", "Renderer", "RenderFn", "Work",
           "as_renderer", "is_engine_error", "make", "make_dive"]
