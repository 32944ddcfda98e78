"""What a SIGKILL leaves in the render queue is swept, in the embedded SQLite queue and in
Redis alike: a dead bot's jobs (its waiter key, job, pictures, output, lease) and dead
workers' records; `status` counts only live work; a task a worker took and died with before
writing its lease is queued again at once, not after the render timeout."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import dreamer
from bot import queue
from bot.config import load_config
from bot.queue.remote import RemoteRender, queue_status
from bot.queue.sweep import orphans, sweep
from bot_helpers import photo_bytes, tiny_config, wait_for
from test_queue_redis import redis_url  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parent.parent

DEAD_BOT = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import dreamer
    from bot import queue
    from bot.config import load_config
    from bot.queue.remote import RemoteRender
    from bot_helpers import photo_bytes

    cfg = load_config(sys.argv[1], need_secrets=False)
    q = queue.RenderQueue.from_config(cfg)
    # no worker runs: this waits until the test kills it, leaving its job behind
    RemoteRender(q).render(dreamer.load_image(photo_bytes(1)), cfg.base_recipe().replace(classes={{"1": 1.0}}))
""")


@pytest.fixture(params=["embedded", "redis"])
def backend(request, tmp_path):
    """(config path, RenderQueue) for the embedded queue (pictures in its storage) or Redis
    (pictures through a shared dir)."""
    if request.param == "embedded":
        extra = "[queue]\nlease_seconds = 1\nrender_timeout_minutes = 10\n"
    else:
        url = request.getfixturevalue("redis_url")
        extra = f'[queue]\nurl = "{url}"\nshared_dir = "shared"\nlease_seconds = 1\nrender_timeout_minutes = 10\n'
    path = tiny_config(tmp_path, extra=extra)
    cfg = load_config(path, need_secrets=False)
    yield path, queue.RenderQueue.from_config(cfg)


def test_a_killed_bots_job_is_an_orphan_swept_with_its_pictures(backend, tmp_path):
    path, q = backend
    script = tmp_path / "bot.py"
    script.write_text(DEAD_BOT.format(root=str(ROOT), tests=str(ROOT / "tests")))
    bot = subprocess.Popen([sys.executable, str(script), str(path)], cwd=ROOT)
    try:
        assert wait_for(lambda: q.keys("job:")), "the bot never queued its job"
        live = queue_status(q)
        assert (live["pending"], live["orphans"]) == (1, 0)  # a live job waiting for a worker
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(30)
    # the waiter is dead: its job is an orphan at once (its process is known to be gone)
    info = queue_status(q)
    assert (info["pending"], info["jobs"]) == (0, 0) and info["orphans"] >= 2
    found = orphans(q)
    assert {k.split(":")[0] for k in found["keys"]} >= {"job", "wait"}
    if q.settings.shared_dir:
        assert [Path(f).name.split("-")[0] for f in found["files"]] == ["in"]
    else:
        assert any(k.startswith("pic:in-") for k in found["keys"])
    removed = sweep(q)
    assert removed["job"] == removed["wait"] == 1
    assert q.keys("") == []
    assert not q.settings.shared_dir or list(q.settings.shared_dir.iterdir()) == []
    if not q.settings.url:
        # the embedded queue still holds the dead bot's task; a restarted bot drops it
        assert q.huey.pending_count() == 1
        RemoteRender(q)
        assert q.huey.pending_count() == 0


def test_a_bot_on_another_machine_is_an_orphan_once_its_waiter_key_is_stale(backend):
    _, q = backend
    q.put("wait:j1", '{"owner": "elsewhere:12", "until": %f}' % (time.time() + 30))
    q.put("job:j1", "{}")
    q.put("out:j2", "{}")  # an output nobody waits for (the bot gave up meanwhile)
    assert orphans(q)["keys"] == ["out:j2"]
    later = time.time() + 60  # no waiting in a test: ask as of a minute later
    assert sorted(orphans(q, now=later)["keys"]) == ["job:j1", "out:j2", "wait:j1"]
    sweep(q, now=later)
    assert q.keys("") == []


