import itertools

import pytest
import torch

from dreamer.tiling import blend_weights, make_tiles, tile_starts, tile_window, weight_sum


@pytest.mark.parametrize("length,tile,stride", [(1000, 224, 168), (224, 224, 168), (225, 224, 168), (500, 64, 48), (100, 224, 168)])
@pytest.mark.parametrize("offset", [0, 1, 17, 167])
def test_tile_starts_cover_everything_with_real_pixels(length, tile, stride, offset):
    starts = tile_starts(length, tile, stride, offset)
    size = min(tile, length)
    covered = torch.zeros(length, dtype=torch.bool)
    for s in starts:
        assert 0 <= s and s + size <= length  # never outside the picture: no padding needed
        covered[s:s + size] = True
    assert covered.all()
    assert starts == sorted(set(starts))
    for a, b in zip(starts, starts[1:]):
        assert b - a <= stride  # neighbours overlap, so blending has something to blend


def test_offset_moves_the_grid():
    grids = {tuple(tile_starts(1000, 224, 168, off)) for off in range(0, 168, 7)}
    assert len(grids) > 10


def test_tiles_cover_picture_and_spiral_from_centre():
    h, w = 700, 1000
    tiles = make_tiles(h, w, 224, 0.25, offset=(31, 77))
    cover = torch.zeros(h, w)
    for t in tiles:
        cover[t.slices] += 1
        assert t.h == 224 and t.w == 224
    assert (cover > 0).all()
    # First tile is the one nearest the centre, and distance from the centre never shrinks
    # by more than one ring as the spiral walks outwards.
    cy, cx = (h - 224) / 2, (w - 224) / 2
    dist = [max(abs(t.y - cy) / 168, abs(t.x - cx) / 168) for t in tiles]
    assert dist[0] == min(dist)
    rings = [round(d * 2) / 2 for d in dist]
    assert rings == sorted(rings)


def test_small_picture_gets_one_tile_of_its_own_size():
    tiles = make_tiles(100, 150, 224)
    assert len(tiles) == 1 and (tiles[0].h, tiles[0].w) == (100, 150)


@pytest.mark.parametrize("h,w,overlap,offset", [(700, 1000, 0.25, (3, 100)), (300, 451, 0.5, (0, 0)), (224, 500, 0.1, (5, 5)), (64, 64, 0.25, (0, 0))])
def test_blend_weights_sum_to_one(h, w, overlap, offset):
    tiles = make_tiles(h, w, 224, overlap, offset)
    total = torch.zeros(h, w)
    for t, wt in zip(tiles, blend_weights(tiles, h, w, overlap)):
        assert (wt >= 0).all()
        total[t.slices] += wt
    assert torch.allclose(total, torch.ones(h, w), atol=1e-5)


def test_windows_taper_only_towards_neighbours():
    h, w = 600, 600
    tiles = make_tiles(h, w, 224, 0.25)
    corner = next(t for t in tiles if t.y == 0 and t.x == 0)
    win = tile_window(corner, h, w, 0.25)
    assert win[0, 0] == 1.0  # picture border: full weight, nothing to blend with
    assert win[-1, -1] < 0.05  # towards neighbours: fades out
    # and the total weight is positive everywhere, so normalisation never divides by zero
    assert (weight_sum(tiles, h, w, 0.25) > 0).all()


def test_blend_is_smooth_across_tile_edges():
    # A constant per-tile signal blended with the weights must vary gradually: no step at any
    # tile edge, which is what a visible seam would be.
    h, w = 500, 700
    tiles = make_tiles(h, w, 224, 0.25, offset=(10, 50))
    out = torch.zeros(h, w)
    for i, (t, wt) in enumerate(zip(tiles, blend_weights(tiles, h, w, 0.25))):
        out[t.slices] += wt * (i % 2)
    jumps = max(out.diff(dim=0).abs().max(), out.diff(dim=1).abs().max())
    assert jumps < 0.05
