#!/usr/bin/env python
"""Dream quality, measured by an independent judge (issue 5). A script that prints a table, not a test.

For photos × single classes and two-class hybrids it dreams with a recipe (the default preset,
an original-style port and a "no tiles at all" reference) and reports per picture and on average:

- visible class: EfficientNet-Lite2 (never the net that dreamt) judges random 224² crops of the
  dream after a transform that destroys pixel-level adversarial detail (halve the size, slight
  blur, JPEG q60); the share of crops with each target class in the judge's top 5, at full, ¾
  and ½ size, beside the same for the untouched photo;
- fidelity: SSIM of the heavily blurred greyscale photo and dream (the photo's structure stays);
- seams: how periodic the added detail (dream − photo) is at tile-sized periods;
- seconds per picture.

    .venv/bin/python benchmarks/quality.py --crops 20  # the README's table (20–40 min on 2 busy cores)
    .venv/bin/python benchmarks/quality.py --quick     # smoke run: 2 photos, 3 targets, about 2 min
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dreamer.presets import preset  # noqa: E402
from dreamer.recipe import Recipe  # noqa: E402
from dreamer.render import dream, load_net, resolve_classes  # noqa: E402
from dreamer.transform import gaussian_blur, to_image, to_tensor  # noqa: E402

JUDGE = "efficientnet-lite2"
DREAMER = "efficientnet-lite0"
SCALES = (1.0, 0.75, 0.5)
CROP = 224

# (photo, targets): every photo gets two single classes and one hybrid, so the set covers
# animals, objects and plants, and hybrids a person would want to see.
PLAN: list[tuple[str, list[dict[str, float]]]] = [
    ("rocket", [{"goldfish": 1}, {"jellyfish": 1}, {"goldfish": 1, "stingray": 1}]),
    ("chelsea", [{"monarch": 1}, {"goldfish": 1}, {"peacock": 1, "jellyfish": 1}]),
    ("coffee", [{"jellyfish": 1}, {"peacock": 1}, {"goldfish": 1, "daisy": 1}]),
    ("astronaut", [{"peacock": 1}, {"monarch": 1}, {"goldfish": 1, "stingray": 1}]),
    ("hubble", [{"daisy": 1}, {"goldfish": 1}, {"jellyfish": 1, "monarch": 1}]),
]
QUICK_PLAN = [
    ("rocket", [{"goldfish": 1}, {"goldfish": 1, "stingray": 1}]),
    ("astronaut", [{"peacock": 1}]),
]


# --- the judge ---------------------------------------------------------------------------
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


# --- the original tool, ported: one tile at a time on a fixed spiral ------------------------
def spiral_tiles(height: int, width: int, tile: int) -> list[tuple[int, int]]:
    """The original's tile pattern: rings of an r×r grid of abutting tiles centred on the
    picture, r = 1, 2, 3, … while a ring still touches it (odd and even rings sit half a tile
    apart, so rings overlap). (y, x) of each tile's top left; tiles may hang off the picture."""
    if height == tile and width == tile:
        return [(0, 0)]
    out, r = [], 1
    while True:
        oy, ox = (height - r * tile) // 2, (width - r * tile) // 2
        ring = [(oy, ox + i * tile) for i in range(r)]
        ring += [(oy + j * tile, ox + (r - 1) * tile) for j in range(1, r)]
        ring += [(oy + (r - 1) * tile, ox + i * tile) for i in range(r - 2, -1, -1)]
        ring += [(oy + j * tile, ox) for j in range(r - 2, 0, -1)]
        ring = [(y, x) for y, x in ring if -tile < y < height and -tile < x < width]
        if not ring:
            return out
        out += ring
        r += 1


