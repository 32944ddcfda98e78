"""Pixel-space transforms the render loop composes: blur, resize, zoom/rotate, conversions."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


# Full-size pictures are converted this many values at a time: a 12 MP photo as one float
# tensor is 144 MB, and converting it whole made two or three more of them.
_CHUNK = 1 << 20


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) float32 in [0, 1], making no float copy but the result."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    arr = torch.from_numpy(np.array(rgb, dtype=np.uint8))  # (H, W, 3)
    out = torch.empty((1, 3, arr.shape[0], arr.shape[1]), dtype=torch.float32)
    out[0].copy_(arr.permute(2, 0, 1))
    return out.div_(255.0).to(device)


def to_bytes(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) uint8: a photo as the views engine keeps it while it dreams
    (a quarter of float32's memory: 108 MB less for a 12 MP photo). `as_float` reads it."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    arr = torch.from_numpy(np.array(rgb, dtype=np.uint8))  # (H, W, 3)
    return arr.permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """x in [0, 1] as float32: a uint8 picture (`to_bytes`) divided by 255, the same values as
    `to_tensor`'s; a float one as it is."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def to_image(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> RGB PIL image, a band of rows at a time."""
    x = x.detach().squeeze(0)
    if x.device.type != "cpu":  # one transfer, not one per band (the float copies are on the GPU)
        x = x.clamp(0, 1).mul(255).round().byte().cpu()
    h, w = x.shape[-2:]
    arr = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, _CHUNK // max(1, w))
    for r in range(0, h, rows):
        band = x[:, r:r + rows]
        if band.dtype != torch.uint8:
            band = band.clamp(0, 1).mul(255).round().byte()
        arr[r:r + rows] = band.permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders (no dark frame at the edges)."""
    if sigma <= 0.05:
        return x
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).tolist()
    # Shifted slices rather than a grouped conv2d: on the CPU the conv allocated ~12 full-size
    # buffers (1.6 GB for a 12 MP photo) and ran ~8x slower.
    h, w = x.shape[-2:]
    p = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    rows = p[..., 0:w] * k[0]
    for i in range(1, 2 * radius + 1):
        rows.add_(p[..., i:i + w], alpha=k[i])
    p = F.pad(rows, (0, 0, radius, radius), mode="reflect")
    del rows
    out = p[..., 0:h, :] * k[0]
    for i in range(1, 2 * radius + 1):
        out.add_(p[..., i:i + h, :], alpha=k[i])
    return out


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def zoom_rotate(x: torch.Tensor, zoom: float, degrees: float) -> torch.Tensor:
    """Zoom into the centre and rotate, keeping the size (for dive animations)."""
    if zoom == 1 and degrees == 0:
        return x
    a = math.radians(degrees)
    h, w = x.shape[-2:]
    cos, sin = math.cos(a) / zoom, math.sin(a) / zoom
    # affine_grid works in normalised coords; correct rotation for the aspect ratio.
    theta = torch.tensor(
        [[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=x.dtype, device=x.device
    ).unsqueeze(0)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def laplacian_normalise(g: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Give every spatial frequency band of the gradient equal strength (Mordvintsev's Laplacian
    pyramid normalisation): raw gradients are dominated by pixel-scale noise, and evening out the
    bands lets larger shapes grow instead of a fine rainbow texture."""
    bands = []
    x = g
    for _ in range(levels - 1):
        h, w = x.shape[-2:]
        if min(h, w) < 8:
            break
        lo = F.interpolate(x, size=((h + 1) // 2, (w + 1) // 2), mode="bilinear", align_corners=False, antialias=True)
        bands.append(x - F.interpolate(lo, size=(h, w), mode="bilinear", align_corners=False))
        x = lo
    bands.append(x)
    out = bands[-1] / (bands[-1].std() + 1e-8)
    for band in reversed(bands[:-1]):
        out = F.interpolate(out, size=band.shape[-2:], mode="bilinear", align_corners=False)
        out = out + band / (band.std() + 1e-8)
    return out


def linear(start: float, end: float, i: int, n: int) -> float:
    """Value of a start→end schedule at step i of n."""
    return start if n <= 1 else start + (end - start) * i / (n - 1)


def view_grid(
    height: int, width: int, zoom: float, degrees: float, shift: tuple[float, float], border: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Sampling grid (1, Hc, Wc, 2) for grid_sample of a canvas that shows a height×width picture
    rotated by `degrees`, magnified by `zoom` and moved by `shift` (y, x) pixels, with a border
    of `border` pixels all round. The canvas is just large enough to hold the whole rotated
    picture plus border, so tiles laid over the canvas cover every pixel of the picture."""
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    span_h = height * abs(cos) + width * abs(sin) + 2 * border
    span_w = width * abs(cos) + height * abs(sin) + 2 * border
    hc, wc = max(1, round(span_h * zoom)), max(1, round(span_w * zoom))
    v = (torch.arange(hc, dtype=torch.float32, device=device) + 0.5 - hc / 2) / zoom
    u = (torch.arange(wc, dtype=torch.float32, device=device) + 0.5 - wc / 2) / zoom
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    # canvas offset (u, v) from its centre -> picture pixel (px, py)
    px = cos * uu - sin * vv + width / 2 + shift[1]
    py = sin * uu + cos * vv + height / 2 + shift[0]
    return torch.stack((2 * px / width - 1, 2 * py / height - 1), -1).unsqueeze(0)



# --- random views for the optimiser (lucent's transformation robustness) --------------------
@dataclass(frozen=True)
class View:
    """One square crop of the picture: centre (picture pixels), side (pixels) and turn (degrees)."""

    cy: float
    cx: float
    side: float
    angle: float
    resolution: float = 1.0  # below 1 the net sees the view this much coarser (blurred)


def random_views(height: int, width: int, n: int, side_range: tuple[float, float], rotate: float,
                 rng: random.Random, coarsen: float = 0.0) -> list[View]:
    """n views whose centres are spread over the whole picture, edges included.

    Centres are uniform over the picture (Latin-hypercube stratified, so one batch spreads out)
    and a view hanging over the border sees the picture reflected. Counting those reflections,
    every pixel, corner or centre, is covered by a view equally often on average: a border pixel
    missed by views hanging outwards is hit by its mirror image. Sides are log-uniform in
    `side_range` (fractions of the short side): big views grow big shapes, small ones detail.
    With `coarsen` > 0 half the views are seen at a resolution down to 1 − coarsen, so what
    grows must survive blur and downscaling too (as it must for a person's eye)."""
    short = min(height, width)
    lo, hi = math.log(side_range[0]), math.log(side_range[1])
    ys = [(i + rng.random()) / n * height for i in range(n)]
    xs = [(i + rng.random()) / n * width for i in range(n)]
    rng.shuffle(xs)
    return [View(y, x, short * math.exp(rng.uniform(lo, hi)), rng.uniform(-rotate, rotate),
                 1.0 - coarsen * rng.random() if i % 2 else 1.0)
            for i, (y, x) in enumerate(zip(ys, xs))]


def view_batch(x: torch.Tensor, views: list[View], size: int, samples: int = 4) -> torch.Tensor:
    """(n, 3, size, size): each view of x (1, 3, H, W) resampled to the net's input size,
    borders reflected; differentiable, so the gradient flows back to x's own pixels.

    A view is sampled at up to `samples` (2 or 4) samples per output pixel a side and averaged
    down: shrunk in one go by bilinear sampling it would alias, and an aliased view rewards pixel
    noise. Views more than `samples`× the size they are seen at are sampled from a level of a
    box-filtered pyramid of x (x at ½, ¼, ...: mip levels, made on demand) instead of from x at
    up to 16× the net's size: nearly the same view for a fraction of the samples and gradient.
    With 2, a view 2-4× its size comes from the ½ level: a quarter of the samples of 4, a little
    softer than an exact box filter (recipe.views.view_samples)."""
    levels = [x]
    plan: dict[tuple[int, int, int], list[int]] = {}  # (level, size, k) -> the views' indices
    for i, v in enumerate(views):
        target = size if v.resolution >= 1 else max(8, round(size * v.resolution))
        level = 0
        while v.side / target >= samples * 2 ** level and min(x.shape[-2:]) >> (level + 1) >= 8:
            level += 1
        k = max(1, min(samples, math.ceil(v.side / target / 2 ** level - 0.01)))
        plan.setdefault((level, target, k), []).append(i)
    out: list[torch.Tensor | None] = [None] * len(views)
    # At most a few views at a time from the full-size level, on the CPU: grid_sample's backward
    # makes a gradient of the whole (expanded) input per view. Coarser levels are small.
    group = max(4, torch.get_num_threads()) if x.device.type == "cpu" else len(views)
    for (level, target, k), idx in sorted(plan.items()):
        while len(levels) <= level:
            h, w = levels[-1].shape[-2:]
            levels.append(F.interpolate(levels[-1], size=((h + 1) // 2, (w + 1) // 2), mode="area"))
        src = levels[level]
        chunks = [idx[j:j + group] for j in range(0, len(idx), group)] if level == 0 else [idx]
        for part in chunks:
            o = sample_views(src, [views[i] for i in part], target * k, x.shape[-2:])
            if k > 1:
                o = o.view(len(part), x.shape[1], target, k, target, k).mean((3, 5))
            if target != size:  # a coarse view: seen at `target` pixels, shown at the net's size
                o = F.interpolate(o, size=(size, size), mode="bilinear", align_corners=False)
            # split, not o[m:m + 1]: its backward is one cat, not a zeroed batch per view
            for i, one in zip(part, o.split(1)):
                out[i] = one
    return torch.cat(out)  # type: ignore[arg-type]


def view_affines(views: list[View], full: tuple[int, int]) -> torch.Tensor:
    """(n, 2, 3) affine_grid matrices (align_corners=False) mapping each view's square, turned by
    its angle, onto a picture of size `full` = (height, width)."""
    h, w = full
    rows = []
    for v in views:
        a = math.radians(v.angle)
        c, s = math.cos(a), math.sin(a)
        rows.append([[v.side / w * c, -v.side / w * s, 2 * v.cx / w - 1],
                     [v.side / h * s, v.side / h * c, 2 * v.cy / h - 1]])
    return torch.tensor(rows)


def sample_views(src: torch.Tensor, views: list[View], side: int, full: tuple[int, int]) -> torch.Tensor:
    """(n, C, side, side) bilinear samples of the views from src, a pyramid level of a picture
    of size `full` (the views' coordinates are the full picture's)."""
    theta = view_affines(views, full).to(src)
    n = len(views)
    grid = F.affine_grid(theta, [n, src.shape[1], side, side], align_corners=False)
    return F.grid_sample(src.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)
