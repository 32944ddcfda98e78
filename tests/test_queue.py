"""The render queue (bot/queue/render_queue.py) on its embedded backend: huey's SQLite storage and an
in-process consumer, with the tiny model. Redis and real worker processes are in
test_queue_redis.py."""
from __future__ import annotations

import numpy as np
import pytest

import dreamer
from bot import queue
from bot.queue.remote import RemoteRender, queue_status
from bot.config import ConfigError, load_config
from bot_helpers import photo_bytes, tiny_config


def _settings(tmp_path, extra: str = ""):
    cfg = load_config(tiny_config(tmp_path, extra=extra), need_secrets=False)
    return cfg, queue.QueueSettings.from_config(cfg)


@pytest.fixture
def embedded(tmp_path):
    """A queue with an in-process consumer whose render can be swapped per test."""
    made = []

    def make(extra: str = "[queue]\nretry_delay_seconds = 0.2\nmax_retries = 2\n", render=None):
        for old in made:  # one consumer at a time on this test's queue
            old.stop(graceful=True)
        cfg, s = _settings(tmp_path, extra)
        q = queue.RenderQueue(s)
        q.serve_here(render=render, name="test-worker")
        c = q.consumer(2, in_process=True)
        c.start()
        made.append(c)
        return cfg, q

    yield make
    for c in made:
        c.stop(graceful=True)


def test_a_render_through_the_queue_is_the_engines_render(embedded):
    cfg, q = embedded()
    image = dreamer.load_image(photo_bytes(1))
    recipe = cfg.base_recipe().replace(classes={"1": 1.0}, seed=7)
    got = RemoteRender(q).render(image, recipe)
    want = dreamer.dream(image, recipe)
    assert got.size == want.size
    assert np.array_equal(np.asarray(got), np.asarray(want))
    info = queue_status(q)
    assert info["pending"] == 0 and info["jobs"] == 0  # nothing left behind
    (w,) = info["workers"]
    assert w["name"] == "test-worker" and w["done"] == 1 and w["alive"] and w["last_error"] is None


def test_tasks_queued_by_an_older_bot_still_find_their_task(tmp_path):
    """A queued message names its task by module and function; those written while the queue
    was bot/queue.py say "bot.queue.render_job" (on disk, or on a Redis shared with older
    workers) and must still run, not be dropped as unknown."""
    from huey.registry import Message

    _, s = _settings(tmp_path)
    q = queue.RenderQueue(s)
    raw = q.huey.serializer.serialize(Message("t1", "bot.queue.render_job", None, 0, 0.0, None, ("ab" * 16,), {}))
    task = q.huey.deserialize_task(raw)
    assert type(task) is q.task.task_class and task.args == ("ab" * 16,)
    assert q.huey._registry.task_to_string(q.task.task_class) == "bot.queue.render_job"  # what it queues too


def test_transient_failures_are_retried_with_backoff(embedded):
    calls = []

    def flaky(image, recipe):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("CUDA out of memory (pretend)")
        return image.transpose(0)

    cfg, q = embedded(render=flaky)
    image = dreamer.load_image(photo_bytes(2))
    out = RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))
    assert np.array_equal(np.asarray(out), np.asarray(image.transpose(0)))
    assert len(calls) == 3
    (w,) = queue_status(q)["workers"]
    assert (w["done"], w["failed"]) == (1, 2)
    assert "out of memory" in w["last_error"]["error"]


def test_transient_failures_give_up_after_max_retries(embedded):
    calls = []

    def broken(image, recipe):
        calls.append(1)
        raise RuntimeError("the GPU fell off the bus")

    cfg, q = embedded(render=broken)
    with pytest.raises(queue.RenderFailed, match="gave up after 3 attempts"):
        RemoteRender(q).render(dreamer.load_image(photo_bytes(3)), cfg.base_recipe().replace(classes={"1": 1.0}))
    assert len(calls) == 3


def test_a_bad_picture_fails_at_once_without_retries(embedded):
    calls = []
    cfg, q = embedded(render=lambda im, r: calls.append(1) or im)
    s = q.settings

    class Broken:  # what a corrupt upload would look like to the worker: bytes that are no image
        def save(self, buf, format):
            buf.write(b"GIF89a but not really")

    with pytest.raises(queue.RenderFailed) as err:
        RemoteRender(q).render(Broken(), cfg.base_recipe().replace(classes={"1": 1.0}))
    assert calls == []
    assert "image" in str(err.value).lower()
    (w,) = queue_status(q)["workers"]
    assert w["failed"] == 1 and q.huey.scheduled_count() == 0
    assert not list(s.sqlite_path.parent.glob("*.png"))


