"""What the optimiser changes (lucent's `param`): a dreamt detail laid over the photo.

The picture is always `compose(photo, detail)`: the photo plus a detail that is zero at the start,
so a zero detail gives the photo back exactly. The detail is written in one of two bases:

- `fourier`: a spectrum with 1/f scaling in a decorrelated colour space (lucid's `fft_image`
  with colour decorrelation). Every step moves shapes of every size about equally, so big,
  smooth shapes grow instead of pixel noise, and colours come out like photos' colours rather
  than a rainbow cast.
- `pixel`: plain pixels, for comparison and for tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from dreamer.transform import as_float
from models.heap import release_heap

PARAMS = ("fourier", "pixel")

# Square root of ImageNet's RGB colour covariance (lucid's constants), columns scaled so the
# largest has unit norm: a step of one in this space moves colours the way photos vary.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()


@dataclass
class Param:
    """Tensors the optimiser owns, and how to turn them into a (1, 3, h, w) detail."""

    tensors: list[torch.Tensor]
    detail: Callable[[], torch.Tensor]
    kind: str
    # (k, 3, h, w): a masked detail's layers as laid over the picture, which detail() sums
    parts: Callable[[], torch.Tensor] | None = None


def fourier(height: int, width: int, device: torch.device | str = "cpu", decay: float = 1.0,
            std: float = 0.01, generator: torch.Generator | None = None, longest: float = 1.0,
            layers: int = 1) -> Param:
    """A detail whose spectrum is scaled by 1/f^decay, in decorrelated colour.

    The spectrum is laid over a canvas an eighth larger on each side and the picture is cut out
    of its middle: an inverse FFT is periodic, and without the margin what grows at the left
    edge would carry on at the right.

    Waves longer than `longest` × the short side are damped (a soft high-pass): they would
    only wash a colour cast over the photo, and no creature is that big."""
    ph, pw = fft_length(height + 2 * _margin(height)), fft_length(width + 2 * _margin(width))
    fy = torch.fft.fftfreq(ph, device=device)[:, None]
    fx = torch.fft.rfftfreq(pw, device=device)[None, :]
    freq = torch.sqrt(fx * fx + fy * fy).clamp_min(1.0 / max(ph, pw))
    scale = freq ** -decay
    if longest > 0:
        f0 = (1.0 / (longest * min(height, width))) ** 2
        scale = scale * (freq * freq / (freq * freq + f0))
    # The inverse FFT's /4 folded in (a power of two: the same floats), and laid out like the
    # spectrum's real view: broadcast over its last axis of 2 the multiply ran 2-3x slower.
    scale = (scale / 4.0)[None, None, :, :, None].expand(1, 1, ph, pw // 2 + 1, 2).contiguous()
    spectrum = torch.randn((layers, 3, ph, pw // 2 + 1, 2), generator=generator) * std
    spectrum = spectrum.to(device).requires_grad_(True)
    colour = COLOUR.to(device)
    top, left = _margin(height), _margin(width)

    def one(part: torch.Tensor) -> torch.Tensor:
        s = torch.view_as_complex(part * scale)
        img = torch.fft.irfftn(s, s=(ph, pw), dim=(-2, -1), norm="ortho")
        img = img[..., top:top + height, left:left + width]
        return torch.einsum("ij,njhw->nihw", colour, img)

    def detail() -> torch.Tensor:
        # A mutant's layers one at a time: the same floats, but each layer's spectrum (17 MB for a
        # megapixel) stays in the cache through its transforms; all at once, two layers' inverse
        # FFT and gradient took 132 ms against 84 (benchmarks/README.md, session 18).
        return one(spectrum) if layers == 1 else torch.cat([one(spectrum[i:i + 1]) for i in range(layers)])

    return Param([spectrum], detail, "fourier")


def pixel(height: int, width: int, device: torch.device | str = "cpu", std: float = 0.01,
          generator: torch.Generator | None = None, layers: int = 1) -> Param:
    """A detail of plain pixels."""
    t = (torch.randn((layers, 3, height, width), generator=generator) * std).to(device).requires_grad_(True)
    return Param([t], lambda: t, "pixel")


def make(kind: str, height: int, width: int, device: torch.device | str = "cpu", decay: float = 1.0,
         std: float = 0.0, seed: int = 0, layers: int = 1) -> Param:
    """The detail of kind `kind` (`layers` of them, stacked, for `masked`). It starts at zero
    (std 0), so a dream of no steps is the photo; Adam's first steps need no noise to break
    symmetry, the random views do that."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "fourier":
        return fourier(height, width, device, decay=decay, std=std, generator=gen, layers=layers)
    if kind == "pixel":
        return pixel(height, width, device, std=std, generator=gen, layers=layers)
    raise ValueError(f"unknown parameterisation {kind!r}; use one of {', '.join(PARAMS)}")


