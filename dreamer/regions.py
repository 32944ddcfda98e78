"""A place in the picture for each class of a mutant, chosen from the photo.

In one objective over the whole picture the class that is easiest on that photo takes the canvas
and the others stay a trace (benchmarks/README.md, "Mutants in their places"). Here each class is
given a soft region where the dreaming net already finds most evidence for it, relative to the
other classes: the net's class activation maps of the photo (models.heads), smoothed into blobs,
then shared out so that each class gets its share of the area (a balanced softmax: the Sinkhorn
iteration of optimal transport). The regions' soft seams let the creatures run into each other.

A seeded low-frequency field is added to the evidence: it breaks ties where the photo says nothing
(a blank sky) and splits big blobs into several, so that each creature shows in most parts of the
picture; another seed places them differently.

Each class paints its region with a detail layer of its own (dreamer.param.masked), and each view
pushes the classes whose regions it covers (view_shares): inside its region a class is dreamt as
a single class is. During the dream a class the checks for being seen miss gets more of the
picture (Regions.grow): a big creature needs room that the blobs do not give it.

The creatures come out distinct, at about 60 % of `mix`'s time (no partner net): blind
viewers named 16 of 22 creatures against 7 of 22 with `mix`, though the quality judge, whose
whole-picture view sees the middle creature, found the weaker class in fewer of its views (31 %
against 56 % on three held-out rows). benchmarks/README.md, "Mutants in their places".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from dreamer.transform import View, gaussian_blur, resize, sample_views
from models import DreamNet
from models.heads import Head, class_heads, feature_maps

GRID = 32  # cells on the masks' short side: regions are blobs, not pixel detail
TEMPERATURE = 0.25  # of the balanced softmax over z-scored evidence: low is crisp
# Weight of the seeded field against the (unit-variance) evidence. Strong enough to break a
# photo's two or three big evidence blobs into several: each class then shows in most of the
# judge's crops (with CELLS 3 -> 5 and SMOOTH 1/8 -> 0.06: monarch + daisy on the coffee 38 -> 88 %).
NOISE = 0.7
CELLS = 5  # the seeded field's cells a side
# Every class keeps this share of the picture everywhere (split between the classes): creatures
# blend at the seams and their markings run into each other's regions. The recipe's
# views.hybrid_floor, whose default this is; 0.1 until session 24.
FLOOR = 0.3
SMOOTH = 0.06  # Gaussian blur of the evidence, as a fraction of the short side
MASK_SIDE = 8  # a view's regions are sampled at this many cells a side


def grid_size(height: int, width: int) -> tuple[int, int]:
    s = GRID / min(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


@torch.no_grad()
def evidence(photo: torch.Tensor, net: DreamNet, ids: list[int], heads: list[Head]) -> torch.Tensor:
    """(k, gh, gw): how much the net sees each class at each place of photo (1, 3, H, W) in
    [0, 1], from its class activation maps at two scales (the photo's short side at the net's
    input size and at twice it: whole-photo context and finer places), each z-scored over the
    picture so that the classes compare by where they rise, not by how high."""
    gh, gw = grid_size(*photo.shape[-2:])
    total = torch.zeros((len(ids), gh, gw), device=photo.device)
    for cam in class_maps(photo, net, ids, heads, (1, 2)):
        total += _zscore(F.interpolate(cam[None], size=(gh, gw), mode="bilinear", align_corners=False)[0])
    return _zscore(total)


def class_maps(picture: torch.Tensor, net: DreamNet, ids: list[int], heads: list[Head],
               scales: tuple[float, ...]) -> Iterator[torch.Tensor]:
    """(k, h, w) class activation maps of picture (1, 3, H, W) for classes `ids`: one per head
    of the net at each scale (the picture's short side at scale × the net's input size)."""
    with feature_maps(heads) as maps:
        for scale in scales:
            s = scale * net.input_size / min(picture.shape[-2:])
            x = resize(picture, (max(8, round(picture.shape[-2] * s)), max(8, round(picture.shape[-1] * s))))
            maps.clear()
            net.module(net.normalise(x))
            for feats, head in zip(maps, heads):
                yield torch.einsum("chw,kc->khw", feats[0].float(), head.fc.weight[ids].float())


def _zscore(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    return ((flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-6)).view_as(x)


def tie_breaker(k: int, gh: int, gw: int, seed: int) -> torch.Tensor:
    """(k, gh, gw) seeded smooth noise, unit variance per class."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn((1, k, CELLS, CELLS), generator=g)
    return _zscore(F.interpolate(coarse, size=(gh, gw), mode="bicubic", align_corners=True)[0])