def test_dead_workers_are_swept_live_ones_stay(backend):
    _, q = backend
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here = socket.gethostname()
    for name in (f"{here}:{dead.stdout.strip()}", "far-away:7", f"{here}:{os.getpid()}"):
        queue.WorkerState(q, name).beat()
    assert sorted(orphans(q)["workers"]) == [f"worker:{here}:{dead.stdout.strip()}"]  # its process is gone
    removed = sweep(q, now=time.time() + 3600)  # an hour later the far-away one is gone too
    assert removed["worker"] == 2
    assert q.keys("worker:") == [f"worker:{here}:{os.getpid()}"]


def test_a_task_taken_by_a_worker_that_died_before_its_lease_is_queued_again(tmp_path, caplog):
    cfg = load_config(tiny_config(tmp_path, extra="[queue]\nlease_seconds = 1\nrender_timeout_minutes = 10\n"),
                      need_secrets=False)
    q = queue.RenderQueue.from_config(cfg)
    got = {}

    def bot():
        image = dreamer.load_image(photo_bytes(2))
        got["out"] = RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))

    t = threading.Thread(target=bot, daemon=True)
    t.start()
    assert wait_for(lambda: q.huey.pending_count() == 1)
    assert q.huey.dequeue() is not None  # what a worker does first; then it is killed, writing no lease
    q.serve_here(render=lambda im, r: im.transpose(0), name="survivor")
    c = q.consumer(1, in_process=True)
    c.start()
    try:
        t.join(120)  # far below the 10-minute render timeout the bot would otherwise wait
        assert "out" in got, "the job was never queued again"
        assert "was taken by a worker that died before starting it; queued again" in caplog.text
    finally:
        c.stop(graceful=True)


def test_a_job_a_bot_starts_while_a_sweep_runs_is_not_swept(backend, monkeypatch):
    """The sweep reads what is in the queue, then who waits: a job begun between the two reads
    already has its waiter (the bot writes it first), so it is live, not an orphan."""
    _, q = backend
    read_waiters = q.live_jobs
    me = f"{socket.gethostname()}:{os.getpid()}"

    def waiters_then_a_bot_starts_a_job(*args, **kwargs):
        live = read_waiters(*args, **kwargs)
        q.put("wait:new", json.dumps({"owner": me, "until": time.time() + 90}))  # as RemoteRender.render: first
        q.put("job:new", "{}")
        return live

    monkeypatch.setattr(q, "live_jobs", waiters_then_a_bot_starts_a_job)
    sweep(q)
    assert sorted(q.keys("")) == ["job:new", "wait:new"]


def test_a_bot_whose_job_was_swept_while_it_waited_queues_it_again(backend, caplog):
    """A bot that stalled past its waiter key's lifetime finds its job swept as an orphan: it
    still holds the picture and queues the job again, instead of waiting out the render timeout."""
    path, q = backend
    cfg = load_config(path, need_secrets=False)
    got = {}

    def bot():
        image = dreamer.load_image(photo_bytes(3))
        try:
            got["out"] = RemoteRender(q).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))
        except Exception as exc:  # noqa: BLE001  (the test says what it was)
            got["error"] = exc

    t = threading.Thread(target=bot, daemon=True)
    t.start()
    assert wait_for(lambda: q.keys("job:"))
    removed = sweep(q, now=time.time() + 3600)  # as a sweep sees a bot silent for an hour
    assert removed["job"] == removed["wait"] == 1
    q.serve_here(render=lambda im, r: im.transpose(0), name="after-the-sweep")
    c = q.consumer(1, in_process=True)
    c.start()
    try:
        t.join(120)  # the render timeout is 10 minutes: waiting it out fails here
        assert "out" in got, got
        assert "was swept from the queue while this bot waited for it; queued again" in caplog.text
    finally:
        c.stop(graceful=True)
