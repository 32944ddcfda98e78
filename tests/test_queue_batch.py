"""A queue worker dreams the jobs it holds at once in one net batch (`[queue] batch`,
bot/render/batcher.py), through huey's embedded SQLite queue and in-process consumer threads,
with the tiny net. The engine's batch function is the real one, wrapped to count its calls."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dreamer
import dreamer.render
import dreamer.render_batch
from bot import queue
from bot.config import load_config
from bot.queue.remote import RemoteRender, queue_status
from bot.render import EngineRenderer
from bot.render.batcher import BatchingRenderer
from bot_helpers import photo_bytes, tiny_config, wait_for


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """A queue configured by `extra` with its consumer (as many threads as [queue] workers), and
    the engine's calls the worker made: dream_batch's recipe lists, dream's recipes."""
    calls: dict[str, list] = {"batch": [], "alone": []}
    real_batch, real_dream = dreamer.render_batch.dream_batch, dreamer.render.dream

    def counted_batch(images, recipes, *args, **kwargs):
        calls["batch"].append(list(recipes))
        return real_batch(images, recipes, *args, **kwargs)

    def counted_dream(image, recipe, *args, **kwargs):
        calls["alone"].append(recipe)
        return real_dream(image, recipe, *args, **kwargs)

    consumers = []

    def make(extra: str, render=None):
        cfg = load_config(tiny_config(tmp_path, extra=extra), need_secrets=False)
        q = queue.RenderQueue(queue.QueueSettings.from_config(cfg))
        q.serve_here(render=render, name="batch-worker")  # by default the engine, batched as the config says
        c = q.consumer(cfg.queue.workers, in_process=True)
        c.start()
        consumers.append(c)
        # counted from here on: the references below are dreamt with the real functions
        monkeypatch.setattr(dreamer.render_batch, "dream_batch", counted_batch)
        monkeypatch.setattr(dreamer.render, "dream", counted_dream)
        return cfg, q

    yield make, calls, real_dream
    for c in consumers:
        c.stop(graceful=True)


def config(batch: int, threads: int) -> str:
    # A long gathering window: a batch goes when it is full, so the test waits on no clock.
    # A render timeout of minutes, not the default hour: a job the queue lost fails the test soon.
    return (f"[queue]\nbatch = {batch}\nworkers = {threads}\nparallel = {threads}\nbatch_wait_seconds = 60\n"
            "retry_delay_seconds = 0.2\nmax_retries = 1\nrender_timeout_minutes = 5\n")


def render_together(q, jobs):
    """Every (image, recipe) on the queue at once, as the bot's parallel renders do; each
    job's picture, or the error it raised."""
    remote = RemoteRender(q)

    def one(job):
        try:
            return remote.render(*job)
        except Exception as exc:  # noqa: BLE001  (the test looks at it)
            return exc

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs, timeout=q.settings.render_timeout + 60))


def assert_as_alone(got, image, recipe, dream):
    want = np.asarray(dream(image, recipe), dtype=int)
    assert got.size == image.size
    # a batched convolution may round the last bits differently: at most 1 of 255 (as dream_batch's tests)
    assert np.abs(np.asarray(got, dtype=int) - want).max() <= 1
    assert np.abs(want - np.asarray(image, dtype=int)).mean() > 0.5  # and it was dreamt at all


def jobs_for(cfg, n: int, **change):
    classes = [{"goldfish": 1.0}, {"tench": 1.0}, {"7": 1.0}, {"stingray": 1.0}]
    return [(dreamer.load_image(photo_bytes(10 + i)),
             cfg.base_recipe().replace(classes=classes[i % 4], seed=100 + i, **change)) for i in range(n)]


def test_jobs_enqueued_together_are_dreamt_in_one_batch_each_as_alone(worker):
    make, calls, dream = worker
    cfg, q = make(config(3, 3))
    assert isinstance(q.renderer, BatchingRenderer) and q.renderer.batch == 3
    jobs = jobs_for(cfg, 3)
    outs = render_together(q, jobs)
    assert not [o for o in outs if isinstance(o, Exception)], outs  # the queue itself failed: say how
    assert len(calls["batch"]) == 1 and sorted(r.seed for r in calls["batch"][0]) == [100, 101, 102]
    assert calls["alone"] == []
    for out, (image, recipe) in zip(outs, jobs):  # each job got its own picture back
        assert_as_alone(out, image, recipe, dream)
    (w,) = queue_status(q)["workers"]
    assert (w["done"], w["failed"]) == (3, 0)


def test_a_bad_job_in_a_batch_gets_its_own_error_and_the_others_their_pictures(worker):
    make, calls, dream = worker
    cfg, q = make(config(3, 3))
    jobs = jobs_for(cfg, 3)
    strip = dreamer.load_image(photo_bytes(99, size=(340, 20)))  # 17:1, a shape the engine refuses
    jobs[1] = (strip, jobs[1][1])
    outs = render_together(q, jobs)
    assert not isinstance(outs[0], Exception) and not isinstance(outs[2], Exception), outs
    assert len(calls["batch"]) == 1  # the batch was tried, failed on the strip...
    assert sorted(r.seed for r in calls["alone"]) == [100, 101, 102]  # ...and each was dreamt alone
    assert isinstance(outs[1], queue.RenderFailed) and "17:1" in str(outs[1])
    for i in (0, 2):
        assert_as_alone(outs[i], *jobs[i], dream)
    (w,) = queue_status(q)["workers"]
    assert (w["done"], w["failed"]) == (2, 1)  # refused at once (a bad picture), not retried
    assert "17:1" in w["last_error"]["error"]


