"""Where a net's class logits come from, place by place: the classifier heads that pool a feature
map and then apply a linear layer. Applied before the pooling, that linear layer gives a map of
each class's evidence over the picture (a class activation map), whose mean is the class's logit
less its bias: the engine can push a class in one part of a view and not in another."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from models.base import DreamNet


@dataclass(frozen=True)
class Head:
    pool: nn.Module  # global average pooling: its input is the feature map
    fc: nn.Linear  # the class output, applied to the pooled features


def class_heads(net: DreamNet) -> list[Head]:
    """The net's heads, one per member of an ensemble (in member order), or [] when its class
    output is not global average pooling followed by one linear layer (an imported graph, a 1x1
    convolution head): the engine then cannot place classes within a view."""
    heads: list[Head] = []
    pool: nn.Module | None = None
    for m in net.module.modules():
        if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)):
            pool = m
        elif isinstance(m, nn.Linear) and pool is not None:
            heads.append(Head(pool, m))
            pool = None
    classes = net.num_classes or (len(net.labels) if net.labels is not None else None)
    if not heads or (classes is not None and any(h.fc.out_features != classes for h in heads)):
        return []
    return heads


@contextlib.contextmanager
def feature_maps(heads: list[Head]) -> Iterator[list[torch.Tensor]]:
    """While open, the feature maps the heads pool (one per head, in order) are appended to the
    list it yields, for forward passes made by this thread only: nets are shared, and a dream
    or a measurement in another thread running the same net at the same time must not land in
    this caller's list (it would read another picture's classes as this one's)."""
    maps: list[torch.Tensor] = []
    owner = threading.get_ident()

    def keep(_m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
        if threading.get_ident() == owner:
            maps.append(inp[0])

    handles = [h.pool.register_forward_pre_hook(keep) for h in heads]
    try:
        yield maps
    finally:
        for h in handles:
            h.remove()


def look_alikes(net: DreamNet, ids: list[int], count: int) -> dict[int, list[int]]:
    """For each class in `ids`, the `count` other classes nearest it by the cosine of the net's
    classifier weights (its first head's), never one of `ids`: a class's family as the net sees
    it (stingray: electric ray, hammerhead, tiger shark...). {} for a net without a head."""
    heads = class_heads(net)
    if not heads or count <= 0:
        return {}
    w = torch.nn.functional.normalize(heads[0].fc.weight.detach().float(), dim=1)
    near = w[ids] @ w.t()
    near[:, ids] = -2.0
    return {i: near[n].topk(count).indices.tolist() for n, i in enumerate(ids)}
