"""When the judge misses a triple's weakest class where it is painted, what takes its place in
the top 5? Crowding (the other creatures and their look-alikes fill the five places while the
weakest class waits just below) asks for a different lever than absence (the class far down
the ranking). For each saved mutant picture (mutant_curves.py --save), the judge's crops (as
benchmarks/judge.visible draws them) where the weakest class's region covers a quarter or more
and the class is not in the top 5: its rank there, and what the five places hold.

    .venv/bin/python benchmarks/mutant_crowding.py --set fresh3 --seed 1 out/curves_pictures/

Not a test: a table.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

NEIGHBOURS = 10  # a class's look-alikes: the nearest rows of the judge's own classifier


def look_alikes(judge, ids: list[int]) -> dict[int, set[int]]:
    """Each class's nearest classes by the cosine of the judge's classifier rows."""
    import torch
    head = [m for m in judge.module.modules() if isinstance(m, torch.nn.Linear)][-1].weight
    unit = torch.nn.functional.normalize(head, dim=1)
    out = {}
    for c in ids:
        sims = unit @ unit[c]
        sims[c] = -2
        out[c] = set(sims.topk(NEIGHBOURS).indices.tolist())
    return out


def crowding(picture_path: Path, photo_name: str, target: list[str], judge, seed: int) -> list[dict]:
    """One record per crop where the weakest class is painted (cover >= 1/4) and missed."""
    import torch
    from PIL import Image

    import judge as J
    from dreamer.transform import to_tensor
    from mutant_coverage import placed_regions

    pic = Image.open(picture_path).convert("RGB")
    placed, masks = placed_regions(photo_name, target, seed)
    alike = look_alikes(judge, placed)
    destroyed = J.destroy(pic)
    crops = []  # (scale, box in the picture, ranking)
    for k, scale in enumerate(J.SCALES):
        view = J.view(destroyed, pic.size, scale)
        boxes = J.crop_boxes(view.size, 16, seed + k)
        size = judge.input_size
        with torch.no_grad():
            batch = torch.cat([to_tensor(view.crop(b).resize((size, size), Image.BICUBIC)) for b in boxes])
            order = judge.module(judge.normalise(batch)).argsort(dim=1, descending=True)
        for box, ranking in zip(boxes, order):
            crops.append((scale, tuple(round(z / scale) for z in box), ranking))
    found = {c: sum(bool((r[:5] == c).any()) for _, _, r in crops) for c in placed}
    weakest = min(placed, key=lambda c: found[c])
    w = placed.index(weakest)
    others = [c for c in placed if c != weakest]
    out = []
    for scale, (x0, y0, x1, y1), ranking in crops:
        cover = float(masks[w, y0:y1, x0:x1].mean())
        if cover < 0.25 or bool((ranking[:5] == weakest).any()):
            continue
        five = ranking[:5].tolist()
        kinds = []
        for c in five:
            if c in others:
                kinds.append("other creature")
            elif any(c in alike[o] for o in others):
                kinds.append("other's look-alike")
            elif c in alike[weakest]:
                kinds.append("own look-alike")
            else:
                kinds.append("unrelated")
        rank = int((ranking == weakest).nonzero()[0, 0]) + 1
        out.append({"photo": photo_name, "scale": scale, "cover": cover, "rank": rank, "kinds": kinds,
                    "weakest": weakest, "five": five})
    return out


def table(records: list[dict]) -> str:
    lines = [f"{len(records)} crops where the weakest class is painted (cover >= 1/4) and missed"]
    ranks = [r["rank"] for r in records]
    for lo, hi in ((6, 10), (11, 20), (21, 50), (51, 1000)):
        n = sum(lo <= x <= hi for x in ranks)
        lines.append(f"  its rank {lo}-{hi}: {n} ({100 * n / max(1, len(ranks)):.0f} %)")
    kinds = Counter(k for r in records for k in r["kinds"])
    total = sum(kinds.values())
    lines.append("  the five places held by:")
    for k, n in kinds.most_common():
        lines.append(f"    {k}: {n} ({100 * n / max(1, total):.0f} %)")
    from models.labels import imagenet
    names = imagenet()
    by_photo = Counter(r["photo"] for r in records)
    for p, n in by_photo.items():
        mine = [r for r in records if r["photo"] == p]
        rs = sorted(r["rank"] for r in mine)
        common = Counter(c for r in mine for c in r["five"]).most_common(4)
        lines.append(f"  {p}: {names.name(mine[0]['weakest'])} missed in {n} crops, median rank {rs[len(rs) // 2]}; "
                     "the top 5 most often: " + ", ".join(f"{names.name(c)} {k}" for c, k in common))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from mutant_coverage import over_triples
    return over_triples(crowding, table, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
