"""Caffe's Pooling (with its own rounding of the output size) and LRN."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.caffe.layer_base import LayerSpec, _pair, builder
from models.caffe.wire import Blob


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
