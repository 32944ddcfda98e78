"""benchmarks/engine.py section 3: whole dreams, each in a fresh process (wall time, peak RSS,
and the full-size buffers a photo's own size costs). `engine.py` runs this file as the child."""
from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from engine_timing import CLASSES, MB, ROOT, photo  # noqa: E402  (a sibling: this folder is on sys.path)
from dreamer.recipe import Recipe  # noqa: E402
from dreamer.render import dream  # noqa: E402
from models import create_model  # noqa: E402


@dataclass(frozen=True)
class Case:
    label: str
    model: str
    width: int
    height: int
    steps: int | None  # None: the default recipe's

    @property
    def arg(self) -> str:
        return f"{self.label}:{self.model}:{self.width}x{self.height}:{self.steps or 0}"

    @classmethod
    def parse(cls, arg: str) -> "Case":
        label, model, size, steps = arg.split(":")
        w, h = size.split("x")
        return cls(label, model, int(w), int(h), int(steps) or None)


def proc_status(key: str) -> int:
    """VmRSS or VmHWM (its high-water mark) of this process, in bytes. Not ru_maxrss: Linux
    carries a parent's high-water mark across fork+exec into the child's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def child_case(case: Case, device: str) -> None:
    """Runs in its own process: one dream, then one JSON line of figures on stdout."""
    net = create_model(case.model, device=device)
    image = photo(case.width, case.height)
    recipe = Recipe(model=case.model, classes=dict(CLASSES))
    if case.steps is not None:
        recipe = recipe.replace(steps=case.steps)
    gc.collect()
    before = proc_status("VmRSS")
    try:  # reset VmHWM to now (Linux >= 4.0), so the peak read after is the dream's own
        Path("/proc/self/clear_refs").write_text("5")
        own = True
    except OSError:
        own = False
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    out = dream(image, recipe, device=device, net=net)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    assert out.size == image.size
    print(json.dumps({"wall_s": wall, "before": before, "peak": proc_status("VmHWM"), "own": own,
                      "threads": torch.get_num_threads(), "steps": recipe.views.steps,
                      "cuda_peak": torch.cuda.max_memory_allocated() if device.startswith("cuda") else None}))


def section_dreams(plan, device: str) -> dict:
    """Each of plan.cases (a list of Case) in a fresh process."""
    rows: dict = {}
    for case in plan.cases:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case.arg, "--device", device]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            print(f"  {case.arg}: FAILED\n{res.stderr[-2000:]}")
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        buf = 12 * case.width * case.height  # one float32 RGB picture
        row["growth"] = row["peak"] - row["before"]
        row["buffers"] = row["growth"] / buf
        rows[case] = row
        cuda = f", CUDA max allocated {row['cuda_peak'] / MB:.0f} MB" if row["cuda_peak"] else ""
        print(f"  {case.width}x{case.height} {case.label} ({case.model}, {row['steps']} steps): "
              f"{row['wall_s']:.1f} s, peak RSS {row['peak'] / MB:.0f} MB"
              f"{'' if row['own'] else ' (since start)'} (+{row['growth'] / MB:.0f} MB during the dream){cuda}")
    # Full-size buffers: how memory grows with the photo beyond the ~1 MP the loop works at, in
    # float RGB pictures (the tiny net, so the net's own activations do not blur the count).
    tiny = sorted((c.width * c.height, r) for c, r in rows.items() if c.model == "tiny")
    if len(tiny) >= 2:
        (px0, r0), (px1, r1) = tiny[0], tiny[-1]
        rows["slope"] = {"buffers": (r1["growth"] - r0["growth"]) / (12 * (px1 - px0)), "from": px0, "to": px1}
        print(f"  full-size buffers ({px0 / 1e6:.1f} -> {px1 / 1e6:.1f} MP, tiny net): "
              f"{rows['slope']['buffers']:.1f} float RGB pictures")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    child_case(Case.parse(a.child), a.device)
