import itertools
import math

import pytest
import torch

import random

from dreamer import objectives as obj
from dreamer.render_tiles import _grid, tiled_gradient
from dreamer.tiling import make_tiles, tile_starts, tile_window


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
    # From the centre outwards, judged by plain Euclidean distance of tile centres from the
    # picture's centre (not the implementation's own ring key): the first tile is the nearest,
    # each quarter of the order lies further out than the one before, the outer ring last.
    dist = [math.hypot(t.y + t.h / 2 - h / 2, t.x + t.w / 2 - w / 2) for t in tiles]
    assert dist[0] == min(dist)
    q = len(dist) // 4
    quarters = [sum(dist[i * q:(i + 1) * q]) / q for i in range(4)]
    assert quarters == sorted(quarters) and quarters[0] < quarters[-1] / 2
    assert dist[-1] > sorted(dist)[len(dist) // 2]  # the outer ring comes last


def test_small_picture_gets_one_tile_of_its_own_size():
    tiles = make_tiles(100, 150, 224)
    assert len(tiles) == 1 and (tiles[0].h, tiles[0].w) == (100, 150)


def _identity_run(xb):
    return {"logits": xb}


def _tile_objective(scale: float = 100.0) -> obj.Objective:
    """A tile-level objective: each tile's mean, squared. Its gradient is one constant per tile,
    different from tile to tile on a ramp, so how tiles are blended shows in the result (a
    per-pixel objective gives the same gradient under any weighting)."""
    return obj.Objective(lambda a: scale * a["logits"].mean((1, 2, 3)) ** 2, frozenset({"logits"}), "tile mean²")


@pytest.mark.parametrize("h,w,overlap,offset", [(300, 451, 0.25, (3, 100)), (224, 500, 0.5, (5, 5)), (64, 64, 0.25, (0, 0))])
def test_tiled_gradient_weights_sum_to_one(h, w, overlap, offset):
    # A linear objective's gradient is 1 under every tile: normalised blending must give 1.
    x = torch.rand(1, 3, h, w)
    tiles = make_tiles(h, w, 224, overlap, offset)
    linear = obj.Objective(lambda a: a["logits"].sum((1, 2, 3)), frozenset({"logits"}), "sum")
    g, _ = tiled_gradient(x, _identity_run, linear, tiles, 4, overlap)
    assert torch.allclose(g, torch.ones_like(g), atol=1e-5)


def test_tiled_gradient_has_no_hard_edges_between_tiles():
    # On a ramp each tile's gradient is a different constant; blended, it must change gradually.
    h, w, tile, overlap = 96, 400, 64, 0.25
    x = torch.linspace(0, 1, w).expand(1, 3, h, w).contiguous()
    tiles = make_tiles(h, w, tile, overlap, (7, 21))
    g, _ = tiled_gradient(x, _identity_run, _tile_objective(), tiles, 4, overlap)
    per_tile = sorted({round(float(g[0, 0, t.y + t.h // 2, t.x + t.w // 2]), 6) for t in tiles})
    step = max(b - a for a, b in zip(per_tile, per_tile[1:]))  # between neighbouring tiles
    jump = float(g[0, 0].diff(dim=1).abs().max())  # between neighbouring pixels
    assert step > 0 and jump < 0.25 * step, (jump, step)


def test_the_tile_grid_moves_every_step():
    # Over a few steps no interior column may be a tile edge every time: a fixed grid would
    # put a seam in the same place step after step. (The first and last tiles are clamped
    # inside the picture, so their inner edges stay put; their windows taper there.)
    rng = random.Random(0)
    h, w, tile = 300, 700, 224
    edges = []
    for _ in range(6):
        cols = set()
        for t in _grid(h, w, tile, 0.25, rng):
            cols.update({t.x, t.x + t.w})
        edges.append(cols - {0, w, tile, w - tile})
    assert len({frozenset(e) for e in edges}) > 1
    assert not set.intersection(*edges)


def test_windows_taper_only_towards_neighbours():
    h, w = 600, 600
    tiles = make_tiles(h, w, 224, 0.25)
    corner = next(t for t in tiles if t.y == 0 and t.x == 0)
    win = tile_window(corner, h, w, 0.25)
    assert win[0, 0] == 1.0  # picture border: full weight, nothing to blend with
    assert win[-1, -1] < 0.05  # towards neighbours: fades out
    # and the total weight is positive everywhere, so normalisation never divides by zero
    total = torch.zeros(h, w)
    for t in tiles:
        total[t.slices] += tile_window(t, h, w, 0.25)
    assert (total > 0).all()




# --- exact grids and windows (mutation report, benchmarks/mutation_report.md) ----------------
def test_tile_starts_exact_grids_worked_by_hand():
    # 1000 px, tiles of 224 every 168: the last start is 1000 - 224 = 776, clamped
    assert tile_starts(1000, 224, 168) == [0, 168, 336, 504, 672, 776]  # no offset by default
    # offset 100: the grid is ..., -68, 100, 268, ...; -68 is clamped to 0, 940 to 776
    assert tile_starts(1000, 224, 168, 100) == [0, 100, 268, 436, 604, 772, 776]
    assert tile_starts(10, 4, 1) == [0, 1, 2, 3, 4, 5, 6]  # a stride of 1 is kept
    assert tile_starts(224, 224, 168, 50) == [0]


def test_make_tiles_moves_rows_by_the_first_offset_and_columns_by_the_second():
    rows, cols = [0, 100, 268, 436, 604, 772, 776], [0, 168, 336, 376]  # stride round(224 * 0.75) = 168
    got = {(t.y, t.x) for t in make_tiles(1000, 600, 224, 0.25, offset=(100, 0))}
    assert got == {(y, x) for y in rows for x in cols}
    got = {(t.y, t.x) for t in make_tiles(600, 1000, 224, 0.25, offset=(0, 100))}
    assert got == {(y, x) for y in cols for x in rows}
    assert make_tiles(1000, 600, 224) == make_tiles(1000, 600, 224, 0.25)  # the default overlap
    # a high overlap on small tiles: stride round(4 * 0.25) = 1, not more
    assert {(t.y, t.x) for t in make_tiles(10, 7, 4, 0.75)} == {(y, x) for y in range(7) for x in range(4)}


@pytest.mark.parametrize("tile,overlap,h,w", [(8, 0.25, 26, 20), (8, 0.5, 16, 20), (4, 0.25, 10, 13)])
def test_windows_cross_fade_to_exactly_one_where_tiles_overlap_by_the_taper(tile, overlap, h, w):
    # Tiles laid so that neighbours overlap by exactly the taper (h and w are tile + k strides):
    # a raised-cosine ramp and its mirror image sum to one, so the raw windows already add up
    # to one at every pixel, borders included (flat there) - before any normalisation.
    tiles = make_tiles(h, w, tile, overlap)
    stride = round(tile * (1 - overlap))
    assert {t.y for t in tiles} == set(range(0, h - tile + 1, stride))  # no clamped extra tile
    assert {t.x for t in tiles} == set(range(0, w - tile + 1, stride))
    total = torch.zeros(h, w)
    for t in tiles:
        total[t.slices] += tile_window(t, h, w, overlap)
    assert torch.allclose(total, torch.ones(h, w), atol=1e-6), total


@pytest.mark.parametrize("overlap", [0.15, 0.5, 0.75])  # the recipe allows 0..0.75
@pytest.mark.parametrize("size", [(300, 451), (97, 131)])
def test_windows_are_positive_at_most_one_and_flat_only_at_the_border(overlap, size):
    h, w = size
    for t in make_tiles(h, w, 64, overlap, offset=(5, 9)):
        win = tile_window(t, h, w, overlap)
        assert win.shape == (t.h, t.w) and (win > 0).all() and (win <= 1).all()
        # a side on the picture's border keeps the window's full weight; a side inside fades
        for edge, inside in ((win[0], t.y > 0), (win[-1], t.y + t.h < h),
                             (win[:, 0], t.x > 0), (win[:, -1], t.x + t.w < w)):
            assert bool(edge.max() < win.max()) == inside, (t, overlap)


def test_a_tile_one_pixel_in_from_the_border_fades_on_that_side():
    from dreamer.tiling import Tile

    win = tile_window(Tile(1, 1, 8, 8), 20, 20, 0.25)
    assert (win[0] < 1).all() and (win[:, 0] < 1).all() and (win[-1] < 1).all() and (win[:, -1] < 1).all()
    flat = tile_window(Tile(0, 0, 20, 20), 20, 20, 0.25)
    assert (flat == 1).all()