def masked(p: Param, masks: torch.Tensor) -> Param:
    """One detail of k layers (p, made with layers=k), layer i laid over the picture through
    masks[i] (k, h, w; they sum to 1 at every pixel, so the picture gets as much paint as from
    one detail). Each class of a mutant paints its own region with its own layer: a shared
    Fourier detail's coefficients each reach the whole picture, and Adam, which gives every
    coefficient a step of about the same size, let the easier class's gradient set them all."""
    m = masks[:, None]

    def parts() -> torch.Tensor:
        return p.detail() * m

    def detail() -> torch.Tensor:
        return parts().sum(0, keepdim=True)

    return Param(p.tensors, detail, p.kind, parts)


def compose(photo: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """The photo with the detail added, always inside [0, 1].

    A positive detail moves a pixel towards white by tanh(detail) of the headroom it has, a
    negative one towards black: zero gives the photo exactly, the range can never be left, and
    unlike a sigmoid over the photo's logit, black and white pixels can still be dreamt over at
    full speed (a night photo is mostly black)."""
    t = torch.tanh(detail)
    # the headroom picked first, then one product: the same values as choosing between two
    # products, with half the full-size temporaries forward and backward
    return photo + t * torch.where(t >= 0, 1 - photo, photo)


def compose_full(photo: torch.Tensor, detail: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """compose(photo, detail enlarged to the photo's size).clamp(0, 1), the same values, with one
    full-size buffer besides the photo: the enlarged detail becomes the result in place, a band
    of rows at a time (whole, compose's temporaries were 5 more buffers for a 12 MP photo). The
    photo may be float in [0, 1] or uint8 (dreamer.transform.to_bytes), read a band at a time."""
    size = photo.shape[-2:]
    release_heap()  # the optimisation loop's freed activations, before the big allocation
    if detail.shape[-2:] != size:
        out = torch.nn.functional.interpolate(detail, size=size, mode="bicubic", align_corners=False)
    else:
        out = detail.clone()
    out.tanh_()
    rows = max(1, chunk // max(1, int(size[1])))
    for r in range(0, int(size[0]), rows):
        t, p = out[..., r:r + rows, :], as_float(photo[..., r:r + rows, :])
        t.copy_(p + torch.where(t >= 0, (1 - p) * t, p * t)).clamp_(0, 1)
    return out


def _margin(n: int) -> int:
    return max(4, math.ceil(n / 8))


def fft_length(n: int) -> int:
    """The smallest length >= n whose only prime factors are 2, 3, 5 and 7.

    An FFT over a length with a large prime factor is several times slower (a 1000x872 photo's
    canvas was 1090 = 2*5*109 rows: its transforms took 98 ms a step against 44 ms at 1120), so
    the canvas grows to the next fast length; the wider margin changes nothing else. (This is
    scipy.fft.next_fast_len, which is not worth a dependency.)"""
    best = 2 * max(1, n)  # a power of two below this always qualifies
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                p2 = p3
                while p2 < n:
                    p2 *= 2
                best = min(best, p2)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best
