"""Where does the judge lose a mutant's weakest class: in crops its region does not reach, or
where it is painted? For each saved mutant picture (mutant_curves.py --save), the judge's crops
(as benchmarks/judge.visible draws them) are set against the regions the default placed the
classes in at step 0 (dreamer.regions; growth during the dream moves them a little), and the
share of crops with a class in the judge's top 5 is tabled by how much of the crop its region
covers.

    .venv/bin/python benchmarks/mutant_coverage.py --set fresh3 --seed 1 out/curves_pictures/

Not a test: a table of crops by viewing size and cover.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BINS = (0.25, 0.5, 0.75)  # the cover a crop's class region has: under 25 %, 25–50 %, ...


def placed_regions(photo_name: str, target: list[str], seed: int):
    """The classes in the order the default places them on the photo, and their regions at
    step 0 at the photo's size ((k, H, W))."""
    import torch

    import quality as Q
    from dreamer import render_views as rv
    from dreamer.plan import views_plan
    from dreamer.presets import preset
    from dreamer.render import dream_net
    from dreamer.transform import resize, to_tensor

    photo = Q.load_photo(photo_name)
    recipe = preset("default", classes={c: 1.0 for c in target}, seed=seed)
    net = dream_net(recipe, "cpu")
    plan = views_plan(recipe, net, seed, torch.device("cpu"))
    masks = resize(rv.start(to_tensor(photo), plan, net, seed).masks[None], (photo.height, photo.width))[0]
    return list(plan.placed), masks


def crops_by_cover(picture_path: Path, photo_name: str, target: list[str], judge, seed: int) -> list[tuple]:
    """(viewing size, class id, cover of the crop by its region, in the judge's top 5) per crop."""
    from PIL import Image

    import judge as J

    pic = Image.open(picture_path).convert("RGB")
    placed, masks = placed_regions(photo_name, target, seed)
    destroyed = J.destroy(pic)
    out = []
    for k, scale in enumerate(J.SCALES):  # the crops judge.visible draws (its seed + k)
        view = J.view(destroyed, pic.size, scale)
        boxes = J.crop_boxes(view.size, 16, seed + k)
        top = J.judge_top5(judge, [view.crop(b) for b in boxes])
        for box, five in zip(boxes, top):
            x0, y0, x1, y1 = (round(z / scale) for z in box)
            for i, c in enumerate(placed):
                out.append((scale, c, float(masks[i, y0:y1, x0:x1].mean()), bool((five == c).any())))
    return out


def table(crops: list[tuple]) -> str:
    lines = ["size  cover      crops  in the top 5"]
    for scale in sorted({c[0] for c in crops}, reverse=True):
        edges = (0.0,) + BINS + (1.01,)
        for lo, hi in zip(edges, edges[1:]):
            got = [c[3] for c in crops if c[0] == scale and lo <= c[2] < hi]
            if got:
                lines.append(f"{scale:4.2f}  {lo:.2f}-{min(hi, 1):.2f}  {len(got):6d}  {100 * sum(got) / len(got):5.0f} %")
    return "\n".join(lines)


def over_triples(per_picture, table, doc: str, argv: list[str] | None) -> int:
    """The command line of a table over a folder of saved triples: `per_picture(path, photo,
    target, judge, seed)` gives each picture's rows, `table` prints them all."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("pictures", type=Path, help="a folder of mutant_curves.py --save pictures")
    ap.add_argument("--set", choices=("fresh", "fresh2", "fresh3"), default="fresh3")
    ap.add_argument("--seed", type=int, default=1, help="the seed the pictures were dreamt with")
    args = ap.parse_args(argv)
    import judge as J
    from dreamer.render import load_net
    from mutant_curves import rows
    judge = load_net(J.JUDGE, None, "cpu")
    got = []
    for photo, target, _ in rows(args.set):
        found = sorted(args.pictures.glob(f"{photo}_*_s{args.seed}.png"))
        if len(target) == 3 and found:
            got += per_picture(found[0], photo, target, judge, args.seed)
    print(table(got))
    return 0


def main(argv: list[str] | None = None) -> int:
    return over_triples(crops_by_cover, table, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
