"""Caffe layer types as torch modules, each reproducing Caffe's arithmetic (see `BUILDERS`).

A builder takes the layer's spec (from the prototxt) and its parameter blobs (from the
caffemodel), checks that they agree, and returns a module whose forward takes the layer's bottom
blobs and returns its top blob (a tuple for layers with several tops). Modules never work in
place: the net keeps every blob, and hooks read them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
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


# --- layers with weights ---------------------------------------------------------------------
@builder("Convolution")
def convolution(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("convolution_param")
    if p.get_int("axis", 1) != 1:
        raise spec.fail("only axis 1 (channels) is supported")
    bias = p.get_bool("bias_term", True)
    _need_blobs(spec, blobs, 2 if bias else 1, 2 if bias else 1)
    out = p.get_int("num_output")
    groups = p.get_int("group", 1)
    kh, kw = _pair(p, "kernel_size", "kernel_h", "kernel_w", None, spec)
    pad = _pair(p, "pad", "pad_h", "pad_w", 0, spec)
    stride = _pair(p, "stride", "stride_h", "stride_w", 1, spec)
    dilation = _pair(p, "dilation", "dilation_h", "dilation_w", 1, spec)
    weight = blobs[0]
    if out is None or out <= 0:
        raise spec.fail("num_output is missing")
    per_group, rest = divmod(weight.data.size, out * kh * kw)
    if rest or per_group == 0 or out % groups:
        raise spec.fail(f"weights of shape {weight.shape} do not fit num_output {out}, "
                        f"kernel {kh}x{kw}, group {groups}")
    module = nn.Conv2d(per_group * groups, out, (kh, kw), stride=stride, padding=pad,
                       dilation=dilation, groups=groups, bias=bias)
    with torch.no_grad():
        module.weight.copy_(_tensor(weight, (out, per_group, kh, kw)))
        if bias:
            module.bias.copy_(_tensor(_check_size(spec, blobs[1], out, "bias"), (out,)))
    return module


def _check_size(spec: LayerSpec, blob: Blob, n: int, what: str) -> Blob:
    if blob.data.size != n:
        raise spec.fail(f"{what} has {blob.data.size} values, expected {n}")
    return blob


class InnerProduct(nn.Linear):
    """Caffe's InnerProduct: flattens every axis from `axis` on, then a fully connected layer."""

    def __init__(self, in_features: int, out_features: int, bias: bool, axis: int, name: str):
        super().__init__(in_features, out_features, bias=bias)
        self.axis = axis
        self.layer_name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(self.axis)
        if x.shape[-1] != self.in_features:
            raise CaffeError(
                f"layer {self.layer_name!r} (InnerProduct) expects {self.in_features} inputs per "
                f"picture but got {x.shape[-1]}: this net only takes pictures of its own input "
                "size (leave the tile size at its default)")
        return super().forward(x)