def share_out(score: torch.Tensor, areas: torch.Tensor, temperature: float = TEMPERATURE,
              iterations: int = 50) -> torch.Tensor:
    """(k, gh, gw) soft masks summing to 1 at every cell, class i taking `areas[i]` of the
    picture: a softmax over the classes of score / temperature, each class's offset adjusted
    until its area is right (Sinkhorn's iteration)."""
    logits = score / temperature
    target = (areas / areas.sum()).log().view(-1, 1, 1)
    offset = torch.zeros_like(target)
    for _ in range(iterations):
        masks = torch.softmax(logits + offset, dim=0)
        offset += target - masks.mean((1, 2), keepdim=True).clamp_min(1e-12).log()
    return torch.softmax(logits + offset, dim=0)


@dataclass
class Regions:
    """A mutant's soft regions and what they were shared out from, so that a class's area can
    grow during the dream (`grow`). Kept in the order of the class ids, handed out in the
    caller's (`masks`): a recipe read back from a picture's sidecar may list its classes in
    another order and must place them alike."""

    order: list[int]  # the caller's class ids, in the caller's order
    ids: list[int]  # the same, sorted
    score: torch.Tensor  # (k, gh, gw) in ids' order: the evidence and seeded field, smoothed
    areas: torch.Tensor  # (k,) in ids' order: each class's share of the picture, relative
    floor: float = FLOOR  # every class's share everywhere, split between them

    @property
    def masks(self) -> torch.Tensor:
        """(k, gh, gw) in the caller's order, `floor` of every class everywhere, summing to 1."""
        masks = share_out(self.score, self.areas)[[self.ids.index(i) for i in self.order]]
        return self.floor / len(self.ids) + (1 - self.floor) * masks

    def grow(self, seen: dict[int, float], factor: float) -> bool:
        """Multiply by `factor` the area of each class seen in fewer than half as many of a
        check's crops as the class seen most (dreamer.seen): a creature that a check cannot find
        in its strips of the picture gets room to grow whole. True if any area changed."""
        best = max(seen.values())
        lagging = [k for k, i in enumerate(self.ids) if seen[i] < LAGGING * best]
        for k in lagging:
            self.areas[k] *= factor
        return bool(lagging)

    def follow(self, picture: torch.Tensor, net: DreamNet, seed: int) -> None:
        """Share the regions out from the evidence in `picture` (the dream so far) instead of the
        photo's: a class that grows then takes its room where the others have not formed. From
        the photo's evidence alone the fig's pufferfish took the plate on which the broccoli had
        already formed, and the broccoli was lost (benchmarks/README.md, "Regions that follow the
        dream")."""
        self.score = _score(picture, net, self.ids, seed)


# A class is lagging (Regions.grow) when a check finds it in fewer than this share of the crops
# the best-seen class is found in.
LAGGING = 0.5


def place_classes(photo: torch.Tensor, net: DreamNet, classes: dict[int, float], seed: int,
                  floor: float = FLOOR) -> Regions:
    """Soft regions (k, gh, gw: `.masks`) of photo (1, 3, H, W) for the positive `classes` (id ->
    weight; a class's area in proportion to its weight), with `floor` of every class everywhere.
    On a net without class maps the regions come from the seeded field alone."""
    ids = sorted(classes)
    areas = torch.tensor([classes[i] for i in ids], dtype=torch.float32, device=photo.device)
    return Regions(list(classes), ids, _score(photo, net, ids, seed), areas, floor)


def _score(picture: torch.Tensor, net: DreamNet, ids: list[int], seed: int) -> torch.Tensor:
    """(k, gh, gw): the net's evidence for each class in picture plus the seeded field, smoothed."""
    gh, gw = grid_size(*picture.shape[-2:])
    heads = class_heads(net)
    score = NOISE * tie_breaker(len(ids), gh, gw, seed).to(picture.device)
    if heads:
        score = score + evidence(picture, net, ids, heads)
    sigma = SMOOTH * GRID
    return gaussian_blur(score[None], sigma)[0] if min(gh, gw) > 2 else score


def view_masks(masks: torch.Tensor, views: list[View], full: tuple[int, int]) -> torch.Tensor:
    """(n, k, MASK_SIDE, MASK_SIDE): the regions as each view sees them (same turn and crop as
    the view's pixels, borders reflected), for a picture of size `full` = (height, width)."""
    return sample_views(masks[None], views, MASK_SIDE, full)


def view_shares(masks: torch.Tensor, views: list[View], full: tuple[int, int]) -> torch.Tensor:
    """(n, k): how much each view leans to each class, from the share of its area each region
    covers, squared and normalised: a view inside one region pushes that class as a single
    class's view does, one across a seam pushes both."""
    share = view_masks(masks, views, full).mean((2, 3)) ** 2
    return share / share.sum(1, keepdim=True).clamp_min(1e-12)
