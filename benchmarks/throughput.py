"""Dreams per minute through the render queue with 1 and 2 workers, how pictures travel, and
what batching requests buys.

    .venv/bin/python benchmarks/throughput.py [--dreams 6] [--workers 1 2] [--skip-batching]
        [--batch 4] [--batch-dreams 8] [--only-queue-batch]

1. Throughput: a real redis-server (Debian's, started here on a free port, nothing saved),
   N `run_bot.py worker` processes and the bot side's `RemoteRender` keeping N renders in
   flight; EfficientNet-Lite0 at a small recipe. Each worker first renders one warm-up dream
   (the model load), then the clock runs over `--dreams` dreams. Each worker gets
   `--threads` torch threads (default 1): on a shared, loaded machine, torch with more
   threads than free cores spin-waits and one render took 26 s instead of 1.8 s here.
2. Transport: time to put and get a 2 MB and a 10 MB picture through Redis (the queue's own
   storage) and through a file in a folder (a shared directory), median of 5.
3. Batching: 4 small (224x224) requests dreamt one after another vs. as one 2x2 mosaic, which
   is what a worker batching them would feed the engine (the same tiles in fewer, fuller
   batches).
4. Batching through the queue (`[queue] batch`): the embedded queue with K consumer threads and
   the bot keeping K renders in flight, the same jobs with batch = 1 (K dreams side by side, as
   before) and batch = K (one `dream_batch` of K pictures), alternated twice, medians; the
   recipe above with `--batch-steps` steps (the default 128 takes ~50 s a dream on one core).

Not a test: it prints figures.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/redis_server.py: the tests' redis-server

RECIPE = {"model": "efficientnet-lite0", "octaves": 1, "iterations": 4, "max_pixels": 200_000}


def write_config(tmp: Path, url: str, parallel: int) -> Path:
    recipe = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in RECIPE.items())
    path = tmp / f"bench{parallel}.toml"
    path.write_text(
        f'[bot]\nname = "Bench"\ndata_dir = "data"\n\n[schedule]\ninterval_minutes = 60\n\n'
        f'[[sources]]\ntype = "folder"\npath = "inbox"\n\n[recipe]\n{recipe}\n\n'
        f'[queue]\nurl = "{url}"\nparallel = {parallel}\nlease_seconds = 60\n', encoding="utf-8")
    return path


def photo(seed: int, size=(320, 240)):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.BICUBIC)


def throughput(n_workers: int, n_dreams: int, tmp: Path, url: str, threads: int) -> tuple[float, float]:
    """On a fresh redis-server at `url` (nothing left from an earlier run)."""
    from bot.config import load_config
    from bot.queue import RenderQueue
    from bot.queue.remote import RemoteRender

    cfg = load_config(write_config(tmp, url, n_workers), need_secrets=False)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "worker", "--config", str(cfg.path),
                               "--log-level", "WARNING"], cwd=ROOT, env=env) for _ in range(n_workers)]
    try:
        render = RemoteRender(RenderQueue.from_config(cfg))
        base = cfg.base_recipe()

        def run(seeds: list[int]) -> None:
            errors: list[BaseException] = []

            def one(s: int) -> None:
                try:
                    render.render(photo(s), base.replace(classes={str(1 + s % 900): 1.0}, seed=s))
                except BaseException as exc:  # noqa: BLE001  (reported below)
                    errors.append(exc)

            ts = [threading.Thread(target=one, args=(s,)) for s in seeds]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if errors:
                raise errors[0]

        t0 = time.monotonic()
        run(list(range(1000, 1000 + n_workers)))  # warm-up: each worker loads the model once
        warm = time.monotonic() - t0
        # keep n_workers renders in flight, like the bot with [queue] parallel = n_workers
        t0 = time.monotonic()
        seeds = list(range(n_dreams))
        for i in range(0, n_dreams, n_workers):
            run(seeds[i:i + n_workers])
        took = time.monotonic() - t0
        return 60.0 * n_dreams / took, warm
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def transport(url: str, tmp: Path) -> list[tuple[str, str, float, float]]:
    import redis

    conn = redis.Redis.from_url(url)
    rows = []
    for mb in (2, 10):
        data = os.urandom(mb * 1_000_000)  # PNGs barely compress: random bytes are fair
        put_r, get_r, put_f, get_f = [], [], [], []
        for i in range(5):
            t = time.perf_counter()
            conn.hset("bench", f"k{i}", data)
            put_r.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert len(conn.hget("bench", f"k{i}")) == len(data)
            get_r.append(time.perf_counter() - t)
            conn.hdel("bench", f"k{i}")
            p = tmp / f"pic{i}.png"
            t = time.perf_counter()
            with open(p, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # what a shared dir needs before another machine reads it
            put_f.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert len(p.read_bytes()) == len(data)
            get_f.append(time.perf_counter() - t)
            p.unlink()
        rows.append((f"{mb} MB", "redis", statistics.median(put_r) * 1e3, statistics.median(get_r) * 1e3))
        rows.append((f"{mb} MB", "file", statistics.median(put_f) * 1e3, statistics.median(get_f) * 1e3))
    return rows


def batching(repeats: int = 2) -> tuple[float, float]:
    import dreamer
    from PIL import Image

    recipe = dreamer.Recipe.from_dict({**RECIPE, "classes": {"1": 1.0}, "seed": 1})
    smalls = [photo(s, (224, 224)) for s in range(4)]
    mosaic = Image.new("RGB", (448, 448))
    for i, im in enumerate(smalls):
        mosaic.paste(im, ((i % 2) * 224, (i // 2) * 224))
    dreamer.dream(smalls[0], recipe)  # load the model
    one_by_one, together = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for im in smalls:
            dreamer.dream(im, recipe)
        one_by_one.append(time.perf_counter() - t)
        t = time.perf_counter()
        dreamer.dream(mosaic, recipe)
        together.append(time.perf_counter() - t)
    return statistics.median(one_by_one), statistics.median(together)


def queue_batching(k: int, n_dreams: int, tmp: Path, steps: int, repeats: int = 2) -> dict[int, float]:
    """Dreams/min through the embedded queue with [queue] batch 1 and k, K renders in flight."""
    from bot.config import load_config
    from bot.queue import RenderQueue
    from bot.queue.remote import RemoteRender

    recipe = "\n".join(f"{key} = {v!r}".replace("'", '"') for key, v in {**RECIPE, "steps": steps}.items())
    import dreamer.render_batch

    real = dreamer.render_batch.dream_batch
    sizes: list[int] = []

    def counted(images, recipes, *args, **kwargs):  # to show the batches really were K pictures
        sizes.append(len(images))
        return real(images, recipes, *args, **kwargs)

    dreamer.render_batch.dream_batch = counted
    rates: dict[int, list[float]] = {1: [], k: []}
    for i, batch in enumerate([1, k] * repeats):
        run_dir = tmp / f"qb{i}"
        run_dir.mkdir()
        path = run_dir / "bench.toml"
        path.write_text(
            f'[bot]\nname = "Bench"\ndata_dir = "data"\n\n[schedule]\ninterval_minutes = 60\n\n'
            f'[[sources]]\ntype = "folder"\npath = "inbox"\n\n[recipe]\n{recipe}\n\n'
            f"[queue]\nworkers = {k}\nparallel = {k}\nbatch = {batch}\nbatch_wait_seconds = 5\n",
            encoding="utf-8")
        cfg = load_config(path, need_secrets=False)
        q = RenderQueue.from_config(cfg)
        q.serve_here()
        consumer = q.consumer(k, in_process=True)
        consumer.start()
        try:
            render = RemoteRender(q)
            base = cfg.base_recipe()

            def one(s: int) -> None:
                render.render(photo(s), base.replace(classes={str(1 + s % 900): 1.0}, seed=s))

            def together(seeds: list[int]) -> None:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(len(seeds)) as pool:
                    list(pool.map(one, seeds))  # re-raises a render's error

            together(list(range(1000, 1000 + k)))  # warm-up (the model is cached after the first run)
            t0 = time.monotonic()
            for start in range(0, n_dreams, k):  # the same jobs for each setting
                together(list(range(start, min(n_dreams, start + k))))
            rates[batch].append(60.0 * n_dreams / (time.monotonic() - t0))
        finally:
            consumer.stop(graceful=True)
    dreamer.render_batch.dream_batch = real
    print(f"batch sizes dreamt: {sizes}")
    return {b: statistics.median(r) for b, r in rates.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dreams", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--skip-batching", action="store_true")
    ap.add_argument("--batch", type=int, default=4, help="K for the queue batching section")
    ap.add_argument("--batch-dreams", type=int, default=8, help="dreams per setting in that section")
    ap.add_argument("--batch-steps", type=int, default=16, help="steps of each dream in that section")
    ap.add_argument("--only-queue-batch", action="store_true", help="run only the queue batching section")
    args = ap.parse_args()
    if args.only_queue_batch:
        return print_queue_batching(args)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.threads} torch "
          f"thread(s) per worker; recipe {RECIPE}; 320x240 photos")
    from redis_server import redis_server

    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("needs redis-server (apt-get install redis-server)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("\n| workers | dreams/min | warm-up (model load + 1 dream) |\n|---|---|---|")
        base = None
        for n in args.workers:
            with redis_server(exe, tmp) as url:  # a fresh queue for each run
                rate, warm = throughput(n, args.dreams, tmp, url, args.threads)
            base = base or rate
            print(f"| {n} | {rate:.2f} ({rate / base:.2f}x) | {warm:.1f} s |", flush=True)
        print("\n| picture | via | put ms | get ms |\n|---|---|---|---|")
        with redis_server(exe, tmp) as url:
            for size, via, put, get in transport(url, tmp):
                print(f"| {size} | {via} | {put:.1f} | {get:.1f} |")
    if not args.skip_batching:
        import torch

        torch.set_num_threads(args.threads)
        a, b = batching()
        print(f"\nbatching 4 requests of 224x224: one by one {a:.2f} s, as one 2x2 mosaic {b:.2f} s "
              f"({a / b:.2f}x)")
    print_queue_batching(args)


def print_queue_batching(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    k = args.batch
    print(f"\nqueue batching: embedded queue, {k} consumer threads, {k} renders in flight, "
          f"{args.batch_dreams} dreams of {args.batch_steps} steps per setting; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        rates = queue_batching(k, args.batch_dreams, Path(d), args.batch_steps)
    print(f"\n| [queue] batch | dreams/min |\n|---|---|\n| 1 | {rates[1]:.2f} |\n"
          f"| {k} | {rates[k]:.2f} ({rates[k] / rates[1]:.2f}x) |")


if __name__ == "__main__":
    main()
