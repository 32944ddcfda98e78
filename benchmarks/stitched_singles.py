"""A candidate for mutants, measured, not in the engine: each class dreamt as a single class over
the whole photo (the default single machinery, its own stop), then the singles stitched into one
picture through the regions the default mutant would have placed (dreamer.regions, at step 0).
The issue's first candidate ("each class dreamt in its soft region with the single-class
machinery that already works"), in its plainest form. Judged as mutant_curves.py judges a
mutant (the weakest class over the judge's viewing sizes), so its rows compare with those curves.

    .venv/bin/python benchmarks/stitched_singles.py --set fresh3 --seed 1 --out stitched.jsonl --save out/stitched

Not a test: one JSON line per row.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def stitched(photo_name: str, target: list[str], judge, seed: int, save: Path | None) -> dict:
    import torch

    import judge as J
    import quality as Q
    from dreamer import render_views as rv
    from dreamer.plan import resolve_classes, views_plan
    from dreamer.presets import preset
    from dreamer.render import dream_net
    from dreamer.transform import resize, to_image, to_tensor
    from stop_curves import dream_steps

    photo = Q.load_photo(photo_name)
    base = to_tensor(photo)
    r3 = preset("default", classes={c: 1.0 for c in target}, seed=seed)
    net3 = dream_net(r3, "cpu")
    plan3 = views_plan(r3, net3, seed, torch.device("cpu"))
    d3 = rv.start(base, plan3, net3, seed)  # the regions the mutant would start from
    placed = list(plan3.placed)
    masks = resize(d3.masks[None], tuple(base.shape[-2:]))[0]  # (k, H, W), summing to 1
    ids = list(resolve_classes(r3, net3))
    out = base.clone()
    took, singles = 0.0, {}
    for name in target:
        r1 = preset("default", classes={name: 1.0}, seed=seed)
        net1 = dream_net(r1, "cpu")
        (cid,) = resolve_classes(r1, net1)
        t = time.perf_counter()
        for d, _ in dream_steps(photo, r1, net1, seed):
            pass
        single = rv.finish(d)
        took += time.perf_counter() - t
        singles[name] = d.step
        out = out + masks[placed.index(cid)][None, None] * (single - base)
    pic = to_image(out.clamp(0, 1))
    vis = J.visible(judge, pic, ids, 16, seed)
    row = {"photo": photo_name, "classes": target, "seed": seed, "singles_steps": singles,
           "seconds": round(took, 1),
           "judge": {str(i): sum(v[i] for v in vis.values()) / len(vis) for i in ids},
           "per_size": {str(s): {str(i): v[i] for i in ids} for s, v in vis.items()},
           "judge_weakest": sum(min(v.values()) for v in vis.values()) / len(vis),
           "fidelity": J.fidelity(photo, pic)}
    if save:
        save.mkdir(parents=True, exist_ok=True)
        pic.save(save / f"{photo_name}_{'+'.join(target)}_s{seed}.png".replace(" ", "_"))
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=("fresh", "fresh2", "fresh3"), default="fresh3")
    ap.add_argument("--photos", help="only these photos (comma-separated)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--save", type=Path)
    args = ap.parse_args(argv)
    import judge as J
    import torch
    from dreamer.render import load_net
    from mutant_curves import rows
    torch.manual_seed(1)
    judge = load_net(J.JUDGE, None, "cpu")
    only = set(args.photos.split(",")) if args.photos else None
    for photo, target, _ in rows(args.set):
        if len(target) != 3 or (only and photo not in only):
            continue
        row = stitched(photo, target, judge, args.seed, args.save)
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
