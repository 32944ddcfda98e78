"""A live worker keeps its lease through a render several leases long (issue 27, finding 8).
If its heartbeat stopped renewing the lease, the waiting bot would take every long render for
a dead worker's and queue it again: twice the CPU, a second copy racing the first. A real
redis-server, a real `run_bot.py worker` process held mid-render at the test's gate."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dreamer
from bot import queue
from bot.config import load_config
from bot.queue.remote import RemoteRender, queue_status
from bot_helpers import photo_bytes, tiny_config, wait_for
from test_queue_redis import redis_url  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parent.parent
LEASE = 2.0  # a heartbeat every half second; a busy machine may delay one, not four
HELD = 5 * LEASE  # the render lasts five leases


def test_a_live_worker_rendering_for_several_leases_keeps_its_lease(redis_url, tmp_path, caplog):  # noqa: F811
    extra = (f'[queue]\nurl = "{redis_url}"\nlease_seconds = {LEASE}\nretry_delay_seconds = 0.2\n'
             'render_timeout_minutes = 3\n')
    path = tiny_config(tmp_path, extra=extra)
    cfg = load_config(path, need_secrets=False)
    q = queue.RenderQueue.from_config(cfg)
    gate = tmp_path / "gate"
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "worker", "--config", str(path)],
                              cwd=ROOT, env={**os.environ, queue.GATE_ENV: str(gate)}, stdout=log,
                              stderr=subprocess.STDOUT)
    got: dict = {}

    def bot() -> None:
        image = dreamer.load_image(photo_bytes(1))
        got["out"] = RemoteRender(q, poll=0.05).render(image, cfg.base_recipe().replace(classes={"1": 1.0}))

    caplog.set_level(logging.WARNING, logger="bot.queue")
    t = threading.Thread(target=bot, daemon=True)
    try:
        assert wait_for(lambda: queue_status(q)["workers"], 60), "the worker did not start"
        t.start()
        (job,) = wait_for(lambda: q.job_ids("lease"), 60) or [None]
        assert job, "no render started"
        first = q.json("lease:" + job)["until"]
        end = time.time() + HELD
        while time.time() < end:  # the worker renders (held at the gate) for five leases
            lease = q.json("lease:" + job)
            assert lease is not None and lease["until"] > time.time() - LEASE / 2, "the lease lapsed mid-render"
            assert q.huey.storage.queue_size() == 0, "the render was queued again while the worker rendered it"
            time.sleep(0.1)
        assert q.json("lease:" + job)["until"] > first + HELD - 2 * LEASE  # renewed all along
        gate.touch()
        t.join(120)
        assert "out" in got, "the render never came back"
        # rendered once: the worker's record counts one job done, none failed
        assert wait_for(lambda: [(w["done"], w["failed"]) for w in queue_status(q)["workers"]] == [(1, 0)], 10)
    finally:
        gate.touch()
        worker.send_signal(signal.SIGINT)
        worker.wait(30)
        log.close()
    assert not [r for r in caplog.records if "queued again" in r.getMessage()], caplog.text
