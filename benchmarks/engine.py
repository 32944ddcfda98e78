"""Speed and memory of the lucid dream engine, measured in one run so the ratios compare.

    .venv/bin/python benchmarks/engine.py [--device cpu|cuda] [--quick] [--compile]

1. Tiles/s of the engine's `tiled_gradient` (EfficientNet-Lite0, class objective) against a raw
   forward+backward of the same net w.r.t. its input, same batch size, same tiles: the overhead.
2. The engine (batched tiles, one normalised step for the whole picture) against a
   one-tile-at-a-time loop like the original dream.py, for the same number of tile visits,
   plus extra rows for settings the engine does not use (channels_last, bf16, BN folding, ...).
3. Wall time and peak memory of whole dreams, each in a fresh subprocess: 1024x768 at the
   default recipe, and a reduced recipe at growing sizes up to 4000x3000, to show memory grows
   only by the full-size image buffers, never by the number of tiles.

Not a test: it prints figures and a Markdown table for the README. Timings are medians of
interleaved repeats (engine and baseline alternate), so a neighbour's load hits both alike.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import math
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

from dreamer import objectives as obj  # noqa: E402
from dreamer.recipe import Recipe  # noqa: E402
from dreamer.render import capture, dream, dream_tensor, resolve_classes, tiled_gradient  # noqa: E402
from dreamer.tiling import make_tiles  # noqa: E402
from dreamer.transform import gaussian_blur, to_tensor  # noqa: E402
from models import create_model  # noqa: E402

PHOTO = ROOT / "photos" / "rocket.jpg"
MODEL = "efficientnet-lite0"
CLASSES = {"goldfish": 1.0}
MB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One whole dream (or blur) in a fresh process."""

    kind: str  # "default", "default-1it", "reduced" or "blur"
    model: str  # MODEL, or "tiny": a net with next to no activations, so what its dream needs
    #             is the image buffers alone
    width: int
    height: int

    @property
    def arg(self) -> str:
        return f"{self.kind}:{self.model}:{self.width}x{self.height}"

    @classmethod
    def parse(cls, arg: str) -> "Case":
        kind, model, size = arg.split(":")
        w, h = size.split("x")
        return cls(kind, model, int(w), int(h))


@dataclass
class Plan:
    """How big each measurement is; --quick shrinks all of it."""

    picture: tuple[int, int]  # (width, height) for sections 1 and 2
    tile_repeat: int  # tiles list repeated, so a fast GPU pass is long enough to time
    reps: int
    steps: int  # engine steps in section 2
    variant_reps: int
    cases: list[Case]


def make_plan(quick: bool, cuda: bool) -> Plan:
    small, big = ((512, 384), (1024, 768)) if quick else ((1024, 768), (4000, 3000))
    cases = [Case("default-1it", MODEL, *small) if quick else Case("default", MODEL, 1024, 768),
             Case("reduced", MODEL, *small)]
    if not quick:
        cases.append(Case("reduced", MODEL, 2000, 1500))
    cases += [Case("reduced", MODEL, *big), Case("reduced", "tiny", *small), Case("reduced", "tiny", *big),
              Case("blur", "-", *big)]
    if quick:
        return Plan((448, 336), 4 if cuda else 1, 2, 1, 1, cases)
    return Plan((1024, 768), 8 if cuda else 1, 10 if cuda else 5, 10 if cuda else 2, 5, cases)


def recipe_for(case: Case) -> Recipe:
    # The tiny net dreams with Lite0's tile size, so it visits the same tiles.
    extra = {"model": "tiny", "tile_size": 224} if case.model == "tiny" else {}
    if case.kind == "default":
        return Recipe(classes=dict(CLASSES), **extra)
    if case.kind == "default-1it":  # --quick only: the default recipe's shape, one step per octave
        return Recipe(classes=dict(CLASSES), iterations=1, steps=4, **extra)
    if case.kind == "reduced":  # one step at full size: the memory of one step, not of octaves
        return Recipe(classes=dict(CLASSES), octaves=1, iterations=1, steps=1, max_pixels=16_000_000, **extra)
    raise ValueError(case.kind)


