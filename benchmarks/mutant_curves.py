"""When is a mutant done? One dream per row, as the default dreams it, run to its cap, with a
look every 16 steps by the dreaming net's own check (dreamer.seen, Lite0), the same check by a
net that did not dream (Lite1), and the independent judge (benchmarks/judge.py, Lite2). From the
curves: where a stop rule would end each mutant, and the judge's figure there against at the cap.

    .venv/bin/python benchmarks/mutant_curves.py --set tune --out curves.jsonl
    .venv/bin/python benchmarks/mutant_curves.py --summary curves.jsonl [more.jsonl ...]
    .venv/bin/python benchmarks/mutant_curves.py --set tune --kind pairs --candidate settle --out settle.jsonl
    .venv/bin/python benchmarks/mutant_curves.py --compare base.jsonl settle.jsonl   # row by row at the cap

Sets: `tune` (quality.py's six tuning pairs), `fresh`, `fresh2` (the hold-outs' pairs and triples)
and `fresh3` (session 19's eight triples). `--photos a,b` keeps those photos only (to split a set
over processes), `--kind` pairs or triples only. A candidate is a recipe setting (`--with`), a
module constant (`--const`) or a change patched in for the run (`--candidate`). `--seed` dreams
every row with another seed: a row's figure moves by tens of points from seed to seed
(benchmarks/README.md, "Seeds"), so compare candidates over several seeds, never at seed 1 alone.
Not a test: one JSON line per dream, then a table per rule.
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mutant_candidates import CANDIDATES  # noqa: E402  (a sibling: this folder is on sys.path)

EVERY = 16
# Constants that became recipe keys: setting the constant no longer changes a dream.
NOW_RECIPE_KEYS = {"regions.FLOOR": "hybrid_floor"}


def rows(name: str) -> list[tuple[str, list[str], bool]]:
    """(photo, classes, held out) of a set."""
    import quality as Q
    if name == "tune":
        return [(p, t, False) for p, ts in Q.PLAN for t in ts if len(t) > 1 and not Q.held_out(p, t)]
    module = __import__({"fresh": "quality_fresh", "fresh2": "quality_fresh2", "fresh3": "quality_fresh3"}[name])
    return [(p, t, True) for p, ts in module.PAIRS + module.TRIPLES for t in ts]


def curve(photo_name: str, target: list[str], nets: dict, judge, settings: dict, seed: int = 1,
          save: Path | None = None, weights: list[float] | None = None) -> list[dict]:
    import judge as J
    import quality as Q
    import torch
    from dreamer import render_views as rv
    from dreamer.plan import resolve_classes
    from dreamer.presets import preset
    from dreamer.render import dream_net
    from stop_curves import dream_steps
    from dreamer.seen import seen_shares
    from dreamer.transform import to_image
    from dreamer import param as prm

    photo = Q.load_photo(photo_name)
    r = preset("default", classes={c: (weights[i] if weights else 1.0) for i, c in enumerate(target)}, seed=seed,
               **settings)
    net = dream_net(r, "cpu")  # Lite0, joined by a partner where the settings name one
    ids = list(resolve_classes(r, net))
    points = []
    for d, took in dream_steps(photo, r, net, seed):
        if d.step % EVERY == 0 or d.done:
            with torch.no_grad():
                work = prm.compose(d.work, r.views.strength * d.p.detail())
            pic = to_image(rv.finish(d))
            point = {"step": d.step, "seconds": round(took, 1)}
            for key, n in nets.items():  # the check's own crops (seeded by step, as a dream's)
                point[key] = seen_shares(n, work, ids, rv.CHECK_CROPS, seed * 7919 + d.step)
            vis = J.visible(judge, pic, ids, 16, seed)
            point["judge"] = {i: sum(v[i] for v in vis.values()) / len(vis) for i in ids}
            point["judge_weakest"] = sum(min(v.values()) for v in vis.values()) / len(vis)
            point["fidelity"] = J.fidelity(photo, pic)
            points.append(point)
            print(photo_name, point["step"], point["seconds"], round(point["judge_weakest"], 2), file=sys.stderr,
                  flush=True)
            if save and d.done:
                save.mkdir(parents=True, exist_ok=True)
                pic.save(save / f"{photo_name}_{'+'.join(target)}_s{seed}.png".replace(" ", "_"))
    return points


def stop_step(points: list[dict], key: str, share: float, after: float, cap: float = 1.0) -> dict:
    """The checkpoint a rule ends the dream at: `after` × the first step at which `key`'s check
    finds every class in at least `share` of its crops, or `cap` × the dream's cap if sooner."""
    last = next(q for q in points if q["step"] >= cap * points[-1]["step"])
    for p in points:
        if p["step"] > last["step"]:
            break
        if min(p[key].values()) >= share:
            at = min(after * p["step"], last["step"])
            return next(q for q in points if q["step"] >= at)
    return last


