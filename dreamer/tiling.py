"""Cover a picture with overlapping tiles of the net's input size, and blend them back seamlessly.

Edge tiles are shifted inside the picture (real pixels, never a mean-colour pad), the grid moves by
a random offset every step so seams never sit still, and each tile's contribution is weighted by
a window that tapers only where it overlaps a neighbour; weights are normalised so that at every
pixel they sum to exactly one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class Tile:
    y: int
    x: int
    h: int
    w: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)


def tile_starts(length: int, tile: int, stride: int, offset: int = 0) -> list[int]:
    """Start positions of tiles covering [0, length), on a grid shifted by `offset`.

    Positions off either end are clamped inside, so the first tile starts at 0 and the last
    ends at `length`; neighbouring tiles are never more than `stride` apart.
    """
    if length <= tile:
        return [0]
    stride = max(1, min(stride, tile))
    offset %= stride
    last = length - tile
    starts: list[int] = []
    p = offset - stride if offset else 0
    while True:
        s = min(max(p, 0), last)
        if not starts or s != starts[-1]:
            starts.append(s)
        if p >= last:
            return starts
        p += stride


def make_tiles(
    height: int, width: int, tile: int, overlap: float = 0.25, offset: tuple[int, int] = (0, 0)
) -> list[Tile]:
    """Tiles covering a height×width picture, in a spiral from the centre outwards."""
    th, tw = min(tile, height), min(tile, width)
    stride_h = max(1, round(th * (1 - overlap)))
    stride_w = max(1, round(tw * (1 - overlap)))
    ys = tile_starts(height, th, stride_h, offset[0])
    xs = tile_starts(width, tw, stride_w, offset[1])
    tiles = [Tile(y, x, th, tw) for y in ys for x in xs]
    cy, cx = (height - th) / 2, (width - tw) / 2
    # Spiral: rings of growing distance (in tiles) from the centre, each ring walked by angle.
    sy, sx = max(stride_h, 1), max(stride_w, 1)

    def spiral_key(t: Tile) -> tuple[float, float]:
        dy, dx = (t.y - cy) / sy, (t.x - cx) / sx
        ring = max(abs(dy), abs(dx))
        return (round(ring * 2) / 2, math.atan2(dy, dx))

    return sorted(tiles, key=spiral_key)


def _ramp(n: int, taper: int, left: bool, right: bool) -> torch.Tensor:
    w = torch.ones(n)
    taper = min(taper, n // 2)
    if taper > 0:
        # Raised cosine from ~0 to 1 across the overlap; strictly positive so every
        # pixel under a tile keeps some weight.
        t = (torch.arange(taper, dtype=torch.float32) + 0.5) / taper
        r = 0.5 - 0.5 * torch.cos(math.pi * t)
        if left:
            w[:taper] = r
        if right:
            w[n - taper:] = r.flip(0)
    return w


@lru_cache(maxsize=64)
def window(h: int, w: int, overlap: float, top: bool, bottom: bool, left: bool, right: bool) -> torch.Tensor:
    """(h, w) weights, tapered on the sides that have a neighbour. Cached and shared: read only."""
    wy = _ramp(h, round(h * overlap), left=top, right=bottom)
    wx = _ramp(w, round(w * overlap), left=left, right=right)
    return wy[:, None] * wx[None, :]


def tile_window(t: Tile, height: int, width: int, overlap: float) -> torch.Tensor:
    """One tile's weights: tapered where it overlaps a neighbour, flat at the picture's border."""
    return window(t.h, t.w, overlap, t.y > 0, t.y + t.h < height, t.x > 0, t.x + t.w < width)