def original_style(image: Image.Image, classes: dict[int, float], net, seed: int, iterations: int = 10,
                   sigma: tuple[float, float] = (1.2, 0.2), step: tuple[float, float] = (5.0, 1.5),
                   jitter: int = 32) -> Image.Image:
    """The original dream.py's lucid mode: `iterations` passes over a fixed spiral of tiles,
    each tile dreamt on its own (batch of one) with the original's step: roll by a random jitter,
    ascend the weighted class logits by step/mean|g|·g (0..255 pixel units), unroll, clip, blur
    the whole tile; tiles hanging off the picture are padded with the tile's mean colour, and the
    dreamt tile is pasted back hard. No octaves. σ 1.2→0.2 and step 5→1.5 are the original's
    default deepdraw schedule, spread over the passes."""
    rng = np.random.default_rng(seed)
    x = to_tensor(image) * 255.0
    _, _, height, width = x.shape
    tile = net.input_size
    ids = torch.tensor(list(classes))
    weights = torch.tensor(list(classes.values()), dtype=torch.float32)
    tiles = spiral_tiles(height, width, tile)
    for i in range(iterations):
        s = sigma[0] + (sigma[1] - sigma[0]) * i / iterations  # as the original: i / iter_n
        lr = step[0] + (step[1] - step[0]) * i / iterations
        for ty, tx in tiles:
            y0, y1, x0, x1 = max(ty, 0), min(ty + tile, height), max(tx, 0), min(tx + tile, width)
            part = x[..., y0:y1, x0:x1]
            t = part.mean((2, 3), keepdim=True).expand(1, 3, tile, tile).clone()
            t[..., y0 - ty:y1 - ty, x0 - tx:x1 - tx] = part
            ox, oy = (int(v) for v in rng.integers(-jitter, jitter + 1, 2))
            t = torch.roll(t, (oy, ox), (2, 3)).requires_grad_(True)
            logits = net.module(net.normalise(t / 255.0))
            (g,) = torch.autograd.grad((logits[:, ids] @ weights).sum(), t)
            t = t.detach() + lr / (g.abs().mean() + 1e-12) * g
            t = torch.roll(t, (-oy, -ox), (2, 3)).clamp(0, 255)
            t = gaussian_blur(t, s)
            x[..., y0:y1, x0:x1] = t[..., y0 - ty:y1 - ty, x0 - tx:x1 - tx]
    return to_image(x / 255.0)


# --- the run -------------------------------------------------------------------------------
@dataclass
class Row:
    recipe: str
    photo: str
    target: str
    hybrid: bool
    seconds: float
    fidelity: float
    seam: float
    dream: dict[float, dict[int, float]]
    photo_base: dict[float, dict[int, float]]
    class_ids: list[int] = field(default_factory=list)


def target_name(target: dict[str, float]) -> str:
    return " + ".join(target)


def recipes(net) -> dict[str, Callable[[Image.Image, Recipe], Image.Image]]:
    """Name -> how to dream one picture with it (same classes and seed for all)."""

    def ours(image: Image.Image, r: Recipe) -> Image.Image:
        return dream(image, r, net=net)

    def no_tiles(image: Image.Image, r: Recipe) -> Image.Image:
        # One tile as large as the (padded) picture: the same dream with nothing to seam.
        return dream(image, r.replace(tile_size=2048), net=net)

    def original(image: Image.Image, r: Recipe) -> Image.Image:
        return original_style(image, resolve_classes(r, net), net, seed=r.seed or 0)

    return {"default": ours, "original-style": original, "no tiles": no_tiles}


def run(plan, names: list[str], crops: int, seed: int, out: Path | None, base: Recipe,
        log=print) -> list[Row]:
    torch.manual_seed(seed)
    net = load_net(DREAMER, None, "cpu")
    judge = load_net(JUDGE, None, "cpu")
    makers = recipes(net)
    rows: list[Row] = []
    for photo_name, targets in plan:
        photo = Image.open(ROOT / "photos" / f"{photo_name}.jpg").convert("RGB")
        for target in targets:
            r = base.replace(classes=dict(target), seed=seed)
            ids = list(resolve_classes(r, net))
            photo_base = visible(judge, photo, ids, crops, seed)
            for name in names:
                t0 = time.perf_counter()
                img = makers[name](photo, r)
                seconds = time.perf_counter() - t0
                row = Row(name, photo_name, target_name(target), len(target) > 1, seconds,
                          fidelity(photo, img), seam_score(photo, img),
                          visible(judge, img, ids, crops, seed), photo_base, ids)
                rows.append(row)
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    slug = f"{photo_name}_{'+'.join(target).replace(' ', '_')}_{name.replace(' ', '_')}"
                    img.save(out / f"{slug}.jpg", quality=92)
                log(describe(row))
    return rows


def _worst(scores: dict[int, float]) -> float:
    return min(scores.values())  # a hybrid counts only as far as its weaker class shows


def describe(row: Row) -> str:
    vis = " ".join(f"{s:g}:{_worst(row.dream[s]):4.0%}" for s in SCALES)
    base = max(_worst(row.photo_base[s]) for s in SCALES)
    return (f"{row.recipe:15s} {row.photo:9s} {row.target:22s} visible {vis} (photo {base:.0%})  "
            f"fidelity {row.fidelity:.2f}  seam {row.seam:.2f}  {row.seconds:5.1f}s")