RULES = ([("lite0", 2.0, 1.0, c) for c in (0.5, 0.625, 0.66, 0.75, 0.83, 1.0)]
         + [(k, s, a, 1.0) for k in ("lite0", "lite1") for s in (0.5, 0.67, 0.75) for a in (1.0, 1.5, 2.0)]
         + [(k, s, a, c) for k in ("lite0", "lite1") for s in (0.67, 0.75) for a in (1.0, 1.5) for c in (0.75, 0.83)])


def summary(dreams: list[dict]) -> str:
    """One line per rule and kind: the steps it runs (of the caps'), the judge's weakest class at
    its stop and at the cap, and the fidelity at its stop."""
    lines = ["rule (net share xafter capshare)   kind     steps (of cap)  judge weakest stop / cap   fidelity  (rows)"]
    for key, share, after, cap in RULES:
        for kind, k in (("pairs", 2), ("triples", 3)):
            got = [(stop_step(d["points"], key, share, after, cap), d["points"][-1])
                   for d in dreams if len(d["classes"]) == k]
            if not got:
                continue
            steps = sum(a["step"] for a, _ in got) / sum(b["step"] for _, b in got)
            rule = f"{key} {share:.2f} x{after:.1f} cap {cap:.2f}" if share <= 1 else f"cap {cap:.2f}"
            lines.append(f"{rule:34s} {kind:8s} {100 * steps:5.1f} %        "
                         f"{sum(a['judge_weakest'] for a, _ in got) / len(got):.2f} / "
                         f"{sum(b['judge_weakest'] for _, b in got) / len(got):.2f}      "
                         f"{sum(a['fidelity'] for a, _ in got) / len(got):.2f}   ({len(got)})")
    return "\n".join(lines)


def compare(files: list[Path], cap: int = 144) -> str:
    """The judge's weakest class and the fidelity of each row at step `cap` (a pair's and a
    triple's cap since session 20; an older 160-step triple is read at its step 144), one column
    per file (a run of a candidate or a seed), the rows all files have; then each file against
    the first, row by row: the mean difference, its standard error, how many rows rose or fell,
    and how many curves are the first's at every step (a candidate that leaves a dream's checks
    as they were dreams the same picture)."""
    runs = []
    for f in files:
        rows = {}
        for line in f.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                rows[(d["photo"], tuple(d["classes"]))] = d
        runs.append(rows)
    keys = [k for k in runs[0] if all(k in r for r in runs[1:])]
    if not keys:
        return "no row is in every file"
    width = max(18, max(len(f.stem) for f in files) + 2)
    lines = ["row".ljust(44) + "".join(f.stem.rjust(width) for f in files)]
    weakest = [[] for _ in files]
    fidelity = [[] for _ in files]
    for key in keys:
        cells = []
        for i, run in enumerate(runs):
            p = [q for q in run[key]["points"] if q["step"] <= cap][-1]
            weakest[i].append(100 * p["judge_weakest"])
            fidelity[i].append(p["fidelity"])
            cells.append(f"{100 * p['judge_weakest']:4.0f} % ({p['fidelity']:.2f})".rjust(width))
        lines.append(f"{key[0]}: {' + '.join(key[1])}"[:44].ljust(44) + "".join(cells))
    lines.append("mean".ljust(44) + "".join(f"{statistics.mean(w):4.1f} % ({statistics.mean(f):.2f})".rjust(width)
                                            for w, f in zip(weakest, fidelity)))
    for f, run, w in zip(files[1:], runs[1:], weakest[1:]):
        diff = [b - a for a, b in zip(weakest[0], w)]
        se = statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else float("nan")
        up, down = sum(d > 0 for d in diff), sum(d < 0 for d in diff)
        same = sum(_curve(runs[0][k], cap) == _curve(run[k], cap) for k in keys)
        lines.append(f"{f.stem} - {files[0].stem}: {statistics.mean(diff):+.1f} points (standard error {se:.1f}; "
                     f"up {up}, down {down}; {same} of {len(keys)} curves the same at every step)")
    return "\n".join(lines)


