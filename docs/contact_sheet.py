#!/usr/bin/env python
"""Render the contact sheet: photos × mutants (two and three classes) × recipes, with captions.

    .venv/bin/python docs/contact_sheet.py            # writes docs/contact_sheet.jpg and docs/before_after.jpg
    .venv/bin/python docs/contact_sheet.py --quick    # two rows, for a smoke test

Each row is one photo and one mutant; the columns are the photo, the mutant as the default
dreamt it until session 9 (`mix`) and as it dreams it now (`regions`, routed since session 11, growing since session 12, 144 steps for a pair since session 13, following the dream since session 15, by Lite0 and Lite1 in turns since session 17, a triple in a pair's 144 steps since session 20,
the creatures running into each other, hybrid_floor 0.3, since session 24). Dreams are cached in out/contact/ (keyed by
photo, target, preset, seed and the recipe's hash) so a rerun after a caption change costs nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dreamer.presets import preset  # noqa: E402
from dreamer.render import dream, dream_net  # noqa: E402

ROWS: list[tuple[str, dict[str, float]]] = [
    ("astronaut", {"ostrich": 1, "sea slug": 1}),  # the original's ostrich/nudibranch mutant
    ("chelsea", {"peacock": 1, "jellyfish": 1}),
    ("coffee", {"monarch": 1, "daisy": 1}),
    ("rocket", {"goldfish": 1, "stingray": 1}),
    ("hopper", {"sea slug": 1, "monarch": 1, "ostrich": 1}),
]
# Columns: a name -> (preset, settings over it). Mutants as the default dreamt them until
# session 9 ("mix": both classes over the whole picture, Lite1 beside Lite0) against the default
# now ("regions": each class its own places of the photo).
COLUMNS: dict[str, tuple[str, dict[str, object]]] = {
    "mix (before)": ("default", {"hybrid": "mix", "hybrid_partner": "efficientnet-lite1", "hybrid_steps": 0.5,
                                 "hybrid_grow_last": False, "hybrid_follow": False,
                                 "hybrid_regions_partner": False, "hybrid_steps_classes": 99,
                                 "hybrid_floor": 0.1}),
    "regions (the default)": ("default", {}),
}
# Recipe keys added since cells were cached, at the value that dreams as recipes without them did:
# left out of the key, so those cells are reused.
SINCE_CACHED = {"hybrid_grow_last": False, "hybrid_follow": False, "hybrid_regions_partner": False,
                "hybrid_steps_classes": 99, "hybrid_floor": 0.1}
BEFORE_AFTER = ("coffee", {"monarch": 1, "daisy": 1})  # the pair at the top of the README
QUICK_ROWS = ROWS[:2]
SIDE = 512  # dreams are made at this width (the photos are 451–1000 px wide)
THUMB = 300  # width of a cell on the sheet
CAPTION = 22
MAX_BYTES = 2_000_000


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one size only
        return ImageFont.load_default()


def source(name: str) -> Image.Image:
    from benchmarks.quality import load_photo

    img = load_photo(name)
    return img.resize((SIDE, round(img.height * SIDE / img.width)), Image.LANCZOS)


def cached_dream(photo: str, target: dict[str, float], column: str, seed: int, cache: Path) -> Image.Image:
    preset_name, settings = COLUMNS[column]
    recipe = preset(preset_name, classes=dict(target), seed=seed, **settings)
    net = dream_net(recipe, "cpu")  # as the product picks it: a hybrid dreams with its partner
    # Keyed by what makes the picture (the recipe and the net that dreams it), so a changed
    # preset, default or net is dreamt again, never reused.
    made_by = {k: v for k, v in recipe.to_dict().items() if k != "hybrid_partner" and SINCE_CACHED.get(k, ...) != v}
    if net.name != recipe.model:
        made_by["net"] = net.name
    key = hashlib.sha256(json.dumps(made_by, sort_keys=True).encode()).hexdigest()[:10]
    slug = f"{photo}_{'+'.join(target).replace(' ', '_')}_{column.split()[0]}_s{seed}_{key}.png"
    path = cache / slug
    if path.exists():
        return Image.open(path).convert("RGB")
    t = time.perf_counter()
    out = dream(source(photo), recipe, net=net)
    print(f"{slug}: {time.perf_counter() - t:.0f}s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    out.save(path)
    return out


def sheet(rows: list[tuple[str, dict[str, float], list[Image.Image]]], columns: list[str],
          thumb: int = THUMB) -> Image.Image:
    f_head, f_cap = font(20), font(15)
    THUMB = thumb  # noqa: N806 - the cell width of this sheet
    heights = [round(imgs[0].height * THUMB / imgs[0].width) for _, _, imgs in rows]
    pad = 6
    width = pad + len(columns) * (THUMB + pad)
    height = CAPTION + pad + sum(h + CAPTION + pad for h in heights)
    page = Image.new("RGB", (width, height), (24, 24, 28))
    draw = ImageDraw.Draw(page)
    for c, name in enumerate(columns):
        draw.text((pad + c * (THUMB + pad) + 4, 2), name, fill=(235, 235, 235), font=f_head)
    y = CAPTION + pad
    for (photo, target, imgs), h in zip(rows, heights):
        for c, img in enumerate(imgs):
            x = pad + c * (THUMB + pad)
            page.paste(img.resize((THUMB, h), Image.LANCZOS), (x, y))
            text = photo if c == 0 else " + ".join(target)
            draw.text((x + 4, y + h + 3), text, fill=(200, 200, 200), font=f_cap)
        y += h + CAPTION + pad
    return page


def save_small(img: Image.Image, path: Path) -> None:
    """JPEG under MAX_BYTES: lower the quality until it fits."""
    for q in (88, 82, 76, 70, 64, 58):
        img.save(path, "JPEG", quality=q, optimize=True, progressive=True)
        if path.stat().st_size <= MAX_BYTES:
            return
    raise SystemExit(f"{path}: still over {MAX_BYTES} bytes at quality 58")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Render docs/contact_sheet.jpg (photos × classes × presets).")
    p.add_argument("--quick", action="store_true", help="two rows only")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cache", type=Path, default=ROOT / "out" / "contact")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    presets = list(COLUMNS)
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    for photo, target in (QUICK_ROWS if args.quick else ROWS):
        imgs = [source(photo)] + [cached_dream(photo, target, name, args.seed, args.cache) for name in presets]
        rows.append((photo, target, imgs))
        if (photo, target) == BEFORE_AFTER:
            pair = sheet([(photo, target, [imgs[0], imgs[-1]])], ["photo", "default dream"],
                         thumb=SIDE)
            save_small(pair, args.out / "before_after.jpg")
    path = args.out / "contact_sheet.jpg"
    save_small(sheet(rows, ["photo"] + presets), path)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
