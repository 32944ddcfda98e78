"""What a dive video costs: seconds of computing per second of video at the default dive recipe,
where the time goes (dreaming keyframes, gliding and encoding), and the process's peak memory.

    .venv/bin/python benchmarks/dive.py                       # the default dive (6 s of video)
    .venv/bin/python benchmarks/dive.py --frames 48           # a shorter one, projected to 6 s
    .venv/bin/python benchmarks/dive.py --device cuda --out docs/dive.mp4

The default dive is dreamer.dive.DIVE_RECIPE with DiveSettings() (EfficientNet-Lite0, 24 fps,
a keyframe every 6 frames, 480 px). Keyframes cost the same whatever the length, so a shorter
run projects to the default length by keyframes. Not a test: it prints figures.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    from dreamer.dive import DIVE_RECIPE, DiveSettings, dive_video, keyframes
    from dreamer.image_io import load_image
    from dreamer.recipe import Recipe
    from dreamer.render import load_net, pick_device
    from dreamer.video import probe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", type=Path, default=ROOT / "photos" / "chelsea.jpg")
    ap.add_argument("--classes", default="goldfish")
    ap.add_argument("--frames", type=int, default=DIVE_RECIPE["frames"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, help="keep the video here (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from models.labels import imagenet, parse_class_spec

    classes = {str(k): v for k, v in parse_class_spec(args.classes, imagenet()).items()}
    recipe = Recipe.from_dict({**DIVE_RECIPE, "frames": args.frames, "classes": classes, "seed": args.seed})
    settings = DiveSettings()
    default_keys = len(keyframes(DIVE_RECIPE["frames"], settings.glide))
    dev = str(pick_device(args.device))
    net = load_net(recipe.model, recipe.weights, dev)  # the model load is not the dive's cost
    image = load_image(args.photo)
    print(f"device {dev}, {os.cpu_count()} cores, torch threads {__import__('torch').get_num_threads()}, load {os.getloadavg()[0]:.2f}")

    dreaming = [0.0]
    last = [time.perf_counter(), None]

    def progress(p) -> None:
        now = time.perf_counter()
        if p.dream is not None:  # time since the last event was this dream's
            dreaming[0] += now - last[0]
        last[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "dive.mp4"
        t0 = last[0] = time.perf_counter()
        c0 = time.process_time()
        result = dive_video(image, recipe, out, settings, progress=progress, device=dev, net=net)
        total = time.perf_counter() - t0
        cpu = time.process_time() - c0
        info = probe(result.path)
        size_mb = result.path.stat().st_size / 1e6
    seconds = result.frames / result.fps
    per_key = dreaming[0] / result.keys
    rest = total - dreaming[0]
    projected = per_key * default_keys + rest * DIVE_RECIPE["frames"] / result.frames
    print(f"video: {info.frames} frames, {info.width}x{info.height}, {float(info.fps):g} fps, "
          f"{seconds:.1f} s, {size_mb:.2f} MB ({size_mb * 8 / seconds:.2f} Mbit/s)")
    print(f"keyframes: {result.keys} of {recipe.views.steps} steps; dreaming {dreaming[0]:.0f} s "
          f"({per_key:.1f} s a keyframe), gliding and encoding {rest:.1f} s "
          f"({1000 * rest / result.frames:.0f} ms a frame)")
    print(f"total {total:.0f} s: {total / seconds:.0f} s per video second; CPU time {cpu:.0f} s "
          f"({cpu / seconds:.0f} CPU s per video second, {cpu / total:.2f} cores busy on average)")
    print(f"the default dive ({DIVE_RECIPE['frames']} frames, {default_keys} keyframes): "
          f"{projected / 60:.1f} min projected, {projected / (DIVE_RECIPE['frames'] / settings.fps):.0f} s "
          f"per video second")
    print(f"peak memory {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
