"""Speed and memory of the dream engine at the default recipe, measured in one run so the ratios
compare.

    .venv/bin/python benchmarks/engine.py [--device cpu|cuda|auto] [--quick] [--compile] [--sections 12345]
                                         [--batch-k 4]

1. Tiles/s, interleaved: a raw forward+backward (batch 8 at 224², gradient w.r.t. the input) of
   the stock net (EfficientNet-Lite0 as its wheel builds it) and of the fast net (what the zoo
   loads: BatchNorms folded, channels_last), with --compile also torch.compile of the fast net
   (after its warm-up); and the engine (the default recipe's loop, a few steps on a 1000×872
   photo, one view = one tile) with the stock and with the fast net. Engine overhead = the
   engine's time per view over the raw fast net's, run as a step runs it (on a CPU a few views
   at a time: dreamer.activations.net_chunk); the net's share of a step is the other side of it.
2. The whole default dream of a 1000×872 photo against 160 plain forward+backward passes (20
   batches of 8) of the stock net, timed before and after it in the same process.
3. Whole dreams, each in a fresh process: wall time and peak RSS of the default dream of a
   1024×768 and a 4000×3000 photo, one step of the 4000×3000 one, and that step with a tiny net
   (the full-size picture buffers alone).
4. Cost per pixel of a thin picture (4000×250) against a 4:3 one of the same area, for the
   default and the classic engine.
5. Dreams/min with 1 against K pictures per net batch (dreamer.render_batch): the same K photos
   at the default recipe with fewer steps, dreamt one after another and as one batch,
   interleaved; also the largest pixel difference between the two (they should be the same).

Not a test: it prints figures and a Markdown table for the README.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from dreamer.activations import net_chunk  # noqa: E402
from dreamer import threads  # noqa: E402
from dreamer.recipe import STOPPED_AT, Recipe  # noqa: E402
from dreamer.plan import resolve_classes  # noqa: E402
from dreamer.render import dream, dream_tensor  # noqa: E402
from dreamer.render_batch import dream_batch_tensor  # noqa: E402
from dreamer.transform import to_tensor  # noqa: E402
from models import create_model  # noqa: E402
from models.efficientnet_lite import build_efficientnet_lite  # noqa: E402

# siblings (this script's folder is on sys.path when it runs)
from engine_dreams import Case, section_dreams  # noqa: E402
from engine_timing import CLASSES, MB, MODEL, PHOTO, fmt, interleaved, load, paired_ratio, photo, timer  # noqa: E402

# --- 1. tiles/s ----------------------------------------------------------------------------
def raw_batches(net, x: torch.Tensor, n: int, batch: int = 8) -> list[torch.Tensor]:
    """n batches of tiles of the net's input size cut from the photo at random places."""
    rng = random.Random(0)
    size = net.input_size
    _, _, h, w = x.shape
    out = []
    for _ in range(n):
        tiles = [x[0, :, y:y + size, x_:x_ + size]
                 for y, x_ in ((rng.randrange(h - size + 1), rng.randrange(w - size + 1)) for _ in range(batch))]
        out.append(torch.stack(tiles))
    return out


def fwd_bwd(net, module, batches: list[torch.Tensor], class_id: int, amp: bool, chunked: bool = False) -> None:
    """Forward and backward of each batch: whole, or as a step runs it, a few views at a time
    (dreamer.activations.net_chunk)."""
    for b in batches:
        for part in b.split(net_chunk(b)) if chunked else [b]:
            xb = net.normalise(part).requires_grad_(True)
            with torch.autocast(device_type=b.device.type, dtype=torch.bfloat16, enabled=amp):
                logits = module(xb)
            torch.autograd.grad(logits[:, class_id].float().sum(), xb)