@builder("InnerProduct")
def inner_product(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("inner_product_param")
    bias = p.get_bool("bias_term", True)
    _need_blobs(spec, blobs, 2 if bias else 1, 2 if bias else 1)
    out = p.get_int("num_output")
    if out is None or out <= 0:
        raise spec.fail("num_output is missing")
    k, rest = divmod(blobs[0].data.size, out)
    if rest or k == 0:
        raise spec.fail(f"weights of shape {blobs[0].shape} do not fit num_output {out}")
    module = InnerProduct(k, out, bias, p.get_int("axis", 1), spec.name)
    with torch.no_grad():
        if p.get_bool("transpose", False):
            module.weight.copy_(_tensor(blobs[0], (k, out)).t())
        else:
            module.weight.copy_(_tensor(blobs[0], (out, k)))
        if bias:
            module.bias.copy_(_tensor(_check_size(spec, blobs[1], out, "bias"), (out,)))
    return module


class BatchNorm(nn.Module):
    """Caffe's BatchNorm at test time: (x - mean) / sqrt(var + eps), no affine part (a Scale
    layer follows). Caffe stores mean and variance multiplied by a third blob, the moving
    average's normaliser, so both are divided by it here (0 means 'no statistics yet')."""

    def __init__(self, mean: torch.Tensor, var: torch.Tensor, eps: float):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("var", var)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.mean, self.var, training=False, eps=self.eps)

    def channel_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) per channel, for folding into the convolution before (models.fold)."""
        scale = torch.rsqrt(self.var.double() + self.eps)
        return scale, -self.mean.double() * scale


@builder("BatchNorm")
def batch_norm(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("batch_norm_param")
    if p.get_bool("use_global_stats", True) is False:
        raise spec.fail("use_global_stats: false computes statistics of the batch being run "
                        "(training mode); a deploy net uses the stored ones")
    _need_blobs(spec, blobs, 3, 3)
    n = blobs[0].data.size
    _check_size(spec, blobs[1], n, "variance")
    factor = float(blobs[2].data[0]) if blobs[2].data.size else 1.0
    scale = 0.0 if factor == 0 else 1.0 / factor
    mean = _tensor(blobs[0], (n,)) * scale
    var = _tensor(blobs[1], (n,)) * scale
    return BatchNorm(mean, var, p.get_float("eps", 1e-5))


class ChannelAffine(nn.Module):
    """Caffe's Scale (x * weight [+ bias]) and Bias (x + bias) along the channel axis."""

    def __init__(self, weight: torch.Tensor | None, bias: torch.Tensor | None):
        super().__init__()
        self.weight = None if weight is None else nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.weight is not None:
            x = x * self.weight.view(shape)
        if self.bias is not None:
            x = x + self.bias.view(shape)
        return x

    def channel_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) per channel, for folding into the convolution before (models.fold)."""
        some = self.weight if self.weight is not None else self.bias
        scale = self.weight.detach().double() if self.weight is not None \
            else torch.ones(some.numel(), dtype=torch.float64)
        shift = self.bias.detach().double() if self.bias is not None else torch.zeros_like(scale)
        return scale, shift


def _channel_axis_only(spec: LayerSpec, p: Message) -> None:
    if len(spec.bottoms) != 1:
        raise spec.fail("a second bottom (scale taken from another blob) is not supported")
    if p.get_int("axis", 1) != 1 or p.get_int("num_axes", 1) != 1:
        raise spec.fail("only per-channel parameters (axis 1, num_axes 1) are supported")


@builder("Scale")
def scale(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("scale_param")
    _channel_axis_only(spec, p)
    bias = p.get_bool("bias_term", False)
    _need_blobs(spec, blobs, 2 if bias else 1, 2 if bias else 1)
    n = blobs[0].data.size
    return ChannelAffine(_tensor(blobs[0], (n,)),
                         _tensor(_check_size(spec, blobs[1], n, "bias"), (n,)) if bias else None)


@builder("Bias")
def bias_layer(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("bias_param")
    _channel_axis_only(spec, p)
    _need_blobs(spec, blobs, 1, 1)
    return ChannelAffine(None, _tensor(blobs[0], (blobs[0].data.size,)))


@builder("PReLU")
def prelu(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    _need_blobs(spec, blobs, 1, 1)
    n = blobs[0].data.size
    module = nn.PReLU(n)
    with torch.no_grad():
        module.weight.copy_(_tensor(blobs[0], (n,)))
    return module


# --- pooling and normalisation ---------------------------------------------------------------
class Pooling(nn.Module):
    """Caffe pooling: output size rounds *up* (ceil), and an average divides by the window's
    size clipped to the padded input, counting padding. torch's ceil_mode matches that in the
    common cases; for the rest the input is padded by hand so every window sits where Caffe's
    does (max over -inf padding; average as a window sum over the matching window count)."""

    def __init__(self, method: str, kernel: tuple[int, int], stride: tuple[int, int],
                 pad: tuple[int, int], global_pool: bool, ceil: bool):
        super().__init__()
        self.method, self.kernel, self.stride, self.pad = method, kernel, stride, pad
        self.global_pool, self.ceil = global_pool, ceil

    def extra_repr(self) -> str:
        if self.global_pool:
            return f"{self.method}, global"
        return (f"{self.method}, kernel={self.kernel}, stride={self.stride}, pad={self.pad}, "
                f"{'ceil' if self.ceil else 'floor'}")

    def out_size(self, size: int, axis: int) -> int:
        k, s, p = self.kernel[axis], self.stride[axis], self.pad[axis]
        span = size + 2 * p - k
        out = (-(-span // s) if self.ceil else span // s) + 1
        if p and (out - 1) * s >= size + p:  # Caffe: the last window must start inside
            out -= 1
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.global_pool:
            return x.amax((2, 3), keepdim=True) if self.method == "MAX" \
                else x.mean((2, 3), keepdim=True)
        h, w = x.shape[-2:]
        oh, ow = self.out_size(h, 0), self.out_size(w, 1)
        if self._torch_agrees(h, w, oh, ow):
            if self.method == "MAX":
                return F.max_pool2d(x, self.kernel, self.stride, self.pad, ceil_mode=self.ceil)
            return F.avg_pool2d(x, self.kernel, self.stride, self.pad, ceil_mode=self.ceil,
                                count_include_pad=True)
        return self._by_hand(x, oh, ow)

    def _torch_agrees(self, h: int, w: int, oh: int, ow: int) -> bool:
        for axis, size, out in ((0, h, oh), (1, w, ow)):
            k, s, p = self.kernel[axis], self.stride[axis], self.pad[axis]
            if 2 * p > k:
                return False
            span = size + 2 * p - k
            torch_out = (-(-span // s) if self.ceil else span // s) + 1
            if self.ceil and (torch_out - 1) * s >= size + p:
                torch_out -= 1
            if torch_out != out:
                return False
        return True

    def _by_hand(self, x: torch.Tensor, oh: int, ow: int) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        h, w = x.shape[-2:]
        # Extra cells after the padded input so the last window fits (or none, cropping).
        eh = (oh - 1) * sh + kh - (h + 2 * ph)
        ew = (ow - 1) * sw + kw - (w + 2 * pw)
        if self.method == "MAX":
            padded = F.pad(x, (pw, pw + ew, ph, ph + eh), value=-math.inf)
            return F.max_pool2d(padded, (kh, kw), (sh, sw))
        total = F.avg_pool2d(F.pad(x, (pw, pw + ew, ph, ph + eh)), (kh, kw), (sh, sw),
                             divisor_override=1)
        # Caffe's divisor: the window clipped to the padded input (padding counts, overhang not).
        ones = x.new_ones((1, 1, h + 2 * ph, w + 2 * pw))
        count = F.avg_pool2d(F.pad(ones, (0, ew, 0, eh)), (kh, kw), (sh, sw),
                             divisor_override=1)
        return total / count.clamp_min(1)


@builder("Pooling")
def pooling(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("pooling_param")
    method = p.get_enum("pool", ("MAX", "AVE", "STOCHASTIC"), "MAX")
    if method == "STOCHASTIC":
        raise spec.fail("STOCHASTIC pooling is not supported")
    global_pool = p.get_bool("global_pooling", False)
    kernel = (1, 1) if global_pool else _pair(p, "kernel_size", "kernel_h", "kernel_w", None, spec)
    stride = _pair(p, "stride", "stride_h", "stride_w", 1, spec)
    pad = _pair(p, "pad", "pad_h", "pad_w", 0, spec)
    ceil = p.get_enum("round_mode", ("CEIL", "FLOOR"), "CEIL") == "CEIL"
    if not global_pool and (pad[0] >= kernel[0] or pad[1] >= kernel[1]):
        raise spec.fail(f"pad {pad} must be smaller than the kernel {kernel}")
    return Pooling(method, kernel, stride, pad, global_pool, ceil)


class LRN(nn.Module):
    """Caffe's local response normalisation, computed in float32 (x² overflows half floats).

    ACROSS_CHANNELS: x / (k + alpha/size * sum of x² over `size` neighbouring channels)^beta,
    which is exactly torch's local_response_norm with Caffe's alpha as it is.
    WITHIN_CHANNEL: x / (1 + alpha * mean of x² over a size x size window)^beta.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float, across: bool):
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.across = size, alpha, beta, k, across

    def extra_repr(self) -> str:
        region = "ACROSS_CHANNELS" if self.across else "WITHIN_CHANNEL"
        return f"{region}, size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            xf = x.float()
            if self.across:
                y = F.local_response_norm(xf, self.size, self.alpha, self.beta, self.k)
            else:
                pad = (self.size - 1) // 2
                mean_sq = F.avg_pool2d(xf * xf, self.size, 1, pad, ceil_mode=True,
                                       count_include_pad=True)
                y = xf * (1 + self.alpha * mean_sq).pow(-self.beta)
        return y.to(x.dtype)