def summary(rows: list[Row], names: list[str]) -> str:
    """Markdown: one line per recipe, averaged over pictures, plus ratios to the original style."""
    def avg(rs, fn):
        vals = [fn(r) for r in rs]
        return float(np.mean(vals)) if vals else float("nan")

    stats = {}
    for name in names:
        rs = [r for r in rows if r.recipe == name]
        single = [r for r in rs if not r.hybrid]
        hybrid = [r for r in rs if r.hybrid]
        stats[name] = {
            **{f"single {s:g}": avg(single, lambda r, s=s: _worst(r.dream[s])) for s in SCALES},
            **{f"hybrid {s:g}": avg(hybrid, lambda r, s=s: _worst(r.dream[s])) for s in SCALES},
            "photo": avg(rs, lambda r: max(max(r.photo_base[s].values()) for s in SCALES)),
            "fidelity": avg(rs, lambda r: r.fidelity),
            "seam": avg(rs, lambda r: r.seam),
            "seconds": avg(rs, lambda r: r.seconds),
        }
    cols = list(next(iter(stats.values())))
    head = ("| recipe | " + " | ".join(
        ["single ×1", "single ×¾", "single ×½", "hybrid ×1", "hybrid ×¾", "hybrid ×½",
         "photo", "fidelity", "seam", "s/picture"]) + " |")
    lines = [head, "|" + " --- |" * (len(cols) + 1)]
    for name, st in stats.items():
        cells = [f"{st[c]:.0%}" if c.startswith(("single", "hybrid", "photo")) else
                 (f"{st[c]:.1f}" if c == "seconds" else f"{st[c]:.2f}") for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ref = stats.get("original-style")
    if ref:
        for name, st in stats.items():
            if name == "original-style":
                continue
            cells = [("—" if not ref[c] else f"{st[c] / ref[c]:.2f}×") for c in cols]
            lines.append(f"| {name} ÷ original | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(rows: list[Row]) -> str:
    """The issue's goals for the default recipe, each with its figure."""
    d = [r for r in rows if r.recipe == "default"]
    if not d:
        return ""
    single = {s: [_worst(r.dream[s]) for r in d if not r.hybrid] for s in SCALES}
    hybrid = {s: [_worst(r.dream[s]) for r in d if r.hybrid] for s in SCALES}
    seam = {n: np.mean([r.seam for r in rows if r.recipe == n] or [np.nan]) for n in
            ("default", "no tiles", "original-style")}
    lines = ["goals for the default recipe (mean over pictures, best viewing size):"]
    if any(single.values()):
        best = max(SCALES, key=lambda s: np.mean(single[s]))
        lines.append(f"  single class top-5 ≥ 50 %: {np.mean(single[best]):.0%} at ×{best:g}"
                     f" (pictures at ≥ 50 %: {sum(v >= .5 for v in single[best])}/{len(single[best])})")
    if any(hybrid.values()):
        best = max(SCALES, key=lambda s: np.mean(hybrid[s]))
        lines.append(f"  each hybrid class ≥ 25 %:  {np.mean(hybrid[best]):.0%} at ×{best:g}"
                     f" (pictures at ≥ 25 %: {sum(v >= .25 for v in hybrid[best])}/{len(hybrid[best])})")
    lines.append(f"  fidelity ≥ 0.5:            {np.mean([r.fidelity for r in d]):.2f}")
    lines.append(f"  seam ≤ no tiles ({seam['no tiles']:.2f}) or ≤ original/3 ({seam['original-style'] / 3:.2f}):"
                 f" {seam['default']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 2 photos, 3 pictures, few crops")
    p.add_argument("--preset", default="default", help="preset to judge as 'default' (subtle, default, wild)")
    p.add_argument("--recipes", default="default,original-style,no tiles",
                   help="comma-separated: default, original-style, no tiles")
    p.add_argument("--crops", type=int, help="random crops per viewing size (default 24, quick 8)")
    p.add_argument("--photos", help="comma-separated subset of photos")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "quality", help="where the dreams are saved")
    args = p.parse_args(argv)
    torch.set_grad_enabled(True)
    plan = QUICK_PLAN if args.quick else PLAN
    if args.photos:
        wanted = args.photos.split(",")
        plan = [(ph, t) for ph, t in PLAN if ph in wanted]
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    crops = args.crops or (8 if args.quick else 24)
    base = preset(args.preset)
    t0 = time.perf_counter()
    rows = run(plan, names, crops, args.seed, args.out, base)
    print()
    print(f"judge {JUDGE} on {crops} random {CROP}² crops per size after half-size + blur + JPEG q60;"
          f" dreamer {DREAMER}; preset {args.preset!r}; seed {args.seed}; {time.perf_counter() - t0:.0f}s in all")
    print("visible = share of crops with the target in the judge's top 5 (a hybrid: its weaker class);"
          " photo = the same for the untouched photo")
    print()
    print(summary(rows, names))
    print()
    print(goals(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