def section_tiles(nets: dict, x, class_id: int, plan: "Plan", device, amp: bool, compile_: bool) -> dict:
    batches = raw_batches(nets["fast"], x, plan.raw_batches)
    tiles = 8 * len(batches)
    cases: dict[str, Callable[[], object]] = {
        "stock net": lambda: fwd_bwd(nets["stock"], nets["stock"].module, batches, class_id, amp),
        "fast net": lambda: fwd_bwd(nets["fast"], nets["fast"].module, batches, class_id, amp),
        "fast net, as a step runs it": lambda: fwd_bwd(nets["fast"], nets["fast"].module, batches, class_id, amp,
                                                       chunked=True),
    }
    compile_s = None
    if compile_:
        t = time.perf_counter()
        compiled = torch.compile(nets["fast"].module, dynamic=False)
        fwd_bwd(nets["fast"], compiled, batches[:1], class_id, amp)  # compiles once
        compile_s = time.perf_counter() - t
        cases["fast net, torch.compile"] = lambda: fwd_bwd(nets["fast"], compiled, batches, class_id, amp)
    recipe = Recipe.from_flat(classes=dict(CLASSES), steps=plan.engine_steps)
    views = plan.engine_steps * recipe.batch_size
    steps: list[float] = []  # the fast engine's time per step, first step and setup left out

    def engine_fast() -> None:
        stamps: list[float] = []
        dream_tensor(x, recipe, nets["fast"], 0, lambda _p: stamps.append(time.perf_counter()))
        steps.append(statistics.median(b - a for a, b in zip(stamps, stamps[1:])))

    cases["engine, stock net"] = lambda: dream_tensor(x, recipe, nets["stock"], seed=0)
    cases["engine, fast net"] = engine_fast
    times = interleaved(cases, plan.reps, device)
    row: dict = {"tiles": tiles, "views": views, "compile_s": compile_s, "tps": {}}
    for name, ts in times.items():
        n = views if name.startswith("engine") else tiles
        row["tps"][name] = n / statistics.median(ts)
        print(f"  {name:<26} {row['tps'][name]:7.2f} tiles/s   (repeats {fmt(ts)})")
    # A step's work is a batch of 8 views: its time over the net's on 8 views, as a step runs it
    # (a few at a time on a CPU); the raw batch of 8 in one pass is printed beside it.
    per_batch = [t / len(batches) for t in times["fast net, as a step runs it"]]
    row["overhead"] = paired_ratio(steps[1:], per_batch) - 1  # steps[0]: the warm-up run
    row["step_s"] = statistics.median(steps[1:])
    row["net_s"] = statistics.median(per_batch)
    row["whole_s"] = statistics.median(t / len(batches) for t in times["fast net"])
    print(f"  engine step (8 views, fast net) {row['step_s']:.3f} s; the net on its 8 views as a step "
          f"runs them {row['net_s']:.3f} s (in one batch {row['whole_s']:.3f} s)")
    row["engine_speedup"] = paired_ratio(times["engine, stock net"], times["engine, fast net"])
    row["net_speedup"] = paired_ratio(times["stock net"], times["fast net"])
    if compile_:
        row["compile_speedup"] = paired_ratio(times["fast net"], times["fast net, torch.compile"])
        print(f"  torch.compile: {row['compile_speedup']:.2f}x the fast net after warm-up "
              f"(compiling took {compile_s:.0f} s)")
    row["net_share"] = 1 / (1 + row["overhead"])
    print(f"  fast net {row['net_speedup']:.2f}x the stock net; engine with it {row['engine_speedup']:.2f}x "
          f"the engine with the stock net; engine overhead over the fast net {100 * row['overhead']:+.1f} %: "
          f"the net's share of a step {100 * row['net_share']:.0f} %")
    return row