def _curve(dream: dict, cap: int) -> list[tuple[float, float]]:
    return [(p["judge_weakest"], p["fidelity"]) for p in dream["points"] if p["step"] <= cap]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=("tune", "fresh", "fresh2", "fresh3"), default="tune")
    ap.add_argument("--photos", help="only these photos (comma-separated)")
    ap.add_argument("--out", type=Path, help="append each dream's curve here (JSON lines)")
    ap.add_argument("--with", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe setting for every dream (a variant), e.g. learning_rate=0.075")
    ap.add_argument("--const", action="append", default=[], metavar="MODULE.NAME=VALUE",
                    help="a dreamer module's constant for every dream, e.g. regions.NOISE=0.35 (a candidate "
                         "not yet a recipe setting)")
    ap.add_argument("--candidate", action="append", default=[], choices=sorted(CANDIDATES),
                    help="a candidate not yet in the engine, patched in for this run")
    ap.add_argument("--seed", type=int, default=1, help="every dream's seed (another seed: the rows' noise)")
    ap.add_argument("--kind", choices=("pairs", "triples", "all"), default="all")
    ap.add_argument("--weights", help="the classes' weights in each row's order, e.g. 0.6,1.0 (as the bot's picker "
                                      "draws them; the default gives every class 1.0)")
    ap.add_argument("--save", type=Path, help="write each dream's last picture into this folder")
    ap.add_argument("--summary", nargs="*", type=Path, help="only summarise these curve files")
    ap.add_argument("--compare", nargs="+", type=Path, help="only compare these curve files row by row at the cap")
    args = ap.parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    if args.summary:
        dreams = [json.loads(line) for f in args.summary for line in f.read_text().splitlines() if line.strip()]
        print(summary(dreams))
        return 0
    import judge as J
    import torch
    from dreamer.render import load_net
    torch.manual_seed(1)
    nets = {"lite0": load_net("efficientnet-lite0", None, "cpu"), "lite1": load_net("efficientnet-lite1", None, "cpu")}
    judge = load_net(J.JUDGE, None, "cpu")
    settings = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.settings)}
    only = set(args.photos.split(",")) if args.photos else None
    consts = {k: json.loads(v) for k, v in (c.split("=", 1) for c in args.const)}
    for key, value in consts.items():
        module, name = key.rsplit(".", 1)
        target_module = importlib.import_module(f"dreamer.{module}")
        if not hasattr(target_module, name):
            raise SystemExit(f"dreamer.{module} has no {name}")
        if key in NOW_RECIPE_KEYS:
            raise SystemExit(f"{key} is the recipe's {NOW_RECIPE_KEYS[key]} now: --with {NOW_RECIPE_KEYS[key]}=VALUE")
        setattr(target_module, name, value)
    for name in args.candidate:
        CANDIDATES[name](nets)
    sizes = {"pairs": {2}, "triples": {3}, "all": {2, 3}}[args.kind]
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    dreams = []
    for photo, target, held in rows(args.set):
        if (only and photo not in only) or len(target) not in sizes or (weights and len(weights) != len(target)):
            continue
        points = curve(photo, target, nets, judge, settings, args.seed, args.save, weights)
        for p in points:  # JSON keys are strings: class ids as the judge's, by name
            for key in ("lite0", "lite1", "judge"):
                p[key] = {str(k): v for k, v in p[key].items()}
        rec = {"set": args.set, "seed": args.seed, "settings": settings, "consts": consts, "candidates": args.candidate, "weights": weights, "photo": photo, "classes": target, "held": held, "points": points}
        dreams.append(rec)
        print(json.dumps(rec), flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(rec) + "\n")
    print(summary(dreams))
    return 0


if __name__ == "__main__":
    sys.exit(main())
