#!/usr/bin/env python
"""Dream quality, measured by an independent judge (issue 11). A script that prints a table, not a test.

12 photos of different kinds × 11 classes: two single classes and one two-class hybrid per photo.
A third of the rows is held out while tuning: every row on the four held-out photos, and every
row naming a held-out class. `--rows tune` runs only the others; the table reports both halves
separately. Recipes side by side: the `default` preset, the `classic` preset (the earlier tiles
engine) and the stand-alone `reference` recipe from ../shared/reference (when it is there).
The judge and its figures are described in benchmarks/judge.py.

    .venv/bin/python benchmarks/quality.py                       # the README's table (~45 min on 2 cores)
    .venv/bin/python benchmarks/quality.py --rows tune --recipes default   # while tuning
    .venv/bin/python benchmarks/quality.py --quick               # smoke run, about 2 min
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import judge as J  # noqa: E402
from dreamer.presets import preset  # noqa: E402
from dreamer.recipe import Recipe  # noqa: E402
from dreamer.plan import resolve_classes  # noqa: E402
from dreamer.plan import partner_name  # noqa: E402
from dreamer.render import dream, dream_net, load_net  # noqa: E402

DREAMER = "efficientnet-lite0"
REFERENCE = ROOT.parent / "shared" / "reference" / "lucent_style_anchor.py"
PHOTO_DIRS = (ROOT / "photos", ROOT / "benchmarks" / "photos")

# photo (kind) -> its targets. Photos in HELD_PHOTOS and classes in HELD_CLASSES are held out.
PLAN: list[tuple[str, list[list[str]]]] = [
    ("rocket", [["goldfish"], ["traffic light"], ["goldfish", "stingray"]]),         # city at dusk
    ("chelsea", [["monarch"], ["flamingo"], ["peacock", "jellyfish"]]),              # animal
    ("coffee", [["jellyfish"], ["peacock"], ["monarch", "daisy"]]),                  # close-up
    ("astronaut", [["peacock"], ["tree frog"], ["ostrich", "sea slug"]]),            # portrait
    ("china", [["ostrich"], ["goldfish"], ["jellyfish", "traffic light"]]),          # landscape
    ("motorcycle", [["daisy"], ["stingray"], ["goldfish", "peacock"]]),              # interior
    ("brick", [["monarch"], ["jellyfish"], ["flamingo", "goldfish"]]),               # texture
    ("hubble", [["jellyfish"], ["goldfish"], ["stingray", "monarch"]]),              # night sky
    ("flower", [["goldfish"], ["ostrich"], ["peacock", "jellyfish"]]),               # close-up
    ("hopper", [["monarch"], ["flamingo"], ["goldfish", "stingray"]]),               # portrait
    ("camera", [["traffic light"], ["tree frog"], ["ostrich", "sea slug"]]),         # grey, outdoors
    ("moon", [["jellyfish"], ["daisy"], ["monarch", "goldfish"]]),                   # night, grey
]
HELD_PHOTOS = frozenset({"flower", "hopper", "camera", "moon"})
HELD_CLASSES = frozenset({"flamingo", "tree frog", "sea slug"})
QUICK_PLAN = [("rocket", [["goldfish"], ["goldfish", "stingray"]]), ("flower", [["ostrich"]])]


def held_out(photo: str, target: list[str]) -> bool:
    return photo in HELD_PHOTOS or bool(HELD_CLASSES & set(target))


# Read from scikit-image's installed sample data rather than copied (see benchmarks/photos/LICENSES.md).
SKIMAGE_PHOTOS = {"brick": "brick.png", "camera": "camera.png", "moon": "moon.png", "motorcycle": "motorcycle_left.png"}


# Photos read from where a package installed them (name -> path), e.g. Debian's wallpapers.
PHOTO_FILES: dict[str, Path] = {}


# A package's photo is brought to at most this many pixels on its long side (quality_big.py: more).
LONG_SIDE = 640


def load_photo(name: str) -> Image.Image:
    """A benchmark photo, at most LONG_SIDE pixels on its long side."""
    if name in SKIMAGE_PHOTOS or name in PHOTO_FILES:
        import skimage

        path = PHOTO_FILES.get(name) or Path(skimage.__file__).parent / "data" / SKIMAGE_PHOTOS[name]
        if not path.exists():
            raise SystemExit(f"no photo {path} (see benchmarks/photos/LICENSES.md for the package that has it)")
        img = Image.open(path).convert("RGB")
        s = min(1.0, LONG_SIDE / max(img.size))
        return img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS)
    for d in PHOTO_DIRS:
        if (d / f"{name}.jpg").exists():
            return Image.open(d / f"{name}.jpg").convert("RGB")
    raise SystemExit(f"no photo {name}.jpg in {', '.join(map(str, PHOTO_DIRS))}")


# --- the recipes -----------------------------------------------------------------------------
KINDS: set[str] = set()  # --kinds: only single classes, or only hybrids
OVERRIDES: dict[str, object] = {}  # --set key=value, applied to the default preset while tuning
# Recipes named for a comparison: the default preset with these settings.
VARIANTS: dict[str, dict[str, object]] = {
    # how the default dreamt mutants until session 9: both classes over the whole picture,
    # the lagging one pushed hardest, with Lite1 beside Lite0
    "mix": {"hybrid": "mix", "hybrid_partner": "efficientnet-lite1", "hybrid_steps": 0.5, "hybrid_steps_classes": 99},
    # session 11's candidates for mutants: each class against its look-alikes; Lite1 in turns
    "rivals": {"rivals": 0.5},
    "turns": {"hybrid_partner": "efficientnet-lite1", "hybrid_partner_turns": True},
    "rivals_turns": {"rivals": 0.5, "hybrid_partner": "efficientnet-lite1", "hybrid_partner_turns": True},
    "routed": {"hybrid_routed": True},
    "shared": {"hybrid_routed": False},  # regions as dreamt before session 11
    # session 12's candidates: a lagging class's area grown at each check (2.0 is the default now)
    "grow15": {"hybrid_grow": 1.5},
    "grow2": {"hybrid_grow": 2.0},
    "stay": {"hybrid_grow": 1.0},  # regions that stay as placed, as until session 12
    "last": {"hybrid_grow_last": True},  # one more check and growth after the last step
    "lite0": {"hybrid_regions_partner": False},  # regions dreamt by Lite0 alone, as until session 17
}


def make(name: str, photo: Image.Image, r: Recipe, net, ids: list[int]) -> Image.Image:
    if name == "reference":
        return reference(photo, ids)
    extra = OVERRIDES if name == "default" else VARIANTS.get(name, {})
    recipe = preset("default" if name in VARIANTS else name, classes=r.classes, seed=r.seed, **extra)
    net = dream_net(recipe, "cpu")  # the product's choice: a hybrid dreams with its partner too
    if J.JUDGE in net.name:
        raise SystemExit(f"{net.name} includes the judge {J.JUDGE}: it must never dream here")
    return dream(photo, recipe, net=net)


def reference(photo: Image.Image, ids: list[int]) -> Image.Image:
    """The stand-alone reference recipe, run as its README says (its own defaults otherwise)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.png", Path(tmp) / "out.png"
        photo.save(src)
        subprocess.run([sys.executable, str(REFERENCE), str(src), str(out), ",".join(map(str, ids)),
                        "--steps", "100"], check=True, capture_output=True)
        return Image.open(out).convert("RGB")