# --- 2. the default dream against plain passes of the stock net -------------------------------
def section_ratio(nets: dict, class_id: int, plan: "Plan", device, amp: bool) -> dict:
    w, h = plan.ratio_photo
    x = to_tensor(photo(w, h), device)
    batches = raw_batches(nets["stock"], x, 20)
    time_it = timer(device)
    time_it(lambda: fwd_bwd(nets["stock"], nets["stock"].module, batches[:2], class_id, amp))  # warm
    before = time_it(lambda: fwd_bwd(nets["stock"], nets["stock"].module, batches, class_id, amp))
    recipe = Recipe(classes=dict(CLASSES))
    if plan.ratio_steps is not None:
        recipe = recipe.replace(steps=plan.ratio_steps)
    picture = photo(w, h)
    made: list = []
    dream_s = time_it(lambda: made.append(dream(picture, recipe, device=str(device), net=nets["fast"])))
    ran = made[-1].info.get(STOPPED_AT, recipe.views.steps)  # stop_seen: it may be done before the cap
    after = time_it(lambda: fwd_bwd(nets["stock"], nets["stock"].module, batches, class_id, amp))
    plain = (before + after) / 2
    # The floor under any loop: the fast net alone, as a step runs it, over the views the dream's
    # steps saw (a step: one batch of recipe.batch_size views), timed on 20 such batches.
    fast = raw_batches(nets["fast"], x, 20, recipe.batch_size)
    net_s = time_it(lambda: fwd_bwd(nets["fast"], nets["fast"].module, fast, class_id, amp, chunked=True)) * ran / 20
    row = {"dream_s": dream_s, "plain_s": plain, "ratio": dream_s / plain, "steps": ran, "size": (w, h),
           "net_floor_s": net_s, "floor_ratio": net_s / plain}
    print(f"  default dream of {w}x{h} ({ran} of {recipe.views.steps} steps): {dream_s:.1f} s; "
          "160 plain fwd+bwd of the "
          f"stock net: {before:.1f} s before, {after:.1f} s after -> {row['ratio']:.2f}x")
    print(f"  the fast net alone over those {ran} steps' views: {net_s:.1f} s -> {row['floor_ratio']:.2f}x "
          "(the floor any loop around the net stays above)")
    return row