@builder("LRN")
def lrn(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("lrn_param")
    size = p.get_int("local_size", 5)
    if size % 2 == 0:
        raise spec.fail(f"local_size must be odd (Caffe requires it), not {size}")
    region = p.get_enum("norm_region", ("ACROSS_CHANNELS", "WITHIN_CHANNEL"), "ACROSS_CHANNELS")
    return LRN(size, p.get_float("alpha", 1.0), p.get_float("beta", 0.75), p.get_float("k", 1.0),
               region == "ACROSS_CHANNELS")


# --- activations -----------------------------------------------------------------------------
@builder("ReLU")
def relu(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    slope = spec.param("relu_param").get_float("negative_slope", 0.0)
    return nn.LeakyReLU(slope) if slope else nn.ReLU()


@builder("Sigmoid")
def sigmoid(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.Sigmoid()


@builder("TanH")
def tanh(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.Tanh()


@builder("ELU")
def elu(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.ELU(spec.param("elu_param").get_float("alpha", 1.0))


class Lambda(nn.Module):
    """A parameter-free layer given as a function (Concat, Eltwise, Flatten, ...)."""

    def __init__(self, fn: Callable[..., torch.Tensor], description: str):
        super().__init__()
        self.fn, self.description = fn, description

    def extra_repr(self) -> str:
        return self.description

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


@builder("AbsVal")
def absval(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return Lambda(torch.abs, "abs")


@builder("Power")
def power(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("power_param")
    pw, sc, sh = p.get_float("power", 1.0), p.get_float("scale", 1.0), p.get_float("shift", 0.0)
    return Lambda(lambda x: (sh + sc * x) ** pw, f"({sh} + {sc}·x)^{pw}")


class Dropout(nn.Identity):
    """Caffe's Dropout at test time passes its input through unchanged."""


@builder("Dropout")
def dropout(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return Dropout()


@builder("Softmax")
def softmax(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.Softmax(dim=spec.param("softmax_param").get_int("axis", 1))


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
