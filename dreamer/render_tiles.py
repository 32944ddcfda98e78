"""The tiles engine (method "tiles", the `classic` preset): octaves coarse to fine; each step one
whole-picture gradient assembled from batched tiles, normalised, applied, blurred and clipped.

Taking one step for the whole picture (rather than dreaming tile by tile like the original) is
what makes seams impossible: every pixel's update is a smooth blend of the tiles over it, and the
tile grid moves every step. Each step the tiles also see the picture through a random view
(magnified or shrunk, turned a few degrees, shifted), resampled onto a canvas they cover evenly,
and the gradient is pulled back through it: shapes that grow must read at any size and angle,
and every pixel, edges included, is dreamt as much as any other.
"""
from __future__ import annotations

import math
import random
from typing import Callable

import torch
import torch.nn.functional as F

from dreamer import objectives as obj
from dreamer.activations import Progress, ProgressFn, capture
from dreamer.plan import TilesPlan
from dreamer.recipe import Octave, TilesSettings
from dreamer.tiling import Tile, make_tiles, tile_window
from dreamer.transform import gaussian_blur, linear, resize, to_image, view_grid
from models import DreamNet


def tiled_gradient(
    x: torch.Tensor,
    run: Callable[[torch.Tensor], dict],
    objective: obj.Objective,
    tiles: list[Tile],
    batch_size: int,
    overlap: float,
) -> tuple[torch.Tensor, float]:
    """Gradient of the objective w.r.t. every pixel of x (1, 3, H, W), computed tile by tile in
    batches and blended with normalised windows. Only `batch_size` tiles are in memory at once."""
    _, _, height, width = x.shape
    grad = torch.zeros_like(x)
    wsum = torch.zeros((1, 1, height, width), dtype=x.dtype, device=x.device)
    score = 0.0
    for i in range(0, len(tiles), batch_size):
        batch = tiles[i:i + batch_size]
        shapes = {(t.h, t.w) for t in batch}
        if len(shapes) > 1:  # only when the picture is smaller than a tile in one direction
            raise AssertionError("tiles in a batch must share a shape")
        xb = torch.stack([x[0, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in batch]).requires_grad_(True)
        values = objective(run(xb))
        (g,) = torch.autograd.grad(values.sum(), xb)
        score += float(values.detach().float().sum())
        for t, gt in zip(batch, g):
            win = tile_window(t, height, width, overlap).to(x.device)
            ys, xs = t.slices
            grad[0, :, ys, xs] += gt.float() * win
            wsum[0, 0, ys, xs] += win
    return grad / wsum, score / max(1, len(tiles))


def octave_sizes(height: int, width: int, plan: list[Octave], min_side: int) -> list[tuple[int, int]]:
    """Picture size per octave; no octave shrinks the short side below min_side (the tile),
    except where the photo itself is smaller."""
    floor = min(min_side, height, width)
    sizes = []
    for o in plan:
        s = max(o.scale, floor / min(height, width))
        sizes.append((max(1, round(height * s)), max(1, round(width * s))))
    return sizes


def dream_tiles(
    base: torch.Tensor, tp: TilesPlan, net: DreamNet, seed: int, progress: ProgressFn | None = None
) -> torch.Tensor:
    dev = base.device
    recipe, plan = tp.recipe, tp.octaves
    tile = recipe.tile_size or net.input_size
    rng = random.Random(seed)
    _, _, height, width = base.shape
    # Octaves never go below the net's input size (a one-tile 'no tiles' dream keeps its octaves).
    sizes = octave_sizes(height, width, plan, min(tile, net.input_size))
    total = sum(o.iterations for o in plan)
    done = 0
    detail = None
    x = base
    for oi, (octave, size, objective) in enumerate(zip(plan, sizes, tp.objectives)):
        octave_base = resize(base, size)
        # Detail dreamt at the coarser scale is carried up, so big shapes survive to the end.
        detail = torch.zeros_like(octave_base) if detail is None else resize(detail, size)
        x = (octave_base + detail).clamp(0, 1)
        with capture(net, objective.layers) as run:
            for step in range(octave.iterations):
                sigma = linear(octave.sigma_start, octave.sigma_end, step, octave.iterations)
                lr = linear(octave.step_start, octave.step_end, step, octave.iterations)
                x, score = _step(x, run, objective, tp, tile, rng, lr, sigma, octave_base)
                done += 1
                if progress is not None:
                    progress(Progress(oi, len(plan), step, octave.iterations, done, total, score,
                                      image=lambda x=x: to_image(resize(x, (height, width)))))
        detail = x - octave_base
    return resize(x, (height, width)) if tuple(x.shape[-2:]) != (height, width) else x


def _step(
    x: torch.Tensor,
    run: Callable[[torch.Tensor], dict],
    objective: obj.Objective,
    tp: TilesPlan,
    tile: int,
    rng: random.Random,
    lr: float,
    sigma: float,
    base: torch.Tensor,
) -> tuple[torch.Tensor, float]:
    recipe, tiles = tp.recipe, tp.recipe.tiles
    zoom, angle = 1.0, 0.0
    if tiles.view_scale_max != 1.0 or tiles.view_scale_min != 1.0:
        zoom = math.exp(rng.uniform(math.log(tiles.view_scale_min), math.log(tiles.view_scale_max)))
    if recipe.view_rotate > 0:
        angle = _turn_for(rng.uniform(-recipe.view_rotate, recipe.view_rotate), *x.shape[-2:])
    if zoom == 1.0 and angle == 0.0:
        g, score = _grid_gradient(x, run, objective, tiles, recipe.batch_size, tile, rng)
    else:
        g, score = _view_gradient(x, run, objective, tiles, recipe.batch_size, tile, rng, zoom, angle)
    g = tp.normalise(g)
    g = g / (g.abs().mean() + 1e-8)
    x = x + (lr / 255.0) * g
    # Blur only what was dreamt, not the photo: the blur regularises the hallucination, and
    # the photo underneath stays sharp.
    x = base + gaussian_blur(x - base, sigma)
    return x.clamp(0, 1), score


def _turn_for(angle: float, height: int, width: int) -> float:
    """The view's turn, no more than makes the turned canvas half again as tall (or wide) as
    the picture: the canvas of a long thin picture turned by `a` is long x (short + long sin a),
    so its cost would grow with the square of the long side, not with the picture's area."""
    short, long = min(height, width), max(height, width)
    limit = math.degrees(math.asin(min(1.0, short / (2 * long))))
    return max(-limit, min(limit, angle))


def _grid_gradient(x, run, objective, tiles: TilesSettings, batch_size: int, tile: int, rng: random.Random):
    _, _, h, w = x.shape
    # Reflect-padding by the jitter lets border pixels fall inside tiles too, and with the
    # random grid offset no pixel sits on a tile edge twice in a row.
    pad = min(tiles.jitter, h - 1, w - 1)
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad > 0 else x
    grid = _grid(xp.shape[-2], xp.shape[-1], tile, tiles.tile_overlap, rng)
    g, score = tiled_gradient(xp, run, objective, grid, batch_size, tiles.tile_overlap)
    if pad > 0:
        g = g[..., pad:pad + h, pad:pad + w]
    return g, score


def _grid(height: int, width: int, tile: int, overlap: float, rng: random.Random) -> list[Tile]:
    th, tw = min(tile, height), min(tile, width)
    offset = (rng.randrange(max(1, round(th * (1 - overlap)))), rng.randrange(max(1, round(tw * (1 - overlap)))))
    return make_tiles(height, width, tile, overlap, offset)


def _view_gradient(x, run, objective, tiles: TilesSettings, batch_size: int, tile: int, rng: random.Random,
                   zoom: float, angle: float):
    """The gradient through a random view: the picture is resampled onto a canvas (magnified by
    `zoom`, turned by `angle`, moved by up to the jitter, borders reflected) that tiles cover
    evenly; the canvas gradient is pulled back through the resampling and divided by how densely
    each pixel was sampled, so no pixel counts more for where the sampling grid happened to fall."""
    _, _, h, w = x.shape
    j = tiles.jitter
    shift = (rng.uniform(-j, j), rng.uniform(-j, j)) if j else (0.0, 0.0)
    grid = view_grid(h, w, zoom, angle, shift, j, x.device)
    # A fourth channel of ones, pulled back with ones, gives the sampling density.
    xin = torch.cat([x, torch.ones_like(x[:, :1])], 1).requires_grad_(True)
    with torch.enable_grad():
        canvas = F.grid_sample(xin, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    placed = _grid(canvas.shape[-2], canvas.shape[-1], tile, tiles.tile_overlap, rng)
    gc, score = tiled_gradient(canvas[:, :3].detach(), run, objective, placed, batch_size, tiles.tile_overlap)
    (back,) = torch.autograd.grad(canvas, xin, torch.cat([gc, torch.ones_like(gc[:, :1])], 1))
    density = back[:, 3:]
    return torch.where(density > 1e-3, back[:, :3] / density.clamp_min(1e-3), torch.zeros_like(back[:, :3])), score


__all__ = ["dream_tiles", "octave_sizes", "tiled_gradient"]
