"""Where a default step's time goes, part by part: the detail (the Fourier spectrum to pixels and
back), the views (sampled from the composed picture and their gradient back to it) and the net
(forward and backward of the step's views, a few at a time as a step runs them), each timed
alone, round-robin, beside whole steps of the real loop. Not a test: it prints figures.

    LUCID_DREAM_WORKERS=1 .venv/bin/python benchmarks/step_parts.py [--reps 12] [--classes goldfish]

The parts are the render loop's own functions (dreamer.render_views: `start`, `draw`, `ascend`),
so what this prints is what a dream of the 1000×872 benchmark photo spends.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dreamer import param as prm  # noqa: E402
from dreamer import threads  # noqa: E402
from dreamer import render_views as rv  # noqa: E402
from dreamer.activations import backward_in_chunks, capture, net_chunk  # noqa: E402
from dreamer.plan import views_plan  # noqa: E402
from dreamer.recipe import Recipe  # noqa: E402
from dreamer.render import dream_net  # noqa: E402
from dreamer.transform import random_views, to_bytes, view_batch  # noqa: E402

from engine_timing import load, photo  # noqa: E402  (a sibling: this folder is on sys.path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--classes", default="goldfish", help="comma-separated: two or three make a mutant")
    args = ap.parse_args(argv)
    recipe = Recipe.from_flat(classes={c: 1.0 for c in args.classes.split(",")}, stop_seen=0.0)
    net = dream_net(recipe, "cpu")
    base = to_bytes(photo(1000, 872))
    plan = views_plan(recipe, net, 0, base.device)
    d = rv.start(base, plan, net, 0)
    v = d.settings
    picture = prm.compose(d.work, v.strength * d.p.detail()).detach()
    views = random_views(*d.work.shape[-2:], recipe.batch_size, (v.view_min, v.view_max), recipe.view_rotate,
                         d.rng, v.view_coarsen)
    with torch.no_grad():
        batch = view_batch(picture, views, d.size, v.view_samples)

    # the threads a dream gets here (dreamer.threads: this process's cores, LUCID_DREAM_WORKERS)
    with threads.dreaming(), capture(net, plan.objective.layers) as run:
        def detail() -> None:
            d.p.detail().sum().backward()

        def sampled_views() -> None:
            x = picture.clone().requires_grad_()
            view_batch(x, views, d.size, v.view_samples).sum().backward()

        def the_net() -> None:
            extra = rv.entries(d, views)  # a mutant's lean of each view to each class

            def loss(x: torch.Tensor, rows: slice) -> torch.Tensor:
                return -plan.objective({**run(x, d.step), **{k: e[rows] for k, e in extra.items()}}).sum()

            backward_in_chunks(batch.clone().requires_grad_(), loss, net_chunk(batch))

        def step() -> None:
            drawn = rv.draw(d)
            d.opt.zero_grad(set_to_none=True)
            rv.ascend([d], [drawn], run)
            d.opt.step()
            d.step += 1

        cases: dict[str, Callable[[], None]] = {"detail": detail, "views": sampled_views, "net": the_net,
                                                 "whole step": step}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for fn in cases.values():
            fn()
        names = list(cases)
        for r in range(args.reps):
            for name in names[r % len(names):] + names[:r % len(names)]:
                t = time.perf_counter()
                cases[name]()
                times[name].append(time.perf_counter() - t)
        used = torch.get_num_threads()
    med = {name: statistics.median(ts) for name, ts in times.items()}
    whole = med["whole step"]
    print(f"{args.classes} at 1000x872 (working {tuple(d.work.shape[-2:])}), {used} threads, "
          f"{args.reps} repeats, load {load()}")
    if d.masks is not None:
        print("  (a mutant's step samples its views once per class, each through its own layer: the "
              "views part here is one sampling, as a single's)")
    for name, t in med.items():
        print(f"  {name:<11} {1000 * t:7.1f} ms  {100 * t / whole:5.1f} % of a whole step")
    rest = whole - med["detail"] - med["views"] - med["net"]
    print(f"  {'the rest':<11} {1000 * rest:7.1f} ms  {100 * rest / whole:5.1f} % (the objective's entries, Adam, "
          "composing, and what the parts share)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
