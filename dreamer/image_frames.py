"""Which frame of an animation (GIF, WebP, APNG) a dream is made from, and how a picture says so.

A dream is made from one still: the animation's first frame, unless that is blank (all one
colour), as an animation that fades in starts; a blank frame is dreamt blank. Then the frames
after it are looked at, a bounded number of them (a hostile GIF may have millions), and the
first that has faded in is taken; the first frame when every one looked at is blank.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

# Set in the `info` of a picture load_image read from an animation: the index of the frame it
# gives. The CLI and the bot say so, or a dream that stands still would puzzle its sender.
ANIMATED = "lucid_dream_animated"
# A frame is blank when no colour channel spreads over more than this many levels of 255 (the
# 1st to the 99th percentile, so a lossy encoder's speckle or a stray pixel counts for nothing).
BLANK_SPREAD = 8
# A frame has faded in once its colours spread 3/4 as far as the most varied frame's looked at:
# the first frame that is merely not blank is a fade-in's darkest, and would be dreamt nearly so.
FADED_IN = 0.75
FRAMES_LOOKED = 30  # a fade-in lasts a second or so: 10-30 frames
PIXELS_LOOKED = 200_000_000  # and no more frames than the pixels of two of the largest pictures
_SIDE_LOOKED = 128  # a frame's spread is measured at this size


def pick_frame(im: Image.Image, to_rgb: Callable[[Image.Image], Image.Image]) -> int:
    """Seek the animation `im` to the frame a dream is made from and give its index. `to_rgb`
    makes a frame RGB as the dream will see it (image_load's, which imports this module)."""
    spreads = [_spread(im, to_rgb)]
    if spreads[0] > BLANK_SPREAD:
        return 0  # the common case: no other frame is decoded
    looked = min(FRAMES_LOOKED, max(2, PIXELS_LOOKED // max(1, im.width * im.height)))
    for k in range(1, looked):
        try:
            im.seek(k)
        except EOFError:  # no more frames
            break
        spreads.append(_spread(im, to_rgb))
    most = max(spreads)
    frame = 0 if most <= BLANK_SPREAD else next(k for k, s in enumerate(spreads) if s >= FADED_IN * most)
    im.seek(frame)
    return frame


def _spread(im: Image.Image, to_rgb: Callable[[Image.Image], Image.Image]) -> float:
    """How far the colours of `im`'s current frame spread, in levels of 255."""
    small = im.copy()
    small.thumbnail((_SIDE_LOOKED, _SIDE_LOOKED))
    rgb = np.asarray(to_rgb(small)).reshape(-1, 3)
    return float((np.percentile(rgb, 99, axis=0) - np.percentile(rgb, 1, axis=0)).max())


def was_animated(image: Image.Image) -> bool:
    """Whether load_image read `image` from a frame of an animation."""
    return ANIMATED in image.info


def frame_words(frame: int) -> str:
    """Which frame of an animation was dreamt, for the notice that says so: "its first frame"."""
    return "its first frame" if frame == 0 else f"its frame {frame + 1}, as it starts blank"


def animation_frame(image: Image.Image) -> int | None:
    """The index of the frame of an animation load_image read `image` from (0: its first);
    None for a still picture."""
    frame = image.info.get(ANIMATED)
    return frame if isinstance(frame, int) and not isinstance(frame, bool) else None
