"""What someone who can write to the queue's Redis can make the bot and its workers do
(issue 27): no code runs from a planted message, and no file outside the shared dir is read
or deleted because a job or result names it. A real redis-server, the bot's own code paths
(`status`, the waiting loop, a worker's consumer)."""
from __future__ import annotations

import datetime
import io
import json
import pickle
import threading
import time
import uuid
from pathlib import Path

import pytest

import dreamer
from bot import queue
from bot.cli import main
from bot.config import load_config
from bot.queue.remote import RemoteRender, _queued, queue_status
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


def _victim(tmp_path: Path, name: str) -> tuple[Path, bytes]:
    """A file of the bot's outside the shared dir (its database, say): a real PNG, so reading
    it as a picture would work and post it."""
    path = tmp_path / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = photo_bytes(9)
    path.write_bytes(data)
    return path, data


def _bot_renders(cfg, q, got: dict) -> tuple[threading.Thread, str]:
    """The bot asking the queue for one dream in a thread (its picture or error lands in `got`),
    and the job id it queued."""
    def bot():
        try:
            got["out"] = RemoteRender(q).render(dreamer.load_image(photo_bytes(1)),
                                                cfg.base_recipe().replace(classes={"1": 1.0}))
        except Exception as exc:
            got["error"] = exc

    t = threading.Thread(target=bot, daemon=True)
    t.start()
    (job_id,) = wait_for(lambda: q.job_ids("job"), 30)
    return t, job_id


def test_a_result_naming_a_file_outside_the_shared_dir_is_neither_read_nor_deleted(redis_cfg, tmp_path):
    cfg, q = redis_cfg
    victim, data = _victim(tmp_path, "bot.db")
    got: dict = {}

    t, job_id = _bot_renders(cfg, q, got)
    # whoever writes to Redis answers for a worker, naming the bot's database by ../ and by its path
    for name in (f"../data/{victim.name}", str(victim)):
        assert not victim.is_relative_to(q.settings.shared_dir)
        q.put("out:" + job_id, json.dumps({"output": {"file": name}, "worker": "x", "seconds": 1}))
        t.join(30)
        assert "out" not in got, "the bot read a file outside the shared dir as the dream"
        assert victim.read_bytes() == data, "the bot deleted a file outside the shared dir"
        if name.startswith(".."):  # once more, with a new job, for the absolute path
            got.clear()
            t, job_id = _bot_renders(cfg, q, got)
    # it looked for the dream where its job id says (out-<job id>.png), which is not there
    assert isinstance(got.get("error"), queue.QueueError) and f"out-{job_id}" in str(got["error"])


def test_a_job_naming_a_file_outside_the_shared_dir_is_not_dreamt(redis_cfg, tmp_path):
    cfg, q = redis_cfg
    victim, _ = _victim(tmp_path, "requester-photo.png")
    recipe = cfg.base_recipe().replace(classes={"1": 1.0}).to_dict()
    seen = []
    waiting = json.dumps({"owner": "elsewhere:1", "until": time.time() + 60})  # live jobs: not swept
    c = _worker(q, render=lambda im, r: seen.append(im.size) or im)
    try:
        good = uuid.uuid4().hex
        q.put("wait:" + good, waiting)
        q.put("job:" + good, json.dumps({"recipe": recipe, "input": {"file": str(victim)}}))
        q.task(good)
        bad = "../data/requester-photo"  # a job id that is a path
        q.put("wait:" + bad, waiting)
        q.put("job:" + bad, json.dumps({"recipe": recipe, "input": {"kv": bad}}))
        q.task(bad)
        assert wait_for(lambda: q.json("out:" + good), 30), "the worker never answered"
        time.sleep(0.5)  # the second task is taken after the first
        assert q.huey.storage.queue_size() == 0
    finally:
        c.stop(graceful=True)
    assert seen == [], "a worker dreamt a file the queue named outside the shared dir"
    assert "error" in q.json("out:" + good) and q.get("out:" + bad) is None
    assert not q.settings.shared_dir.exists() or list(q.settings.shared_dir.iterdir()) == []


def test_a_link_planted_in_the_shared_dir_is_not_followed(redis_cfg, tmp_path):
    # Someone who can write the shared dir puts out-<job id>.png there as a link to a file of the
    # bot's (a requester's private dream, say) and answers for a worker: it must not be posted.
    cfg, q = redis_cfg
    victim, data = _victim(tmp_path, "requests-private.png")
    got: dict = {}

    t, job_id = _bot_renders(cfg, q, got)
    (q.settings.shared_dir / f"out-{job_id}.png").symlink_to(victim)
    q.put("out:" + job_id, json.dumps({"output": {"file": f"out-{job_id}.png"}, "worker": "x", "seconds": 1}))
    t.join(30)
    assert "out" not in got, "the bot followed a link out of the shared dir and took its target for the dream"
    assert isinstance(got.get("error"), queue.QueueError) and victim.read_bytes() == data


def test_queue_messages_are_json_that_names_no_code():
    import datetime as dt

    from huey.registry import Message

    from bot.queue.wire import JsonSerializer, UnsafeMessage

    ser = JsonSerializer()
    msg = Message("t1", "bot.queue.render_job", dt.datetime(2030, 1, 2, 3, 4, 5), 3, 5.0, None, ("ab" * 16,), {},
                  None, None, None, None, None, None, 2.0)
    raw = ser.serialize(msg)
    assert raw.startswith(b"{") and ser.deserialize(raw) == msg  # a retry's eta survives the trip
    assert ser.deserialize(ser.serialize((None, True))) == [None, True]  # a revocation
    for bad in (pickle.dumps(_Planted(Path("/nonexistent/x"))), b'{"__datetime__": "soon"}',
                b'{"__message__": {"id": "t", "evil": 1}}', b"\xff\xfe", b"[1, 2"):
        with pytest.raises(UnsafeMessage):
            ser.deserialize(bad)
