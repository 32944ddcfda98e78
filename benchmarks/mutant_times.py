#!/usr/bin/env python
"""What a mutant costs against a single class on the same photo, one process, one run of each
(ratios from one run beat absolute times on a shared machine).

    .venv/bin/python benchmarks/mutant_times.py                 # the bundled rocket, 640x427
    .venv/bin/python benchmarks/mutant_times.py --photo coffee --repeat 2

Rows: one class (stopping when the creature is there, and run to its cap as before session 10); a pair and a triple as the default dreams them ("regions", routed views, regions
that grow, Lite0 and Lite1 in turns since session 17) and with Lite0 alone (until session 17); a pair and a triple with the steps they took until session 13; a pair in regions that stay (until session 12); one with shared views (until session 11); a pair as the default dreamt it until session 9
("mix", Lite0 with Lite1)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.quality import load_photo  # noqa: E402
from dreamer.presets import preset  # noqa: E402
from dreamer.recipe import STOPPED_AT  # noqa: E402
from dreamer.render import dream, dream_net  # noqa: E402

ROWS = [
    ("single", ["goldfish"], {}),
    ("single, to the cap (before s10)", ["goldfish"], {"stop_seen": 0.0}),
    ("pair, regions (default)", ["goldfish", "stingray"], {"hybrid": "regions"}),
    ("triple, regions (default)", ["goldfish", "stingray", "monarch"], {"hybrid": "regions"}),
    ("triple, 160 steps (before s20)", ["goldfish", "stingray", "monarch"], {"hybrid": "regions",
                                                                             "hybrid_steps_classes": 99}),
    ("pair, regions, Lite0 alone (before s17)", ["goldfish", "stingray"],
     {"hybrid": "regions", "hybrid_regions_partner": False}),
    ("triple, regions, Lite0 alone (before s17)", ["goldfish", "stingray", "monarch"],
     {"hybrid": "regions", "hybrid_regions_partner": False, "hybrid_steps_classes": 99}),
    ("pair, 192 steps (before s13)", ["goldfish", "stingray"], {"hybrid": "regions", "hybrid_steps": 0.5,
                                                              "hybrid_regions_partner": False}),
    ("triple, 256 steps (before s13)", ["goldfish", "stingray", "monarch"], {"hybrid": "regions", "hybrid_steps": 0.5,
                                                                               "hybrid_steps_classes": 99,
                                                                               "hybrid_regions_partner": False}),
    ("pair, regions that stay (before s12)", ["goldfish", "stingray"], {"hybrid": "regions", "hybrid_grow": 1.0,
                                                                      "hybrid_steps": 0.5, "hybrid_regions_partner": False}),
    ("pair, regions, shared views (before s11)", ["goldfish", "stingray"], {"hybrid": "regions", "hybrid_routed": False,
                                                                           "hybrid_grow": 1.0, "hybrid_steps": 0.5,
                                                                           "hybrid_regions_partner": False}),
    ("pair, mix with Lite1 (before)", ["goldfish", "stingray"], {"hybrid": "mix", "hybrid_partner": "efficientnet-lite1",
                                                                "hybrid_steps": 0.5}),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photo", default="rocket")
    p.add_argument("--repeat", type=int, default=1, help="runs of each row (the fastest is kept)")
    p.add_argument("--rows", type=int, default=len(ROWS), help="only the first N rows")
    p.add_argument("--only", help="only the rows whose names start so (separated by ';': the names hold commas); "
                                  "the single is always run")
    args = p.parse_args(argv)
    starts = tuple(args.only.split(";")) if args.only else None
    photo = load_photo(args.photo)
    times = {}
    for name, classes, settings in ROWS[:args.rows]:
        if starts and name != "single" and not name.startswith(starts):
            continue
        recipe = preset("default", classes={c: 1.0 for c in classes}, seed=1, **settings)
        net = dream_net(recipe, "cpu")
        dream(photo.resize((96, 64)), recipe.replace(steps=1), net=net)  # load and warm up
        best, ran = float("inf"), "cap"
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = dream(photo, recipe, net=net)
            best = min(best, time.perf_counter() - t)
            ran = out.info.get(STOPPED_AT, "cap")
        times[name] = best
        print(f"{name:32s} {best:6.1f} s  x{best / times['single']:.2f} of a single  ({net.name}; "
              f"stopped at step {ran})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
