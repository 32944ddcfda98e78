"""What benchmarks/engine.py's sections share: the photo, the class, and timing that compares
cases within one run (round-robin repeats, paired ratios)."""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "photos" / "rocket.jpg"
MODEL = "efficientnet-lite0"
CLASSES = {"goldfish": 1.0}
MB = 1024 * 1024


def photo(width: int, height: int) -> Image.Image:
    return Image.open(PHOTO).convert("RGB").resize((width, height), Image.LANCZOS)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


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
    """Warm each case up once, then time them round-robin (order rotated each repeat), so a
    neighbour's load hits them all alike."""
    time_it = timer(device)
    for fn in cases.values():
        time_it(fn)
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for n in names[r % len(names):] + names[:r % len(names)]:
            times[n].append(time_it(cases[n]))
    return times


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median of per-repeat ratios a/b: robust to load that changes between repeats."""
    return statistics.median(x / y for x, y in zip(a, b))


def fmt(ts: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in ts) + " s"