def photo(width: int, height: int) -> Image.Image:
    return Image.open(PHOTO).convert("RGB").resize((width, height), Image.LANCZOS)


# --- timing ------------------------------------------------------------------------------
def timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    def run(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t

    return run


def interleaved(cases: dict[str, Callable[[], object]], reps: int, device: torch.device) -> dict[str, list[float]]:
    """Warm each case up once, then time them round-robin `reps` times (order rotated each rep)."""
    time_it = timer(device)
    for fn in cases.values():
        time_it(fn)
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            times[n].append(time_it(cases[n]))
    return times


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median of per-repeat ratios a/b: robust to load that changes between repeats."""
    return statistics.median(x / y for x, y in zip(a, b))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


# --- section 1: engine vs raw forward+backward -------------------------------------------
def section_throughput(net, x, class_id, plan: Plan, device, amp: bool) -> list[dict]:
    _, _, h, w = x.shape
    tile, overlap = net.input_size, 0.25
    tiles = make_tiles(h, w, tile, overlap) * plan.tile_repeat
    objective = obj.class_logits({class_id: 1.0})
    rows = []
    for batch in (8, 1):
        # The same tiles, already normalised: exactly what the net sees inside the engine.
        batches = [
            net.normalise(torch.stack([x[0, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles[i:i + batch]]))
            .requires_grad_(True)
            for i in range(0, len(tiles), batch)
        ]

        def raw() -> None:
            for xb in batches:
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                    logits = net.module(xb)
                torch.autograd.grad(logits[:, class_id].float().sum(), xb)

        with capture(net, objective.layers) as run:
            times = interleaved(
                {"engine": lambda: tiled_gradient(x, run, objective, tiles, batch, overlap, amp), "raw": raw},
                plan.reps, device,
            )
        eng, rw = statistics.median(times["engine"]), statistics.median(times["raw"])
        row = {
            "batch": batch, "tiles": len(tiles),
            "engine_tps": len(tiles) / eng, "raw_tps": len(tiles) / rw,
            "overhead": paired_ratio(times["engine"], times["raw"]) - 1,
        }
        print(f"  B={batch}: {len(tiles)} tiles of {tile}px  engine {row['engine_tps']:7.2f} tiles/s   "
              f"raw fwd+bwd {row['raw_tps']:7.2f} tiles/s   overhead {100 * row['overhead']:+5.1f} %   "
              f"(engine repeats {fmt_times(times['engine'])})")
        rows.append(row)
    return rows


def fmt_times(ts: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in ts) + " s"


# --- section 2: engine vs one tile at a time -------------------------------------------------
def tile_loop_dream(x, net, class_id: int, visits: int, recipe: Recipe, rng: random.Random, amp: bool):
    """The original dream.py's way, as a baseline: jitter, pad the picture with its mean colour
    to whole tiles, then for each tile in a spiral from the centre: forward+backward of that one
    tile, and a normalised step applied to that tile only. Stops after `visits` tiles."""
    tile = net.input_size
    stride = round(tile * (1 - recipe.tile_overlap))
    lr, sigma = recipe.step_start, recipe.sigma_start
    done = 0
    while done < visits:
        dy, dx = rng.randint(-recipe.jitter, recipe.jitter), rng.randint(-recipe.jitter, recipe.jitter)
        x = torch.roll(x, (dy, dx), (2, 3))
        _, _, h, w = x.shape
        ys = [i * stride for i in range(max(1, math.ceil((h - tile) / stride) + 1))]
        xs = [i * stride for i in range(max(1, math.ceil((w - tile) / stride) + 1))]
        canvas = x.mean((2, 3), keepdim=True).expand(1, 3, ys[-1] + tile, xs[-1] + tile).clone()
        canvas[:, :, :h, :w] = x
        cy, cx = ys[-1] / 2, xs[-1] / 2
        spiral = sorted(((y, x_) for y in ys for x_ in xs),
                        key=lambda p: (max(abs(p[0] - cy), abs(p[1] - cx)), math.atan2(p[0] - cy, p[1] - cx)))
        for ty, tx in spiral:
            if done == visits:
                break
            t = canvas[:, :, ty:ty + tile, tx:tx + tile].clone().requires_grad_(True)
            with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=amp):
                logits = net.module(net.normalise(t))
            (g,) = torch.autograd.grad(logits[:, class_id].float().sum(), t)
            canvas[:, :, ty:ty + tile, tx:tx + tile] += (lr / 255.0) * g / (g.abs().mean() + 1e-8)
            done += 1
        x = torch.roll(canvas[:, :, :h, :w], (-dy, -dx), (2, 3))
        x = gaussian_blur(x, sigma).clamp(0, 1)
    return x


def count_visits(net, fn: Callable[[], object]) -> int:
    seen = [0]
    handle = net.module.register_forward_pre_hook(lambda _m, inp: seen.__setitem__(0, seen[0] + inp[0].shape[0]))
    try:
        fn()
    finally:
        handle.remove()
    return seen[0]


def section_vs_loop(net, x, class_id, plan: Plan, device, amp: bool) -> dict:
    # The tiles engine (preset classic): this section is about batching tiles against one at a time.
    recipe = Recipe(classes=dict(CLASSES), method="tiles", octaves=1, iterations=plan.steps)
    # amp follows the engine's own rule (bf16 on CUDA only); the loop gets the same, so only
    # batching and the whole-picture step differ.
    engine = lambda: dream_tensor(x, recipe, net, seed=0)  # noqa: E731
    visits = count_visits(net, engine)
    loop = lambda: tile_loop_dream(x, net, class_id, visits, recipe, random.Random(0), amp)  # noqa: E731
    times = interleaved({"engine": engine, "loop": loop}, max(1, plan.reps - 2), device)
    row = {
        "visits": visits, "steps": plan.steps,
        "engine_tps": visits / statistics.median(times["engine"]),
        "loop_tps": visits / statistics.median(times["loop"]),
        "speedup": paired_ratio(times["loop"], times["engine"]),
    }
    print(f"  {visits} tile visits ({plan.steps} engine steps on {x.shape[-1]}x{x.shape[-2]}):  "
          f"engine {row['engine_tps']:.2f} tiles/s, one-tile loop {row['loop_tps']:.2f} tiles/s  "
          f"-> engine {row['speedup']:.2f}x faster")
    return row


# --- section 2b: settings the engine does not use --------------------------------------------
def fold_batchnorm(net):
    """A copy of the net with every eval-mode BatchNorm folded into the conv before it (what
    inference exporters do): the backward pass then skips the BN layers."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net)
    pairs = [("_conv_stem", "_bn0"), ("_conv_head", "_bn1"), ("_expand_conv", "_bn0"),
             ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
    for m in net.module.modules():
        for conv, bn in pairs:
            if isinstance(getattr(m, conv, None), torch.nn.Conv2d) and isinstance(getattr(m, bn, None), torch.nn.BatchNorm2d):
                setattr(m, conv, fuse_conv_bn_eval(getattr(m, conv), getattr(m, bn)))
                setattr(m, bn, torch.nn.Identity())
    return net


def channels_last(net):
    net = copy.deepcopy(net)
    net.module.to(memory_format=torch.channels_last)
    return net


def compiled(net):
    net = copy.deepcopy(net)
    net.module = torch.compile(net.module, dynamic=False)
    return net


def with_cudnn_benchmark(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        old = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            return fn()
        finally:
            torch.backends.cudnn.benchmark = old

    return run


def section_variants(net, x, class_id, plan: Plan, device, amp: bool, try_compile: bool) -> list[dict]:
    """Engine tiles/s (tiled_gradient, B=8) with settings the engine itself does not use.
    The engine code is untouched: each variant changes the net or what `run` is handed."""
    _, _, h, w = x.shape
    tiles = make_tiles(h, w, net.input_size, 0.25) * plan.tile_repeat
    objective = obj.class_logits({class_id: 1.0})
    to_cl = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
    variants: dict[str, tuple] = {"engine as is": (net, None, amp)}
    variants["channels_last (weights + tiles)"] = (channels_last(net), to_cl, amp)
    if device.type == "cpu":
        variants["bf16 autocast (amp=True)"] = (net, None, True)
    else:
        variants["fp32, no autocast"] = (net, None, False)
        variants["bf16 autocast + channels_last"] = (variants["channels_last (weights + tiles)"][0], to_cl, True)
    folded = fold_batchnorm(net)
    check = torch.rand(2, 3, net.input_size, net.input_size, device=device)
    with torch.no_grad():
        diff = (folded.module(check) - net.module(check)).abs().max().item()
    variants[f"BatchNorm folded into convs (max logit diff {diff:.1e})"] = (folded, None, amp)
    variants["BatchNorm folded + channels_last"] = (channels_last(folded), to_cl, amp)
    if try_compile:
        variants["torch.compile(net)"] = (compiled(net), None, amp)

    with contextlib.ExitStack() as stack:
        cases = {}
        for name, (vnet, convert, vamp) in variants.items():
            run = stack.enter_context(capture(vnet, objective.layers))
            if convert is not None:
                run = (lambda r, c: lambda xb: r(c(xb)))(run, convert)
            cases[name] = (lambda r, a: lambda: tiled_gradient(x, r, objective, tiles, 8, 0.25, a))(run, vamp)
        if device.type == "cuda":
            cases["cudnn.benchmark = True"] = with_cudnn_benchmark(cases["engine as is"])
        times = interleaved(cases, plan.variant_reps, device)
    base = times["engine as is"]
    rows = []
    for name, ts in times.items():
        row = {"name": name, "tps": len(tiles) / statistics.median(ts),
               "speedup": paired_ratio(base, ts)}
        print(f"  {name:<58} {row['tps']:7.2f} tiles/s   x{row['speedup']:.2f} vs engine as is")
        rows.append(row)
    return rows


# --- section 3: whole dreams in fresh processes ----------------------------------------------
def proc_status(key: str) -> int:
    """VmRSS (resident now) or VmHWM (its high-water mark) of this process, in bytes.

    Not ru_maxrss: Linux carries the parent's high-water mark across fork+exec into the child's
    ru_maxrss, so a child started by a 1 GB parent reports >= 1 GB whatever it does."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the dream's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child_case(case: Case, device: str) -> None:
    """Runs in its own process: one dream, then one JSON line of figures on stdout."""
    dev = torch.device(device)
    t = time.perf_counter()
    net = create_model(case.model, device=device) if case.kind != "blur" else None
    load_s = time.perf_counter() - t
    image = photo(case.width, case.height)
    x = to_tensor(image, dev) if case.kind == "blur" else None
    gc.collect()
    load_peak, before_rss = proc_status("VmHWM"), proc_status("VmRSS")
    was_reset = reset_peak()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    visits = [0]
    t = time.perf_counter()
    if case.kind == "blur":
        gaussian_blur(x, Recipe().sigma_start)
    else:
        net.module.register_forward_pre_hook(lambda _m, inp: visits.__setitem__(0, visits[0] + inp[0].shape[0]))
        out = dream(image, recipe_for(case), device=device, net=net)
        assert out.size == image.size
    if dev.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    print(json.dumps({
        "case": case.arg, "load_s": load_s, "wall_s": wall, "visits": visits[0],
        "load_peak": load_peak, "before_rss": before_rss, "peak": proc_status("VmHWM"),
        "peak_is_own": was_reset,
        "cuda_peak": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None,
    }))


def buffer_bytes(case: Case) -> int:
    return 12 * case.width * case.height  # one float32 RGB picture


def section_memory(plan: Plan, device: str) -> dict[Case, dict]:
    rows: dict[Case, dict] = {}
    for case in plan.cases:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case.arg, "--device", device]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            print(f"  {case.arg}: FAILED\n{res.stderr[-2000:]}")
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["growth"] = row["peak"] - row["before_rss"]
        rows[case] = row
        buf = buffer_bytes(case)
        what = "gaussian_blur alone" if case.kind == "blur" else f"{case.kind} recipe, {case.model}"
        speed = (f", {row['visits']} tile visits, {row['visits'] / row['wall_s']:.2f} tiles/s"
                 if row["visits"] else "")
        cuda = f", CUDA max allocated {row['cuda_peak'] / MB:.0f} MB" if row["cuda_peak"] else ""
        print(f"  {case.width}x{case.height} {what}: {row['wall_s']:.1f} s{speed}\n"
              f"      peak RSS {row['peak'] / MB:.0f} MB{'' if row['peak_is_own'] else ' (since start)'}, "
              f"RSS before {row['before_rss'] / MB:.0f} MB -> +{row['growth'] / MB:.0f} MB "
              f"= {row['growth'] / buf:.1f} float RGB buffers of {buf / MB:.1f} MB{cuda}")
    for size in sorted({(c.width, c.height) for c in rows if c.kind == "reduced"}):
        lite = rows.get(Case("reduced", MODEL, *size))
        tiny = rows.get(Case("reduced", "tiny", *size))
        if lite and tiny:
            lite["beyond"] = lite["growth"] - tiny["growth"]
            print(f"  {size[0]}x{size[1]}: image buffers alone (same dream, tiny net) +{tiny['growth'] / MB:.0f} MB; "
                  f"{MODEL} +{lite['growth'] / MB:.0f} MB; beyond the image buffers {lite['beyond'] / MB:.0f} MB")
    return rows


# --- report ---------------------------------------------------------------------------------
def machine(device: torch.device) -> str:
    lines = [
        f"machine : {platform.machine()} {platform_cpu()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}",
        f"torch   : {torch.__version__}, intra-op threads {torch.get_num_threads()}, "
        f"inter-op threads {torch.get_num_interop_threads()}",
        f"device  : {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"code    : {code_version()}",
        f"load    : {load()}",
    ]
    return "\n".join(lines)


def code_version() -> str:
    """The commit measured, and whether the working tree had changes on top (figures move with
    the engine, so say which engine made them)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "dreamer", "models"], cwd=ROOT).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in dreamer/ or models/" if dirty else "")


def platform_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def markdown(device, thr, loop, variants, mem, quick: bool, loads: tuple[str, str]) -> str:
    dev = "GPU " + torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    loop_goal = "≥ 30×" if device.type == "cuda" else "≥ 3×"
    out = [f"| {MODEL}, {dev}, torch {torch.__version__}{' (--quick)' if quick else ''} | figure | goal |",
           "|---|---|---|"]
    for r in thr:
        if "cuda_peak" in r:
            out.append(f"| CUDA max memory allocated, B=8 and B=1 | {r['cuda_peak'] / MB:.0f} MB | |")
        out.append(f"| engine `tiled_gradient`, B={r['batch']} | {r['engine_tps']:.2f} tiles/s | |")
        out.append(f"| raw forward+backward, B={r['batch']} | {r['raw_tps']:.2f} tiles/s | |")
        out.append(f"| engine overhead, B={r['batch']} | {100 * r['overhead']:+.1f} % | ≤ 10 % |")
    if loop:
        out.append(f"| engine vs one-tile-at-a-time loop ({loop['visits']} tile visits) | "
                   f"{loop['speedup']:.2f}× ({loop['engine_tps']:.2f} vs {loop['loop_tps']:.2f} tiles/s) "
                   f"| {loop_goal} |")
    for v in variants[1:]:
        out.append(f"| extra: {v['name']} | {v['tps']:.2f} tiles/s (×{v['speedup']:.2f}) | |")
    for case, r in mem.items():
        size = f"{case.width}×{case.height}"
        if case.kind == "blur":
            out.append(f"| {size}: `gaussian_blur` alone, peak memory | "
                       f"+{r['growth'] / MB:.0f} MB = {r['growth'] / buffer_bytes(case):.1f} image buffers, "
                       f"{r['wall_s']:.1f} s | |")
            continue
        label = {"default": "default recipe", "default-1it": "default recipe, 1 step/octave",
                 "reduced": "1 octave, 1 step"}[case.kind]
        if case.model == "tiny":
            out.append(f"| {size}, {label}, tiny net (image buffers alone): peak memory | "
                       f"+{r['growth'] / MB:.0f} MB = {r['growth'] / buffer_bytes(case):.1f} image buffers | |")
            continue
        goal = "≤ 45 s" if case.kind == "default" and device.type == "cpu" else ""
        cuda = f"; CUDA max allocated {r['cuda_peak'] / MB:.0f} MB" if r["cuda_peak"] else ""
        out.append(f"| {size}, {label}: wall time | {r['wall_s']:.1f} s ({r['visits']} tile visits) | {goal} |")
        beyond = f"; {r['beyond'] / MB:.0f} MB beyond the image buffers" if "beyond" in r else ""
        out.append(f"| {size}, {label}: peak RSS | {r['peak'] / MB:.0f} MB "
                   f"(+{r['growth'] / MB:.0f} MB during the dream{beyond}{cuda}) | |")
    beyond = [(c, r) for c, r in mem.items() if "beyond" in r]
    if len(beyond) >= 2:
        (c0, r0), (c1, r1) = beyond[0], beyond[-1]
        out.append(f"| memory beyond the image buffers, {c0.width}×{c0.height} → {c1.width}×{c1.height} "
                   f"(tile visits ×{r1['visits'] / r0['visits']:.0f}) | "
                   f"{r0['beyond'] / MB:.0f} MB → {r1['beyond'] / MB:.0f} MB | does not grow |")
    out.append(f"| load average before → after | {loads[0]} → {loads[1]} | |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats: a smoke test under a minute")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(net) (slow to compile)")
    ap.add_argument("--sections", default="123",
                    help="which sections to run, e.g. 3 to re-time the whole dreams alone (default 123)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA GPU", file=sys.stderr)
        return 2
    if args.child:
        child_case(Case.parse(args.child), args.device)
        return 0

    device = torch.device(args.device)
    amp = device.type == "cuda"  # the engine's own rule (dream_tensor)
    plan = make_plan(args.quick, device.type == "cuda")
    load_before = load()
    print(machine(device))
    t0 = time.perf_counter()
    net = create_model(MODEL, device=str(device))
    class_id = next(iter(resolve_classes(Recipe(classes=dict(CLASSES)), net)))
    x = to_tensor(photo(*plan.picture), device)
    print(f"model   : {MODEL}, tile {net.input_size}px, class {class_id} (goldfish), "
          f"autocast {'bf16' if amp else 'off'}, loaded in {time.perf_counter() - t0:.1f} s")

    thr, loop, variants, mem = [], None, [], {}
    if "1" in args.sections:
        print(f"\n1. engine tiled_gradient vs raw forward+backward (median of {plan.reps}, picture "
              f"{plan.picture[0]}x{plan.picture[1]})   load {load()}")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        thr = section_throughput(net, x, class_id, plan, device, amp)
        if device.type == "cuda":
            thr[0]["cuda_peak"] = torch.cuda.max_memory_allocated()
            print(f"  CUDA max memory allocated: {thr[0]['cuda_peak'] / MB:.0f} MB")
    if "2" in args.sections:
        print(f"\n2. engine (batched, whole-picture step) vs one tile at a time like the original   load {load()}")
        loop = section_vs_loop(net, x, class_id, plan, device, amp)
        print(f"   extra rows: engine tiled_gradient B=8 with settings it does not use (median of "
              f"{plan.variant_reps})   load {load()}")
        print("   (torch.inference_mode / no_grad cannot apply: the engine needs gradients w.r.t. the input;"
              " the net's parameters are already frozen, so no weight gradients are computed)")
        variants = section_variants(net, x, class_id, plan, device, amp, args.compile)
    if "3" in args.sections:
        print(f"\n3. whole dreams, each in a fresh process   load {load()}")
        mem = section_memory(plan, args.device)

    load_after = load()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s, load before {load_before}, after {load_after}\n")
    print(markdown(device, thr, loop, variants, mem, args.quick, (load_before, load_after)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