# --- the run -----------------------------------------------------------------------------
@dataclass
class Row:
    recipe: str
    photo: str
    target: str
    hybrid: bool
    held: bool
    seconds: float
    visible: dict[float, float]  # weakest class's share per viewing scale
    plain: float  # weakest class's share in plain crops
    fidelity: float
    border: float
    seam: float

    @property
    def visible_mean(self) -> float:
        return float(np.mean(list(self.visible.values())))


def run(plan, names: list[str], crops: int, seed: int, out: Path | None, rows_wanted: str) -> list[Row]:
    torch.manual_seed(seed)
    net = load_net(DREAMER, None, "cpu")
    judge = load_net(J.JUDGE, None, "cpu")
    rows: list[Row] = []
    for photo_name, targets in plan:
        photo = load_photo(photo_name)
        for target in targets:
            held = held_out(photo_name, target)
            if (rows_wanted == "tune" and held) or (rows_wanted == "held" and not held):
                continue
            if KINDS and ("hybrid" if len(target) > 1 else "single") not in KINDS:
                continue
            r = Recipe(classes={c: 1.0 for c in target}, seed=seed)
            ids = list(resolve_classes(r, net))
            for name in names:
                t0 = time.perf_counter()
                img = make(name, photo, r, net, ids)
                seconds = time.perf_counter() - t0
                vis = J.visible(judge, img, ids, crops, seed)
                pl = J.plain(judge, img, ids, crops, seed)
                row = Row(name, photo_name, " + ".join(target), len(target) > 1, held, seconds,
                          {s: min(v.values()) for s, v in vis.items()}, min(pl.values()),
                          J.fidelity(photo, img), J.border_ratio(photo, img), J.seam_score(photo, img))
                rows.append(row)
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    slug = f"{photo_name}_{'+'.join(target).replace(' ', '_')}_{name}"
                    img.save(out / f"{slug}.jpg", quality=92)
                print(describe(row), flush=True)
    return rows


