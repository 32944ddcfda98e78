"""Caffe layers that move blobs around: Concat, Eltwise, Flatten, Reshape, Split, Slice."""
from __future__ import annotations

import math

import torch
from torch import nn

from models.caffe.layer_base import CaffeError, Lambda, LayerSpec, builder
from models.caffe.wire import Blob


# --- blob plumbing ---------------------------------------------------------------------------
@builder("Concat")
def concat(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("concat_param")
    axis = p.get_int("axis", p.get_int("concat_dim", 1))
    return Lambda(lambda *xs: torch.cat(xs, axis), f"axis={axis}")


@builder("Eltwise")
def eltwise(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("eltwise_param")
    op = p.get_enum("operation", ("PROD", "SUM", "MAX"), "SUM")
    coeffs = p.get_floats("coeff")
    if coeffs and (op != "SUM" or len(coeffs) != len(spec.bottoms)):
        raise spec.fail("coeff needs the SUM operation and one value per bottom")
    if op == "SUM":
        weights = coeffs or [1.0] * len(spec.bottoms)

        def total(*xs: torch.Tensor) -> torch.Tensor:
            out = xs[0] * weights[0] if weights[0] != 1 else xs[0]
            for w, x in zip(weights[1:], xs[1:]):
                out = out + (x * w if w != 1 else x)
            return out

        return Lambda(total, f"SUM {weights}")
    if op == "PROD":
        return Lambda(lambda *xs: math.prod(xs[1:], start=xs[0]), "PROD")
    return Lambda(lambda *xs: torch.stack(xs).amax(0), "MAX")


@builder("Flatten")
def flatten(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("flatten_param")
    axis, end = p.get_int("axis", 1), p.get_int("end_axis", -1)
    return Lambda(lambda x: x.flatten(axis, end), f"axis={axis}, end_axis={end}")


@builder("Reshape")
def reshape(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("reshape_param")
    dims = p.message("shape").get_ints("dim")
    axis, num_axes = p.get_int("axis", 0), p.get_int("num_axes", -1)

    def run(x: torch.Tensor) -> torch.Tensor:
        start = axis if axis >= 0 else x.dim() + 1 + axis
        end = x.dim() if num_axes == -1 else start + num_axes
        new = [x.shape[start + i] if d == 0 else d for i, d in enumerate(dims)]
        return x.reshape(*x.shape[:start], *new, *x.shape[end:])

    return Lambda(run, f"shape={dims}, axis={axis}, num_axes={num_axes}")


@builder("Split")
def split(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    n = len(spec.tops)
    return Lambda(lambda x: (x,) * n, f"{n} copies")


@builder("Slice")
def slice_layer(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("slice_param")
    axis = p.get_int("axis", p.get_int("slice_dim", 1))
    points = p.get_ints("slice_point")
    n = len(spec.tops)
    if points and len(points) != n - 1:
        raise spec.fail(f"{len(points)} slice points for {n} tops")

    def run(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        size = x.shape[axis]
        if points:
            bounds = [0, *points, size]
            return tuple(x.narrow(axis, a, b - a) for a, b in zip(bounds, bounds[1:]))
        if size % n:
            raise CaffeError(f"layer {spec.name!r} (Slice): {size} does not split into {n}")
        return tuple(torch.split(x, size // n, axis))

    return Lambda(run, f"axis={axis}, points={points}")
