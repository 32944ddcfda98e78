"""Caffe layers with weights from the caffemodel: Convolution, InnerProduct, BatchNorm, Scale,
Bias, PReLU."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.caffe.layer_base import CaffeError, LayerSpec, _need_blobs, _pair, _tensor, builder
from models.caffe.prototxt import Message
from models.caffe.wire import Blob


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