def test_jobs_for_other_nets_go_in_other_batches_and_other_engines_alone(worker):
    make, calls, dream = worker
    keyed = []  # seeds in the order the worker saw the jobs (it works out each key as one arrives)

    def key(recipe):
        keyed.append(recipe.seed)
        return dreamer.batch_key(recipe)

    cfg, q = make(config(2, 5), render=BatchingRenderer(2, 60, key=key))
    plain = jobs_for(cfg, 2)
    # two classes with a partner named: these dream with tiny and tiny-b together
    hybrids = [(im, r.replace(classes={"goldfish": 1.0, "tench": 1.0}, hybrid_partner="tiny-b"))
               for im, r in jobs_for(cfg, 4)[2:]]
    tiles = [(dreamer.load_image(photo_bytes(20)), cfg.base_recipe().replace(classes={"1": 1.0}, seed=7,
                                                                            method="tiles"))]
    # They reach the worker interleaved, one after another: the first two that meet are for
    # different nets, so only grouping by net makes the batches below.
    jobs = [plain[0], hybrids[0], plain[1], hybrids[1], *tiles]
    remote = RemoteRender(q)
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = []
        for image, recipe in jobs:
            futures.append(pool.submit(remote.render, image, recipe))
            assert wait_for(lambda: recipe.seed in keyed or futures[-1].done(), 120), "the job never arrived"
        outs = [f.result(timeout=600) for f in futures]
    assert keyed == [100, 102, 101, 103, 7]
    groups = sorted(sorted(r.seed for r in batch) for batch in calls["batch"])
    assert groups == [[100, 101], [102, 103]]  # the plain pair and the hybrid pair, never mixed
    assert [r.seed for r in calls["alone"]] == [7]  # the tiles engine does not batch
    for out, (image, recipe) in zip(outs, jobs):
        assert_as_alone(out, image, recipe, dream)


def test_batch_1_is_one_job_at_a_time_as_before(worker):
    make, calls, dream = worker
    cfg, q = make(config(1, 3))
    assert isinstance(q.renderer, EngineRenderer)
    jobs = jobs_for(cfg, 3)
    outs = render_together(q, jobs)
    assert not [o for o in outs if isinstance(o, Exception)], outs
    assert calls["batch"] == [] and sorted(r.seed for r in calls["alone"]) == [100, 101, 102]
    for out, (image, recipe) in zip(outs, jobs):
        assert np.array_equal(np.asarray(out), np.asarray(dream(image, recipe)))


@pytest.mark.parametrize("extra, says", [
    ("batch = 4\n", "set workers = 4 or more"),
    ("batch = 4\nworkers = 4\n", "set parallel = 4 or more"),
    ("batch = 0\n", "queue.batch: must be greater than or equal to 1"),
    ("batch = 65\nworkers = 64\nparallel = 64\n", "queue.batch: must be less than or equal to 64"),
    ("batch_wait_seconds = -1\n", "queue.batch_wait_seconds: must be greater than or equal to 0"),
])
def test_check_config_refuses_a_batch_that_cannot_fill(tmp_path, capsys, extra, says):
    from bot.cli import main

    path = tiny_config(tmp_path, extra="[queue]\n" + extra)
    assert main(["check-config", "--dry-run", "--config", str(path)]) == 2
    assert says in capsys.readouterr().err
    # with Redis the bot's parallel is not all that feeds the workers: only the threads must fit
    ok = tiny_config(tmp_path, extra='[queue]\nurl = "redis://localhost:6379/0"\nbatch = 4\nworkers = 4\n')
    assert main(["check-config", "--dry-run", "--config", str(ok)]) == 0


def test_a_worker_process_on_redis_dreams_its_jobs_in_one_batch(tmp_path):
    """`run_bot.py worker` as deployed: its threads hold K jobs from Redis and dream them as one."""
    import subprocess
    import sys
    from pathlib import Path

    from peers import REDIS, require
    from redis_server import redis_server

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "redis").mkdir()
    with redis_server(require("redis-server", REDIS), tmp_path / "redis") as url:
        path = tiny_config(tmp_path, extra=f'[queue]\nurl = "{url}"\nbatch = 3\nworkers = 3\nparallel = 3\n'
                                            "batch_wait_seconds = 60\nrender_timeout_minutes = 5\n")
        cfg = load_config(path, need_secrets=False)
        q = queue.RenderQueue.from_config(cfg)
        log = tmp_path / "worker.log"
        proc = subprocess.Popen([sys.executable, str(root / "run_bot.py"), "worker", "--config", str(path),
                                 "--log-level", "DEBUG"], cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT)
        try:
            assert wait_for(lambda: queue_status(q)["workers"], 120), "the worker did not start"
            jobs = jobs_for(cfg, 3)
            outs = render_together(q, jobs)
            assert not [o for o in outs if isinstance(o, Exception)], outs
        finally:
            proc.terminate()
            proc.wait(60)
    text = log.read_text()
    assert "with 3 thread(s), up to 3 jobs per batch" in text
    assert text.count("dreamt 3 jobs in one batch") == 1 and "dreamt 2 jobs" not in text, text[-2000:]
    for out, (image, recipe) in zip(outs, jobs):
        assert_as_alone(out, image, recipe, dreamer.render.dream)
