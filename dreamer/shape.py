"""Which picture shapes the engine takes: a long side at most MAX_ASPECT times the short side.

A dream's cost follows the picture's area only while the picture is a picture: a 99999×10 strip
passes any pixel limit, yet every view of it is a sliver blown up to the net's input size, the
classic engine's turned canvas grows with the square of the long side, and nothing of what
grows can be seen. Panoramas stay well inside the limit (a 360° phone panorama is about 8:1).
The engine (`dreamer.dream`), the CLI and the bot's request intake all ask `check_shape`.
"""
from __future__ import annotations

from dreamer.image_io import ImageError

MAX_ASPECT = 16  # long side over short side


def check_shape(width: int, height: int, what: str = "the picture") -> None:
    """Raise ImageError, saying where the limit is, for a shape the engine does not take."""
    if width < 1 or height < 1:
        raise ImageError(f"{what} is {width}×{height} pixels: there is nothing to dream")
    long, short = max(width, height), min(width, height)
    if long > MAX_ASPECT * short:
        raise ImageError(
            f"{what} is {width}×{height} pixels, {long / short:.0f}:1; pictures up to "
            f"{MAX_ASPECT}:1 (long side to short side) can be dreamt: crop it closer to a photo's shape")