def test_pictures_over_the_cap_need_a_shared_dir(embedded, tmp_path):
    image = dreamer.load_image(photo_bytes(4, size=(200, 200)))
    size = len(_png(image))
    cfg, q = embedded(f"[queue]\npicture_cap_mb = {(size - 1) / 1e6}\n")
    with pytest.raises(queue.PictureTooBig, match="over \\[queue\\] picture_cap_mb.*set \\[queue\\] shared_dir"):
        RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))
    # a dream bigger than the cap cannot come back either: said at once, not retried
    cfg, q = embedded(f"[queue]\npicture_cap_mb = {(size + 1) / 1e6}\n",
                      render=lambda im, r: im.resize((400, 400)))
    with pytest.raises(queue.RenderFailed, match="too big to send back"):
        RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))


def _png(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_pictures_through_a_shared_dir(embedded, tmp_path):
    seen = []

    def render(image, recipe):
        seen.extend(p.name for p in (tmp_path / "shared").iterdir())
        return image

    cfg, q = embedded('[queue]\npicture_cap_mb = 0.001\nshared_dir = "shared"\n', render=render)
    image = dreamer.load_image(photo_bytes(4, size=(200, 200)))
    out = RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))
    assert np.array_equal(np.asarray(out), np.asarray(image))
    assert len(seen) == 1 and seen[0].startswith("in-")  # the input went through the folder
    assert list((tmp_path / "shared").iterdir()) == []  # and both pictures were cleaned up


def test_queue_config_is_validated(tmp_path):
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, '[queue]\nurl = "http://redis:6379"\n')
    assert "queue.url" in str(err.value) and "redis://" in str(err.value)
    cfg, s = _settings(tmp_path, '[queue]\nurl = ""\nshared_dir = ""\n')
    assert s.url is None and s.shared_dir is None and s.sqlite_path == cfg.data_dir / "queue.db"


def test_status_shows_the_embedded_queue_and_its_workers(embedded, tmp_path):
    import io

    from bot.cli import main

    out = io.StringIO()
    cfg, s = _settings(tmp_path)
    assert main(["status", "--config", str(cfg.path)], out=out) == 0
    assert f"render queue: embedded ({s.sqlite_path}): not started yet" in out.getvalue()

    def broken(image, recipe):
        raise RuntimeError("the GPU fell off the bus")

    cfg, q = embedded("[queue]\nretry_delay_seconds = 0.1\nmax_retries = 0\n", render=broken)
    with pytest.raises(queue.RenderFailed):
        RemoteRender(q).render(dreamer.load_image(photo_bytes(5)), cfg.base_recipe().replace(classes={"1": 1.0}))
    out = io.StringIO()
    assert main(["status", "--config", str(cfg.path)], out=out) == 0
    text = out.getvalue()
    assert "0 waiting, 0 waiting to retry, 0 in progress" in text
    assert "worker test-worker: idle" in text and "0 done, 1 failed" in text
    assert "last error: RuntimeError: the GPU fell off the bus" in text


def test_the_embedded_queue_waits_out_a_writer_that_holds_sqlite_for_seconds(tmp_path):
    # huey's own 5 s wait failed with "database is locked" when a busy machine kept a writer
    # (the bot, a consumer thread, a heartbeat) in the file longer; the queue waits 30 s.
    import sqlite3
    import threading

    _, s = _settings(tmp_path)
    q = queue.RenderQueue(s)
    other = sqlite3.connect(s.sqlite_path, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock...
    locked = threading.Event()
    release = threading.Timer(7.0, lambda: (other.rollback(), locked.set()))  # ...for 7 s
    release.start()
    try:
        q.put("job:held", "{}")  # waits for the lock instead of failing after 5 s
        q.task("held")
    finally:
        release.join()
        other.close()
    assert locked.is_set() and q.get("job:held") == b"{}" and q.huey.pending_count() == 1


def test_a_worker_with_several_jobs_is_busy_until_the_last_one_ends(tmp_path):
    # Several consumer threads (a batch) each lease a job: one ending must not show the worker idle.
    import io

    from bot.cli import main

    cfg, s = _settings(tmp_path)
    q = queue.RenderQueue(s)
    st = queue.WorkerState(q, name="batcher")
    for job in ("aaaaaaaa11", "bbbbbbbb22", "cccccccc33"):
        st.lease(job)

    def end(job: str) -> None:  # as run_job ends a job
        st.release(job)
        st.beat()

    end("aaaaaaaa11")

    def status() -> str:
        out = io.StringIO()
        assert main(["status", "--config", str(cfg.path)], out=out) == 0
        return out.getvalue()

    assert "worker batcher: busy (2 jobs: bbbbbbbb, ...)" in status()
    end("cccccccc33")
    assert "worker batcher: busy (bbbbbbbb)" in status()
    end("bbbbbbbb22")
    assert "worker batcher: idle" in status()
    st.stop()