# --- 4. thin pictures -------------------------------------------------------------------------
def section_shapes(net, plan: "Plan", device) -> dict:
    thin, wide = plan.thin, plan.square
    pics = {s: to_tensor(photo(*s), device) for s in (thin, wide)}
    out = {}
    for label, recipe in (("default", Recipe.from_flat(classes=dict(CLASSES), steps=plan.shape_steps)),
                          ("classic", Recipe.from_flat(classes=dict(CLASSES), method="tiles", octaves=1,
                                                       iterations=plan.shape_steps // 4 or 1))):
        cases = {f"{label} {w}x{h}": (lambda x=pics[(w, h)], r=recipe: dream_tensor(x, r, net, seed=0))
                 for (w, h) in (thin, wide)}
        times = interleaved(cases, plan.reps, device)
        per_px = {s: [t / (s[0] * s[1]) for t in times[f"{label} {s[0]}x{s[1]}"]] for s in (thin, wide)}
        out[label] = paired_ratio(per_px[thin], per_px[wide])
        print(f"  {label}: {thin[0]}x{thin[1]} {statistics.median(times[f'{label} {thin[0]}x{thin[1]}']):.1f} s, "
              f"{wide[0]}x{wide[1]} {statistics.median(times[f'{label} {wide[0]}x{wide[1]}']):.1f} s "
              f"-> per pixel {out[label]:.2f}x the 4:3 picture's")
    return out


# --- 5. several pictures per batch -------------------------------------------------------------
def section_batch(net, plan: "Plan", k: int, device) -> dict:
    photos = sorted(PHOTO.parent.glob("*.jpg"))
    xs = [to_tensor(Image.open(photos[i % len(photos)]).convert("RGB"), device) for i in range(k)]
    recipe = Recipe.from_flat(classes=dict(CLASSES), steps=plan.batch_steps)
    recipes, seeds = [recipe] * k, list(range(k))
    out: dict[str, list] = {}
    cases = {
        "1 per batch": lambda: out.__setitem__("alone", [dream_tensor(x, recipe, net, s) for x, s in zip(xs, seeds)]),
        f"{k} per batch": lambda: out.__setitem__("batch", dream_batch_tensor(xs, recipes, net, seeds)),
    }
    times = interleaved(cases, plan.batch_reps, device)
    per_min = {n: 60 * k / statistics.median(ts) for n, ts in times.items()}
    diff = max(float((a - b).abs().max()) for a, b in zip(out["alone"], out["batch"]))
    sizes = ", ".join(f"{x.shape[-1]}x{x.shape[-2]}" for x in xs)
    for n, ts in times.items():
        print(f"  {n:<12} {per_min[n]:6.2f} dreams/min   (repeats {fmt(ts)})")
    row = {"k": k, "steps": recipe.views.steps, "per_min": per_min, "diff": diff,
           "speedup": paired_ratio(times["1 per batch"], times[f"{k} per batch"])}
    print(f"  {k} pictures ({sizes}), {recipe.views.steps} steps of {recipe.batch_size} views each: {k} per batch "
          f"{row['speedup']:.2f}x 1 per batch; largest pixel difference {diff:.1e}")
    return row


# --- plan, report ---------------------------------------------------------------------------
@dataclass
class Plan:
    raw_batches: int  # batches of 8 tiles per timing in section 1
    engine_steps: int
    reps: int
    ratio_photo: tuple[int, int]
    ratio_steps: int | None  # None: the default recipe's
    cases: list[Case]
    thin: tuple[int, int]
    square: tuple[int, int]
    shape_steps: int
    batch_steps: int  # section 5: steps of each dream
    batch_reps: int


def make_plan(quick: bool) -> Plan:
    if quick:
        return Plan(2, 2, 2, (500, 436), 4, [Case("default", MODEL, 512, 384, 4),
                                            Case("one step", MODEL, 2000, 1500, 1),
                                            Case("one step", "tiny", 1155, 866, 1),
                                            Case("one step", "tiny", 2000, 1500, 1)],
                    (2000, 125), (577, 433), 4, 2, 1)
    return Plan(8, 8, 5, (1000, 872), None, [
        Case("default", MODEL, 1024, 768, None), Case("default", MODEL, 4000, 3000, None),
        Case("one step", MODEL, 4000, 3000, 1), Case("one step", "tiny", 1155, 866, 1),
        Case("one step", "tiny", 4000, 3000, 1)],
        (4000, 250), (1155, 866), 16, 8, 3)


def machine(device: torch.device) -> str:
    cpu = platform.processor()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "dreamer", "models"], cwd=ROOT).returncode
        code = head + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        code = "unknown"
    return "\n".join([
        f"machine : {platform.machine()} {cpu}, {os.cpu_count()} CPUs ({threads.usable_cores()} usable), "
        f"python {platform.python_version()}",
        f"torch   : {torch.__version__}, threads per dream {threads.thread_share()}",
        f"device  : {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"code    : {code}",
        f"load    : {load()}",
    ])


def markdown(device, tiles, ratio, dreams, shapes, batch, quick: bool, loads: tuple[str, str]) -> str:
    dev = "GPU " + torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    out = [f"| {MODEL}, {dev}, torch {torch.__version__}{' (--quick)' if quick else ''} | measured | goal |",
           "|---|---|---|"]
    if tiles:
        t = tiles["tps"]
        out.append(f"| raw forward+backward, batch 8: stock net / fast net | {t['stock net']:.1f} / "
                   f"{t['fast net']:.1f} tiles/s (×{tiles['net_speedup']:.2f}) | |")
        if "compile_speedup" in tiles:
            out.append(f"| torch.compile of the fast net, after warm-up | ×{tiles['compile_speedup']:.2f} "
                       f"(compiling {tiles['compile_s']:.0f} s) | adopt if ≥ 1.2× |")
        out.append(f"| engine at the default recipe: stock net → fast net | {t['engine, stock net']:.1f} → "
                   f"{t['engine, fast net']:.1f} tiles/s (×{tiles['engine_speedup']:.2f}) | ≥ 1.8× |")
        out.append(f"| engine overhead over raw forward+backward of the fast net | "
                   f"{100 * tiles['overhead']:+.0f} % | ≤ 10 % |")
    if ratio:
        w, h = ratio["size"]
        out.append(f"| default dream of {w}×{h} over 160 plain forward+backward of the stock net | "
                   f"{ratio['ratio']:.2f}× ({ratio['dream_s']:.1f} s / {ratio['plain_s']:.1f} s) | ≤ 3.0× |")
        out.append(f"| the fast net alone over the same steps' views (the floor) | {ratio['floor_ratio']:.2f}× "
                   f"({ratio['net_floor_s']:.1f} s) | |")
    for case, r in dreams.items():
        if case == "slope":
            out.append(f"| full-size float buffers (memory growth from {r['from'] / 1e6:.1f} to "
                       f"{r['to'] / 1e6:.0f} MP, tiny net) | {r['buffers']:.1f} | ≤ 6 |")
            continue
        size = f"{case.width}×{case.height}"
        if case.model == "tiny":
            continue
        goal = "≤ 1.2 GB" if case.label == "one step" and case.width * case.height >= 12_000_000 else ""
        out.append(f"| {size}, {case.label} ({r['steps']} steps) | {r['wall_s']:.1f} s, peak RSS "
                   f"{r['peak'] / MB:.0f} MB | {goal} |")
    for label, v in shapes.items():
        out.append(f"| {label} engine: a 16:1 picture's cost per pixel, over a 4:3 one's | {v:.2f}× | ≤ 2× |")
    if batch:
        k, m = batch["k"], batch["per_min"]
        goal = "≥ 3× on a GPU" if device.type == "cuda" else "(≥ 3× is a GPU goal)"
        out.append(f"| {k} pictures per batch over 1 ({batch['steps']} steps each) | {m['1 per batch']:.1f} → "
                   f"{m[f'{k} per batch']:.1f} dreams/min (×{batch['speedup']:.2f}) | {goal} |")
    if device.type != "cuda":
        out.append("| on a GPU: the 1024×768 dream | not measured here (run with --device cuda) | ≤ 1.5 s |")
    out.append(f"| load average before → after | {loads[0]} → {loads[1]} | |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when there is one)")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats: a smoke test")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the fast net")
    ap.add_argument("--sections", default="12345", help="which sections to run (default 12345)")
    ap.add_argument("--batch-k", type=int, default=4, help="pictures per batch in section 5 (default 4)")
    args = ap.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.batch_k < 1:
        ap.error("--batch-k must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA GPU", file=sys.stderr)
        return 2

    device = torch.device(args.device)
    amp = False  # the engine's own rule: the net in float32 on every device (benchmarks/README.md, session 18)
    plan = make_plan(args.quick)
    loads = [load()]
    print(machine(device))
    torch.set_num_threads(threads.thread_share())  # what a dream would use
    nets = {"stock": build_efficientnet_lite(MODEL, fast=False).to(device), "fast": create_model(MODEL, device=str(device))}
    class_id = next(iter(resolve_classes(Recipe(classes=dict(CLASSES)), nets["fast"])))
    tiles, ratio, dreams, shapes, batch = {}, {}, {}, {}, {}
    if "1" in args.sections:
        print(f"\n1. tiles/s (median of {plan.reps})   load {load()}")
        tiles = section_tiles(nets, to_tensor(photo(*plan.ratio_photo), device), class_id, plan, device, amp,
                              args.compile)
    if "2" in args.sections:
        print(f"\n2. the default dream against plain passes of the stock net   load {load()}")
        ratio = section_ratio(nets, class_id, plan, device, amp)
    if "3" in args.sections:
        print(f"\n3. whole dreams, each in a fresh process   load {load()}")
        dreams = section_dreams(plan, args.device)
    if "4" in args.sections:
        print(f"\n4. a thin picture against a 4:3 one of the same area   load {load()}")
        shapes = section_shapes(nets["fast"], plan, device)
    if "5" in args.sections:
        print(f"\n5. dreams/min, 1 against {args.batch_k} pictures per batch   load {load()}")
        batch = section_batch(nets["fast"], plan, args.batch_k, device)
    loads.append(load())
    print(f"\nload before {loads[0]}, after {loads[1]}\n")
    print(markdown(device, tiles, ratio, dreams, shapes, batch, args.quick, (loads[0], loads[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
