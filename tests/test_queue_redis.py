"""Scale-out: a real redis-server, the bot (enqueuer) and two `run_bot.py worker` processes.
One worker is killed with SIGKILL in the middle of a render; every request is still
answered exactly once (the bot sees the dead worker's lease expire and queues the render
again; publishing stays with the bot, whose store decides what was answered)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from mastodon_mock.testing import MockServer

pytest.importorskip("redis", reason="the [redis] extra is not installed")

from bot import queue  # noqa: E402
from bot.queue.remote import queue_status  # noqa: E402
from bot.publishers.mastodon_text import html_to_text
from bot.store import Store
from bot_helpers import wait_for
from requests_helpers import BOT_TOKEN, SEED, ask, bot_statuses, load, replies_to, request_config

ROOT = Path(__file__).resolve().parent.parent
from peers import REDIS, require  # noqa: E402
from redis_server import free_port, redis_server  # noqa: E402


@pytest.fixture
def redis_url(tmp_path):
    d = tmp_path / "redis"
    d.mkdir()
    with redis_server(require("redis-server", REDIS), d) as url:  # a server that does not start: an error
        yield url


@pytest.fixture
def mock():
    with MockServer(seed=SEED) as srv:
        yield srv


def _start(args, log: Path, **env):
    e = {**os.environ, "LDB_TEST_MASTODON_TOKEN": BOT_TOKEN, **env}
    return subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), *args], cwd=ROOT, env=e,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def test_two_workers_one_killed_mid_render_every_request_answered_once(mock, redis_url, tmp_path):
    q = (f'\n[queue]\nurl = "{redis_url}"\nparallel = 2\nlease_seconds = 2\nretry_delay_seconds = 1\n'
         f'render_timeout_minutes = 3\n')
    path = request_config(tmp_path, mock, requests_extra=q)
    cfg = load(path)
    rq = queue.RenderQueue.from_config(cfg)
    logs = tmp_path / "logs"
    logs.mkdir()
    # each render waits at a gate until the test opens it, so there is a render in progress to kill
    gate = tmp_path / "gate"
    workers = [_start(["worker", "--config", str(path)], logs / f"worker{i}.log", **{queue.GATE_ENV: str(gate)})
               for i in range(2)]
    bot = None
    try:
        assert wait_for(lambda: len(queue_status(rq)["workers"]) == 2, 60), "the workers did not start"
        people = ["ann", "bob"]
        reqs = [ask(mock, people[i % 2], text, seed=i) for i, text in
                enumerate(["goldfish", "stingray", "peacock", "ostrich and goldfish", "stingray", "peacock"])]
        bot = _start(["run", "--config", str(path)], logs / "bot.log")

        def busy_worker():
            for key in rq.keys("lease:"):
                lease = rq.json(key)
                if lease:
                    return lease["worker"]
            return None

        victim = wait_for(busy_worker, 60, every=0.02)
        assert victim, "no render started"
        pid = int(victim.rsplit(":", 1)[1])
        assert pid in [w.pid for w in workers]
        os.kill(pid, signal.SIGKILL)  # in the middle of its render: the lease is held until it ends
        killed = next(w for w in workers if w.pid == pid)
        killed.wait(10)
        gate.touch()  # the survivor's renders go on

        def all_answered():
            return all(len(replies_to(mock, r["id"])) >= 1 for r in reqs)

        assert wait_for(all_answered, 120, every=0.5), (logs / "bot.log").read_text()[-3000:]
        # Anything doubled would come from a render still queued or leased: wait until none is.
        def drained():
            return rq.huey.pending_count() == 0 and not list(rq.keys("lease:"))

        assert wait_for(drained, 120, every=0.2), "the queue never drained"
        for r in reqs:
            got = replies_to(mock, r["id"])
            assert len(got) == 1, [html_to_text(s["content"]) for s in got]
            assert len(got[0]["media_attachments"]) == 1
        assert len(bot_statuses(mock)) == len(reqs)
        assert Store(cfg.data_dir / "bot.db").request_counts() == {"replied": len(reqs)}
        bot_log = (logs / "bot.log").read_text()
        assert f"worker {victim} died rendering job" in bot_log

        # the survivor did the renders after the kill; `status` shows both workers
        def workers_now():
            return {w["name"]: w for w in queue_status(rq, stale_after=6)["workers"]}

        # the victim is called dead once unseen for 6 s: gone, or already swept away
        assert wait_for(lambda: victim not in workers_now() or not workers_now()[victim]["alive"], 60)
        info = workers_now()
        survivor = next(n for n in info if n != victim)
        assert info[survivor]["done"] >= 1 and info[survivor]["alive"]
        status = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "status", "--config", str(path)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"render queue: {redis_url}: 0 waiting" in status.stdout
        assert f"worker {survivor}: idle" in status.stdout
        assert f"worker {victim}: idle" not in status.stdout and f"worker {victim}: busy" not in status.stdout
    finally:
        for p in [bot, *workers]:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in [bot, *workers]:
            if p is not None:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_worker_needs_a_redis_url(tmp_path, mock):
    path = request_config(tmp_path, mock)
    proc = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "worker", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "[queue] url is not set" in proc.stderr and "Traceback" not in proc.stderr


def test_worker_says_when_redis_is_unreachable(tmp_path, mock):
    path = request_config(tmp_path, mock, requests_extra=f'\n[queue]\nurl = "redis://127.0.0.1:{free_port()}/0"\n')
    proc = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "worker", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cannot reach the queue" in proc.stderr and "Traceback" not in proc.stderr
