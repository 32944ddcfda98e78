"""16-bit greyscale pictures (PNG mode I;16, or I as older Pillow reads them): scaled to 8 bits,
and a transparent grey (PNG tRNS) laid over white like every other transparent picture."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dreamer import load_image
from dreamer.image_load import _to_rgb

WHITE = (255, 255, 255)


def _png16(a: np.ndarray, **save: object) -> bytes:
    im = Image.fromarray(a.astype(np.uint16))
    assert im.mode == "I;16"
    buf = io.BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def _px(im: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(im)[xy[1], xy[0]])


def test_plain_16bit_grey_keeps_its_brightness():
    a = np.array([[0, 1000, 30000, 65535]])
    out = load_image(_png16(a))
    assert out.mode == "RGB"
    assert [_px(out, (x, 0))[0] for x in range(4)] == [0, 4, 117, 255]  # value / 257


def test_16bit_grey_transparent_colour_is_white():
    a = np.array([[0, 30000, 0, 1000]])  # 0 is the transparent grey
    out = load_image(_png16(a, transparency=0))
    assert out.mode == "RGB"
    assert _px(out, (0, 0)) == WHITE and _px(out, (2, 0)) == WHITE
    assert _px(out, (1, 0)) == (117, 117, 117) and _px(out, (3, 0)) == (4, 4, 4)


def test_16bit_grey_transparent_colour_need_not_be_black():
    a = np.array([[1000, 30000, 1001]])
    out = load_image(_png16(a, transparency=1000))  # a dark grey, not black, is the see-through one
    assert _px(out, (0, 0)) == WHITE and _px(out, (1, 0)) == (117, 117, 117) and _px(out, (2, 0)) == (4, 4, 4)


def test_mode_i_with_transparency_is_white_too():
    """Pillow before 10.x read 16-bit PNGs as mode I; the tRNS grey is in the same units."""
    im = Image.fromarray(np.array([[0, 30000]], dtype=np.int32), "I")
    im.info["transparency"] = 0
    out = _to_rgb(im)
    assert _px(out, (0, 0)) == WHITE and _px(out, (1, 0)) == (117, 117, 117)
