"""What every Caffe layer builder shares: the layer's spec, the table of builders by type
(`BUILDERS`, filled by the layers_* modules as they are imported), `build`, the function layer
(`Lambda`), and the helpers that read blobs and Caffe's spellings of 2-D sizes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from models.base import ModelError
from models.caffe.prototxt import Message, PrototxtError
from models.caffe.wire import Blob


class CaffeError(ModelError):
    """A Caffe net that cannot be imported; the message names the file and the layer."""


@dataclass
class LayerSpec:
    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    params: Message  # the whole layer message (convolution_param etc. inside)

    def fail(self, why: str) -> CaffeError:
        return CaffeError(f"layer {self.name!r} ({self.type}): {why}")

    def param(self, key: str) -> Message:
        return self.params.message(key)


Builder = Callable[[LayerSpec, list[Blob]], nn.Module]
BUILDERS: dict[str, Builder] = {}
# Types whose blobs come from the caffemodel; a layer of these types must find its weights.
WEIGHTED = {"Convolution", "InnerProduct", "BatchNorm", "Scale", "Bias", "PReLU"}


def builder(*types: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        for t in types:
            BUILDERS[t] = fn
        return fn

    return deco


def build(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    try:
        make = BUILDERS[spec.type]
    except KeyError:
        raise spec.fail(f"unsupported layer type {spec.type!r}; supported: "
                        f"{', '.join(sorted(BUILDERS))}") from None
    try:
        return make(spec, blobs)
    except PrototxtError as e:
        raise spec.fail(str(e)) from None


# --- helpers ---------------------------------------------------------------------------------
def _tensor(blob: Blob, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(blob.data.reshape(shape)))


def _need_blobs(spec: LayerSpec, blobs: list[Blob], low: int, high: int) -> None:
    if not low <= len(blobs) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise spec.fail(f"the caffemodel gives it {len(blobs)} parameter blob(s), it needs "
                        f"{want}: the caffemodel does not belong to this prototxt")


def _pair(p: Message, key: str, key_h: str, key_w: str, default: int | None,
          spec: LayerSpec) -> tuple[int, int]:
    """Caffe's `pad: 1` / `pad: 1 pad: 2` / `pad_h: 1 pad_w: 2` spellings as (h, w)."""
    if p.get_int(key_h) is not None or p.get_int(key_w) is not None:
        h, w = p.get_int(key_h), p.get_int(key_w)
        if h is None or w is None:
            raise spec.fail(f"give both {key_h} and {key_w}")
        return h, w
    values = p.get_ints(key)
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    if not values and default is not None:
        return default, default
    if not values:
        raise spec.fail(f"{key} is missing")
    raise spec.fail(f"{key} has {len(values)} values; only 2-D layers are supported")


class Lambda(nn.Module):
    """A parameter-free layer given as a function (Concat, Eltwise, Flatten, ...)."""

    def __init__(self, fn: Callable[..., torch.Tensor], description: str):
        super().__init__()
        self.fn, self.description = fn, description

    def extra_repr(self) -> str:
        return self.description

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)
