"""Is the creature there yet? The dreaming net's own look at the picture the way the quality judge
looks at it (benchmarks/judge.py): after what wipes out pixel-level detail (downscaled, blurred,
JPEG), in crops of a viewer's sizes.

A dream checks this every few steps and stops once every class it dreams is seen (dreamer.
render_views). The net that dreamt is easy to convince with detail no other net or person sees;
the degraded crops are what makes its answer follow what a stranger sees, not what it was
optimised on (benchmarks/README.md, "Stop when the creature is there").
"""
from __future__ import annotations

import io
import random

import torch
from PIL import Image

from dreamer.activations import net_chunk
from dreamer.transform import View, gaussian_blur, resize, sample_views, to_image, to_tensor
from models import DreamNet

# The judge's view of a 640-pixel picture, in fractions of the short side: 224-pixel crops of
# the picture halved, blurred and JPEG'd, then shown at full, three-quarter and half size.
SHORT_SIDE = 240
CROP_SIDES = (0.47, 0.62, 0.93)
BLUR = 0.7
JPEG_QUALITY = 60


def degrade(x: torch.Tensor) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1] -> the picture at a short side of SHORT_SIDE (never enlarged),
    slightly blurred and through JPEG: what survives is shape and colour."""
    h, w = x.shape[-2:]
    s = SHORT_SIDE / min(h, w)
    if s < 1:
        x = resize(x, (max(1, round(h * s)), max(1, round(w * s))))
    buf = io.BytesIO()
    to_image(gaussian_blur(x, BLUR)).save(buf, "JPEG", quality=JPEG_QUALITY)
    buf.seek(0)
    with Image.open(buf) as im:
        return to_tensor(im.convert("RGB"), x.device)


@torch.no_grad()
def degraded_crops(picture: torch.Tensor, crops: int, seed: int, size: int) -> torch.Tensor:
    """`crops` random crops per size (CROP_SIDES) of the degraded picture, each brought to
    `size`: what a check looks at. Seeded: the same picture and seed give the same crops."""
    d = degrade(picture.detach().float())
    h, w = d.shape[-2:]
    rng = random.Random(seed)
    views = []
    for frac in CROP_SIDES:
        side = frac * min(h, w)
        views += [View(rng.uniform(side / 2, h - side / 2), rng.uniform(side / 2, w - side / 2), side, 0.0)
                  for _ in range(crops)]
    return sample_views(d, views, size, (h, w))


@torch.no_grad()
def seen_shares(net: DreamNet, picture: torch.Tensor, class_ids: list[int], crops: int, seed: int) -> dict[int, float]:
    """For each class, the share of `crops` random crops per size of the degraded picture in
    which `net` ranks it in its top 5. Seeded: the same picture and seed give the same answer."""
    batch = degraded_crops(picture, crops, seed, net.input_size)
    # a few crops at a time on a CPU, as the dream's steps run (dreamer.activations.net_chunk):
    # 24 crops in one batch took twice as long as in twelve of two on two cores
    step = net_chunk(batch)
    top = torch.cat([net.module(net.normalise(batch[i:i + step])).float().topk(5, dim=1).indices
                     for i in range(0, batch.shape[0], step)])
    return {i: float((top == i).any(1).float().mean()) for i in class_ids}
