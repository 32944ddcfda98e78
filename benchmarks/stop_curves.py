"""When is the creature there? One dream per row and variant, run to the cap, with a look every
16 steps by both the dreaming net's own check (dreamer.seen: what `stop_seen` reads) and the
independent judge (benchmarks/judge.py, EfficientNet-Lite2). From the curves: where a stop rule
would end each dream, and the judge's figure there against at the cap.

    .venv/bin/python benchmarks/stop_curves.py [--rows rocket:goldfish,flower:goldfish,...]
                                               [--variants 4,2] [--out curves.jsonl]

Variants are `view_samples` (4: today's near-exact box filter; 2: a quarter of the samples).
Not a test: it prints one line per checkpoint (JSON) and a summary per rule.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import judge as J  # noqa: E402
import quality as Q  # noqa: E402
from dreamer import render_views as rv  # noqa: E402
from dreamer.presets import preset  # noqa: E402
from dreamer.activations import capture  # noqa: E402
from dreamer.plan import resolve_classes, views_plan  # noqa: E402
from dreamer.render import load_net  # noqa: E402
from dreamer.seen import seen_shares  # noqa: E402
from dreamer.transform import to_image, to_tensor  # noqa: E402

EVERY = 16
ROWS = "rocket:goldfish,flower:goldfish,chelsea:monarch,hopper:monarch,camera:traffic light,moon:daisy"


def curve(photo_name: str, target: str, samples: int, net, judge, seed: int = 1, steps: int = 128):
    """(step, dreaming net's share, judge's share) every EVERY steps of one dream to its cap."""
    photo = Q.load_photo(photo_name)
    r = preset("default", classes={target: 1.0}, seed=seed, view_samples=samples, stop_seen=0.0, steps=steps)
    ids = list(resolve_classes(r, net))
    points = []
    for d, took in dream_steps(photo, r, net, seed):
        if d.step % EVERY == 0:
            pic = rv.finish(d)
            own = min(seen_shares(net, pic, ids, rv.CHECK_CROPS, d.step).values())
            vis = J.visible(judge, to_image(pic), ids, 16, seed)
            seen = sum(min(v.values()) for v in vis.values()) / len(vis)
            fid = J.fidelity(photo, to_image(pic))
            points.append({"step": d.step, "self": own, "judge": seen, "fidelity": fid, "seconds": took})
    return points


def dream_steps(photo, recipe, net, seed: int):
    """The views engine's dream of photo as `recipe` says, a step at a time: yields the dream in
    progress after each step and the seconds its steps took so far (not the caller's looks)."""
    plan = views_plan(recipe, net, seed, torch.device("cpu"))
    took = 0.0
    with capture(net, plan.objective.layers) as run:
        d = rv.start(to_tensor(photo), plan, net, seed)
        while not d.done:
            t = time.perf_counter()
            views, batch = rv.draw(d)
            d.opt.zero_grad(set_to_none=True)
            rv.ascend([d], [(views, batch)], run)  # as dream_views steps
            d.opt.step()
            rv.after_step(d)
            took += time.perf_counter() - t
            yield d, took


def stop_at(points: list[dict], share: float, in_a_row: int) -> dict:
    """The checkpoint a rule (`share` of crops, `in_a_row` checks) ends the dream at, else the cap."""
    streak = 0
    for p in points:
        streak = streak + 1 if p["self"] >= share else 0
        if streak >= in_a_row:
            return p
    return points[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=ROWS, help="photo:class pairs, comma-separated")
    ap.add_argument("--variants", default="4,2", help="view_samples values to compare")
    ap.add_argument("--steps", type=int, default=128, help="the cap (fewer for a smoke run)")
    ap.add_argument("--out", type=Path, help="append the curves here (JSON lines)")
    args = ap.parse_args(argv)
    torch.manual_seed(1)
    net, judge = load_net("efficientnet-lite0", None, "cpu"), load_net(J.JUDGE, None, "cpu")
    curves = {}
    for row in args.rows.split(","):
        photo_name, target = row.split(":")
        for samples in map(int, args.variants.split(",")):
            pts = curve(photo_name, target, samples, net, judge, steps=args.steps)
            curves[(photo_name, target, samples)] = pts
            rec = {"photo": photo_name, "target": target, "view_samples": samples,
                   "held": Q.held_out(photo_name, [target]), "points": pts}
            print(json.dumps(rec), flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
    print("\nrule                         variant  steps (of cap)  judge at stop / at cap")
    for share, in_a_row in ((1.0, 2), (1.0, 3), (0.95, 2)):
        for samples in map(int, args.variants.split(",")):
            got = [(stop_at(p, share, in_a_row), p[-1]) for (_, _, s), p in curves.items() if s == samples]
            steps = sum(a["step"] for a, _ in got) / sum(b["step"] for _, b in got)
            print(f"share {share:.2f}, {in_a_row} in a row      {samples}      {100 * steps:5.1f} %        "
                  f"{sum(a['judge'] for a, _ in got) / len(got):.2f} / {sum(b['judge'] for _, b in got) / len(got):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
