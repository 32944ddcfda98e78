"""The independent judge of dream quality (used by benchmarks/quality.py and docs/contact_sheet.py).

EfficientNet-Lite2, never the net that dreamt, looks at random 224² crops of a picture:
- visible: after a transform that destroys pixel-level adversarial detail (half size, slight
  blur, JPEG q60), viewed at full, ¾ and ½ size: the share of crops with the class in its top 5;
- plain: the same on crops of the untouched dream at full size;
- fidelity: SSIM of the heavily blurred greyscale photo and dream;
- seam: how periodic the added detail is at tile-sized periods (≈ 1.5–2.5 is noise level);
- border: the dreamt amount in the outer 8 % strip over that in the centre.
"""
from __future__ import annotations

import io
import random

import numpy as np
import torch
from PIL import Image, ImageFilter

from dreamer.transform import to_tensor

JUDGE = "efficientnet-lite2"
SCALES = (1.0, 0.75, 0.5)
CROP = 224


def destroy(image: Image.Image) -> Image.Image:
    """Half size, slight blur, JPEG q60: what survives is shape and colour, not the pixel-level
    adversarial detail that fools any net of the dreamer's family."""
    w, h = image.size
    half = image.resize((max(1, w // 2), max(1, h // 2)), Image.LANCZOS)
    half = half.filter(ImageFilter.GaussianBlur(0.7))
    buf = io.BytesIO()
    half.save(buf, "JPEG", quality=60)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def view(destroyed: Image.Image, full_size: tuple[int, int], scale: float) -> Image.Image:
    """The destroyed picture shown at `scale` of the photo's own size (½ is the destroyed one)."""
    size = (max(1, round(full_size[0] * scale)), max(1, round(full_size[1] * scale)))
    return destroyed if destroyed.size == size else destroyed.resize(size, Image.BICUBIC)


def crop_boxes(size: tuple[int, int], n: int, seed: int) -> list[tuple[int, int, int, int]]:
    """n random square crops of side 224 (or the picture's short side if smaller)."""
    w, h = size
    side = min(CROP, w, h)
    rng = random.Random(seed)
    return [(x, y, x + side, y + side) for x, y in
            ((rng.randint(0, w - side), rng.randint(0, h - side)) for _ in range(n))]


@torch.no_grad()
def judge_top5(judge, crops: list[Image.Image]) -> torch.Tensor:
    """(n, 5) top-5 class ids for each crop, fed to the judge at its own input size."""
    size = judge.input_size
    rows = []
    for i in range(0, len(crops), 8):
        batch = torch.cat([to_tensor(c.resize((size, size), Image.BICUBIC)) for c in crops[i:i + 8]])
        rows.append(judge.module(judge.normalise(batch)).topk(5, dim=1).indices)
    return torch.cat(rows)


def visible(judge, image: Image.Image, class_ids: list[int], n: int, seed: int) -> dict[float, dict[int, float]]:
    """Share of transformed crops with each class in the judge's top 5, per viewing scale."""
    destroyed = destroy(image)
    out = {}
    for k, scale in enumerate(SCALES):
        v = view(destroyed, image.size, scale)
        crops = [v.crop(b) for b in crop_boxes(v.size, n, seed + k)]
        top = judge_top5(judge, crops)
        out[scale] = {c: float((top == c).any(1).float().mean()) for c in class_ids}
    return out


# --- fidelity and seams --------------------------------------------------------------------
def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def fidelity(photo: Image.Image, dreamt: Image.Image) -> float:
    """SSIM of the heavily blurred greyscale photo and dream: 1 = the photo's structure intact.
    Both are brought to a 256-pixel short side first so the blur means the same on any photo."""
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import structural_similarity

    s = 256 / min(photo.size)
    size = (max(8, round(photo.width * s)), max(8, round(photo.height * s)))
    a = gaussian_filter(_grey(photo.resize(size, Image.LANCZOS)), 3.0)
    b = gaussian_filter(_grey(dreamt.resize(size, Image.LANCZOS)), 3.0)
    return float(structural_similarity(a, b, data_range=1.0))


def seam_score(photo: Image.Image, dreamt: Image.Image, tile: int = CROP) -> float:
    """How periodic the added detail is at tile-sized periods (1 ≈ not at all; a fixed tile grid
    scores high): the gradient energy of (dream − photo) averaged down columns and along rows,
    long trends removed, and in its amplitude spectrum the peak over the median in the band of
    periods tile/2 … 1.5·tile (zero-padded FFT for a fine period axis). Mean of both axes."""
    from scipy.ndimage import gaussian_filter1d

    d = _grey(dreamt) - _grey(photo)
    gy, gx = np.diff(d, axis=0)[:, :-1], np.diff(d, axis=1)[:-1, :]
    energy = gx ** 2 + gy ** 2
    scores = []
    for profile in (energy.mean(0), energy.mean(1)):  # along columns (x), along rows (y)
        n = len(profile)
        if n < tile:
            continue
        p = profile - gaussian_filter1d(profile, tile / 2, mode="reflect")
        p = p * np.hanning(n)
        nfft = 8 * n
        spec = np.abs(np.fft.rfft(p, nfft))
        freq = np.fft.rfftfreq(nfft)
        with np.errstate(divide="ignore"):
            period = np.where(freq > 0, 1 / freq, np.inf)
        band = (period >= tile / 2) & (period <= 1.5 * tile)
        if band.sum() >= 3:
            scores.append(float(spec[band].max() / (np.median(spec[band]) + 1e-12)))
    return float(np.mean(scores)) if scores else float("nan")


def plain(judge, image: Image.Image, class_ids: list[int], n: int, seed: int) -> dict[int, float]:
    """Share of crops of the untouched picture with each class in the judge's top 5."""
    top = judge_top5(judge, [image.crop(b) for b in crop_boxes(image.size, n, seed + 7)])
    return {c: float((top == c).any(1).float().mean()) for c in class_ids}


def border_ratio(photo: Image.Image, dreamt: Image.Image, strip: float = 0.08) -> float:
    """Mean |dream − photo| in the outer strip (a fraction of each side) over that in the centre
    (the middle half of each side): 1 = the edges are dreamt as much as the middle."""
    d = np.abs(np.asarray(dreamt, np.float64) - np.asarray(photo.resize(dreamt.size), np.float64)).mean(2)
    h, w = d.shape
    sy, sx = max(1, round(h * strip)), max(1, round(w * strip))
    mask = np.zeros_like(d, bool)
    mask[:sy], mask[-sy:], mask[:, :sx], mask[:, -sx:] = True, True, True, True
    centre = d[h // 4:h - h // 4, w // 4:w - w // 4]
    return float(d[mask].mean() / max(centre.mean(), 1e-9))