def describe(row: Row) -> str:
    vis = " ".join(f"{s:g}:{v:4.0%}" for s, v in row.visible.items())
    return (f"{row.recipe:9s} {'held' if row.held else 'tune'} {row.photo:10s} {row.target:26s} "
            f"visible {vis}  plain {row.plain:4.0%}  fidelity {row.fidelity:.2f}  "
            f"border {row.border:.2f}  seam {row.seam:.2f}  {row.seconds:5.1f}s")


def summary(rows: list[Row], names: list[str]) -> str:
    """Markdown: one line per recipe and half (tuning rows, held-out rows)."""
    head = ("| recipe | rows | single visible (×1 / ×¾ / ×½) | single mean | single plain | "
            "hybrid weaker visible | hybrid weaker plain | fidelity | border | seam | s/picture |")
    lines = [head, "|" + " --- |" * 11]
    for name in names:
        for half, held in (("tuning", False), ("held out", True)):
            rs = [r for r in rows if r.recipe == name and r.held == held]
            if not rs:
                continue
            single = [r for r in rs if not r.hybrid]
            hybrid = [r for r in rs if r.hybrid]

            def avg(xs, fn):
                return float(np.mean([fn(x) for x in xs])) if xs else float("nan")

            per_scale = " / ".join(f"{avg(single, lambda r, s=s: r.visible[s]):.0%}" for s in J.SCALES)
            lines.append(
                f"| {name} | {half} ({len(single)}+{len(hybrid)}) | {per_scale} | "
                f"**{avg(single, lambda r: r.visible_mean):.0%}** | {avg(single, lambda r: r.plain):.0%} | "
                f"**{avg(hybrid, lambda r: r.visible_mean):.0%}** | {avg(hybrid, lambda r: r.plain):.0%} | "
                f"{avg(rs, lambda r: r.fidelity):.2f} | {avg(rs, lambda r: r.border):.2f} | "
                f"{avg(rs, lambda r: r.seam):.2f} | {avg(rs, lambda r: r.seconds):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 3 pictures, few crops")
    p.add_argument("--recipes", default="default,classic,reference",
                   help="comma-separated presets, and 'reference' for the stand-alone reference recipe")
    p.add_argument("--rows", choices=("all", "tune", "held"), default="all",
                   help="tune: only the rows not held out (use this while tuning)")
    p.add_argument("--photos", help="comma-separated subset of photos")
    p.add_argument("--crops", type=int, help="random crops per viewing size (default 16, quick 6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", default="single,hybrid", help="single, hybrid or both (comma-separated)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key of the default preset (TOML value), for tuning")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "quality", help="where the dreams are saved")
    args = p.parse_args(argv)
    torch.set_grad_enabled(True)
    import tomllib

    KINDS.update(args.kinds.split(","))
    for kv in args.set:
        OVERRIDES.update(tomllib.loads(kv))
    plan = QUICK_PLAN if args.quick else PLAN
    if args.photos:
        plan = [(ph, t) for ph, t in PLAN if ph in args.photos.split(",")]
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    if "reference" in names and not REFERENCE.exists():
        print(f"(no {REFERENCE}: the reference recipe is left out)")
        names.remove("reference")
    crops = args.crops or (6 if args.quick else 16)
    t0 = time.perf_counter()
    rows = run(plan, names, crops, args.seed, args.out, args.rows)
    print()
    print(f"judge {J.JUDGE} on {crops} random {J.CROP}² crops per viewing size; dreamer {DREAMER}"
          f" (the default's hybrids with {partner_name(preset('default', **OVERRIDES)) or 'no partner'});"
          f" seed {args.seed}; {time.perf_counter() - t0:.0f}s in all; held out: photos"
          f" {', '.join(sorted(HELD_PHOTOS))} and classes {', '.join(sorted(HELD_CLASSES))}")
    print("visible = share of crops (after half size + blur + JPEG q60) with the class in the judge's top 5,"
          " a hybrid's weaker class; plain = the same on untouched crops")
    print()
    print(summary(rows, names))
    return 0


def main_held_mutants(pairs: list[tuple[str, list[list[str]]]], triples: list[tuple[str, list[list[str]]]],
                      argv: list[str]) -> int:
    """A hold-out of mutants (quality_fresh*.py): every row held out, only hybrids judged;
    --pairs or --triples in argv for one kind, the rest passed to main."""
    global HELD_PHOTOS
    HELD_PHOTOS = frozenset(photo for photo, _ in pairs + triples)
    only = {"--pairs": pairs, "--triples": triples}
    PLAN[:] = next((only[a] for a in argv if a in only), pairs + triples)
    return main(["--rows", "held", "--kinds", "hybrid", *(a for a in argv if a not in only)])


if __name__ == "__main__":
    raise SystemExit(main())
