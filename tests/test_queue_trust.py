"""What someone who can write to the queue's Redis can make the bot and its workers do
(issue 27): no code runs from a planted message. A real redis-server, the bot's own code paths
(`status`, the waiting loop, a worker's consumer)."""
from __future__ import annotations

import datetime
import io
import pickle
import time
from pathlib import Path

import pytest

import dreamer
from bot import queue
from bot.cli import main
from bot.config import load_config
from bot.queue_bot import RemoteRender, _queued, queue_status
from bot_helpers import photo_bytes, tiny_config, wait_for
from test_queue_redis import redis_url  # noqa: F401  (the fixture)


class _Planted:
    """Unpickling this opens (creates) `path`: what a real attacker's os.system would be."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def redis_cfg(tmp_path, redis_url):  # noqa: F811
    extra = (f'[queue]\nurl = "{redis_url}"\nshared_dir = "shared"\nlease_seconds = 1\nretry_delay_seconds = 0.2\n'
             f'max_retries = 1\nrender_timeout_minutes = 2\n')
    cfg = load_config(tiny_config(tmp_path, extra=extra), need_secrets=False)
    return cfg, queue.RenderQueue.from_config(cfg)


def _worker(q: queue.RenderQueue, render=lambda im, r: im):
    q.serve_here(render=render, name="test-worker")
    c = q.consumer(1, in_process=True)
    c.start()
    return c


def test_a_pickle_planted_in_redis_runs_nowhere(redis_cfg, tmp_path):
    cfg, q = redis_cfg
    ran = tmp_path / "code-ran"
    evil = pickle.dumps(_Planted(ran))
    st = q.huey.storage
    st.enqueue(evil)  # a task message for the workers
    st.add_to_schedule(evil, datetime.datetime(2000, 1, 1))  # a retry due long ago, which `status` and the waiting bot read
    # the bot's side: `status`, and the wait loop's "is my job still queued?"
    assert main(["status", "--config", str(cfg.path)], out=io.StringIO()) == 0
    queue_status(q)
    assert not _queued(q, "0" * 32)
    assert not ran.exists(), "the bot unpickled queue contents"
    # a pickled revocation is read for every task a worker takes
    revoke = q.huey._task_key(q.task.task_class, "rt")
    st.put_data(revoke, evil)
    c = _worker(q)
    try:
        assert wait_for(lambda: st.queue_size() == 0 and st.schedule_size() == 0, 30), "the planted tasks stayed"
        time.sleep(0.5)
        assert not ran.exists(), "a worker unpickled queue contents"
        # the worker is still there for real jobs (here once the planted revocation is gone)
        st.delete_data(revoke)
        image = dreamer.load_image(photo_bytes(1))
        out = RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))
        assert out.size == image.size
    finally:
        c.stop(graceful=True)
    assert not ran.exists()

