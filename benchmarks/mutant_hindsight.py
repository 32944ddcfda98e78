#!/usr/bin/env python
"""Two questions asked of mutant curves already run (benchmarks/mutant_curves.py), with no new
dreams: could a dream have known which of its seeds' layouts, or which of its own checks, the
judge would like best?

    cd benchmarks
    ../.venv/bin/python mutant_hindsight.py layouts curves_session16/turns_s2.jsonl ...
    ../.venv/bin/python mutant_hindsight.py best-check curves_session16/turns_s2.jsonl ...

`layouts` places each row's classes as its dream did at step 0 (dreamer.render_views.start: the
seed's field and the photo's evidence) and sets how much of the photo's evidence each class's
region sits on (its z-scored class maps, the seeded field left out) against the judge's figure
for that class at step 144, within each row across the files' seeds. `best-check` keeps, for
each dream, the picture at the check from step FROM on where the dreaming nets (Lite0, Lite1)
found the lagging class most, and sets the judge's weakest class there against the last (step 144,
where a mutant ends since session 20: a triple of an older curve ran on to 160, and its step 144
is the picture a dream capped there makes). A dream run with `--const` or `--candidate` is left
out of `layouts`: its layout is not the one today's code places.
Not a test: it prints figures (benchmarks/README.md, "Creatures that run into each other").
"""
from __future__ import annotations

import argparse
import json
import statistics as st
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

STEP = 144


def _dreams(files: list[Path]) -> list[dict]:
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def _at(d: dict, step: int = STEP) -> dict:
    return [p for p in d["points"] if p["step"] <= step][-1]


def _corr(x: list[float], y: list[float]) -> float:
    mx, my = st.mean(x), st.mean(y)
    sx = sum((a - mx) ** 2 for a in x) ** 0.5
    sy = sum((b - my) ** 2 for b in y) ** 0.5
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sx * sy + 1e-12)


def evidence_under_regions(d: dict) -> dict[str, float]:
    """Class id (as a string) -> the mean evidence for it under its region as placed at step 0."""
    import quality as Q
    import quality_fresh  # noqa: F401  (each registers its photos)
    import quality_fresh2  # noqa: F401
    import quality_fresh3  # noqa: F401
    import torch
    from dreamer import regions as rg
    from dreamer import render_views as rv
    from dreamer.plan import views_plan
    from dreamer.presets import preset
    from dreamer.render import dream_net
    from dreamer.transform import to_bytes

    weights = d.get("weights") or [1.0] * len(d["classes"])
    r = preset("default", classes=dict(zip(d["classes"], weights)), seed=d["seed"], **d.get("settings", {}))
    net = dream_net(r, "cpu")
    start = rv.start(to_bytes(Q.load_photo(d["photo"])), views_plan(r, net, d["seed"], torch.device("cpu")), net,
                     d["seed"])
    regions = start.regions
    field, rg.NOISE = rg.NOISE, 0.0
    try:
        evidence = rg._score(start.work, net, regions.ids, d["seed"])
    finally:
        rg.NOISE = field
    masks = rg.share_out(regions.score, regions.areas)
    return {str(i): float((masks[k] * evidence[k]).sum() / masks[k].sum()) for k, i in enumerate(regions.ids)}


def layouts(files: list[Path]) -> str:
    rows: dict[tuple, list[tuple[dict, dict]]] = defaultdict(list)
    left_out = 0
    for d in _dreams(files):
        if d.get("consts") or d.get("candidates"):
            left_out += 1
            continue
        rows[(d["photo"], tuple(d["classes"]))].append((d, evidence_under_regions(d)))
    if not rows:
        return f"no dream to place: all {left_out} were run with --const or --candidate"
    xs, ys, lows, lowest_is_weakest, n = [], [], [], 0, 0
    for runs in rows.values():
        for c in runs[0][1]:
            ev = [e[c] for _, e in runs]
            judged = [_at(d)["judge"][c] for d, _ in runs]
            xs += [a - st.mean(ev) for a in ev]
            ys += [b - st.mean(judged) for b in judged]
        mins = [min(e.values()) for _, e in runs]
        weakest = [_at(d)["judge_weakest"] for d, _ in runs]
        lows += list(zip([a - st.mean(mins) for a in mins], [b - st.mean(weakest) for b in weakest]))
        for d, e in runs:
            judge = _at(d)["judge"]
            lowest_is_weakest += min(e, key=e.get) == min(judge, key=judge.get)
            n += 1
    return ((f"({left_out} dreams run with --const or --candidate left out) " if left_out else "") + f"{n} dreams: a class's evidence under its region against the judge's figure for it, within a row "
            f"across seeds: correlation {_corr(xs, ys):.2f}; the least evidence against the weakest class "
            f"{_corr(*zip(*lows)):.2f}; the class with the least evidence is the judge's weakest in "
            f"{lowest_is_weakest} of {n}")


def _lagging(p: dict, how: str) -> float:
    nets = [p["lite0"], p["lite1"]]
    if how == "mean":
        return min(sum(n[i] for n in nets) / len(nets) for i in p["judge"])
    return min(min(n[i] for n in nets) for i in p["judge"])


def best_check(files: list[Path]) -> str:
    dreams = _dreams(files)
    lines = []
    for start in (96, 112, 128):
        for how in ("mean", "lesser"):
            last, best = [], []
            for d in dreams:
                points = [p for p in d["points"] if p["step"] <= STEP]
                chosen = max((p for p in points if p["step"] >= start),
                             key=lambda p: (round(_lagging(p, how), 4), p["step"]))
                last.append(points[-1])
                best.append(chosen)
            diff = [b["judge_weakest"] - a["judge_weakest"] for a, b in zip(last, best)]
            se = st.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else 0.0
            lines.append(f"from step {start}, by the {how:6s} of the nets: the weakest class "
                         f"{100 * st.mean(a['judge_weakest'] for a in last):5.1f} % at the last check, "
                         f"{100 * st.mean(b['judge_weakest'] for b in best):5.1f} % at the best "
                         f"({100 * st.mean(diff):+.1f}, standard error {100 * se:.1f}); fidelity "
                         f"{st.mean(a['fidelity'] for a in last):.3f} -> {st.mean(b['fidelity'] for b in best):.3f} "
                         f"({len(dreams)} dreams)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("question", choices=("layouts", "best-check"))
    ap.add_argument("curves", nargs="+", type=Path, help="mutant_curves.py runs (JSON lines)")
    args = ap.parse_args(argv)
    missing = [str(f) for f in args.curves if not f.is_file()]
    if missing:
        ap.error(f"no such curve file: {', '.join(missing)}")
    print(layouts(args.curves) if args.question == "layouts" else best_check(args.curves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
