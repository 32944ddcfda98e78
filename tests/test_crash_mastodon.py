"""Crashes and outages lose nothing, against mastodon-mock: real bot processes (`run_bot.py
--once` and `run_bot.py run`) killed with SIGKILL at named points (bot/failpoints.py), then
started again. Every photo and request ends with exactly one status; a crash loop is set
aside with its own reason, never as a duplicate; afterwards nothing is left in flight and
the render queue holds no orphans."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from bot import failpoints, queue
from bot.config import load_config
from bot.publishers.mastodon_text import html_to_text
from bot.queue.sweep import orphans
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures, wait_for, write_photo
from requests_helpers import BOT_TOKEN, SEED, add_fault, ask, client_for, replies_to, request_config

ROOT = Path(__file__).resolve().parent.parent
FAST_RETRY = "retry_seconds = 0.05\nretry_max_minutes = 0.01\n"  # backoff 0.05 s .. 0.6 s

server, mock = mastodon_mock_fixtures(SEED)


def env(kill: str | None = None) -> dict[str, str]:
    e = {**os.environ, "LDB_TEST_MASTODON_TOKEN": BOT_TOKEN}
    e.pop(failpoints.ENV, None)
    if kill:
        e[failpoints.ENV] = kill
    return e


def once(path: Path, kill: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "--once", "--config", str(path)], cwd=ROOT,
                          env=env(kill), capture_output=True, text=True, timeout=300)


def start(path: Path, log: Path, kill: str | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "run", "--config", str(path)], cwd=ROOT,
                            env=env(kill), stdout=log.open("a"), stderr=subprocess.STDOUT)


def posts(srv, visibility: str = "public") -> list[dict]:
    """The bot's statuses of this visibility that are not replies (its scheduled posts)."""
    c = client_for(srv, "dreambot")
    me = c.account_verify_credentials()
    return [s for s in c.account_statuses(me["id"], limit=40)
            if s["visibility"] == visibility and not s.get("in_reply_to_id")]


def dms_to(srv, who: str) -> list[str]:
    c = client_for(srv, who)
    return [html_to_text(n["status"]["content"]) for n in c.notifications(types=["mention"])
            if n["status"]["visibility"] == "direct"]


def status_text(path: Path) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "status", "--config", str(path)], cwd=ROOT,
                          env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_settled(path: Path) -> str:
    """Nothing in flight, no orphans in the render queue (if it was used)."""
    text = status_text(path)
    assert "in flight: nothing" in text, text
    cfg = load_config(path, environ={"LDB_TEST_MASTODON_TOKEN": BOT_TOKEN})
    s = queue.QueueSettings.from_config(cfg)
    if s.sqlite_path.exists():
        assert "0 waiting, 0 waiting to retry, 0 in progress" in text and "orphaned" not in text, text
        found = orphans(queue.RenderQueue(s))
        assert found["keys"] == [] and found["files"] == [], found
    return text


def post_config(tmp_path, srv, bot_extra: str = FAST_RETRY, extra: str = "") -> Path:
    return request_config(tmp_path, srv, bot_extra=bot_extra, requests_extra=extra)


# --- scheduled posts (`--once`) --------------------------------------------------------------
@pytest.mark.parametrize("point", ["dream", "recorded", "upload", "posted"])
def test_a_kill_at_each_named_point_then_a_restart_posts_exactly_once(mock, tmp_path, point):
    path = post_config(tmp_path, mock)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    proc = once(path, kill=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert len(posts(mock)) == (1 if point == "posted" else 0)
    proc = once(path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [status] = posts(mock)
    assert len(status["media_attachments"]) == 1
    # the photo is filed as done, never as a duplicate of itself
    assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
    assert not (tmp_path / "inbox" / "failed").exists() or not any((tmp_path / "inbox" / "failed").iterdir())
    assert "dreamt before" not in proc.stderr
    assert_settled(path)


def test_a_dive_killed_mid_dive_resumes_and_goes_out_once_as_a_video(mock, tmp_path):
    """Issue 16: killed after keyframe 1 of a dive, then after the upload: one status with the
    video (type video, its alt text), made from the keyframes the first run left."""
    dive = "\n[dive]\nevery = 1\nframes = 5\nfps = 5\nsize = 64\nglide = 2\nease = 0\nsteps = 2\n"
    path = post_config(tmp_path, mock, extra=dive)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    for kill in ("dive:1", "upload"):
        proc = once(path, kill=kill)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
        assert posts(mock) == []
    proc = once(path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [status] = posts(mock)
    [media] = status["media_attachments"]
    assert media["type"] == "video" and media["description"].startswith("Video, 1 second, zooming")
    store = Store(load_config(path, environ={"LDB_TEST_MASTODON_TOKEN": BOT_TOKEN}).data_dir / "bot.db")
    assert [d["state"] for d in store._query("SELECT state FROM dives")] == ["made"]
    assert store.dream(1).video_path.is_file() and store._query("SELECT COUNT(*) AS n FROM dreams")[0]["n"] == 1
    assert_settled(path)
    assert once(path).returncode == 0 and len(posts(mock)) == 1


def test_three_kills_mid_dream_then_one_clean_run_post_exactly_once(mock, tmp_path):
    path = post_config(tmp_path, mock)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    for _ in range(3):
        proc = once(path, kill="dream")
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert posts(mock) == []
    proc = once(path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "interrupted mid-dream; they will be dreamt again" in proc.stderr
    assert len(posts(mock)) == 1
    assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
    store = Store(tmp_path / "data" / "bot.db")
    assert [tuple(r) for r in store._query("SELECT status, attempts, crashes FROM sources")] == [("dreamt", 0, 0)]
    assert store.ended_items() == []
    assert_settled(path)


def test_five_kills_mid_upload_and_a_500_post_exactly_once(mock, tmp_path):
    path = post_config(tmp_path, mock)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    for _ in range(5):
        proc = once(path, kill="upload")
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert posts(mock) == []
    store = Store(tmp_path / "data" / "bot.db")
    assert (store.post(1, "mastodon").state, store.post(1, "mastodon").attempts) == ("intended", 5)
    add_fault(mock, r"^/api/v1/statuses/?$", count=1, methods=["POST"], type="status", status=500)
    proc = once(path)
    assert proc.returncode == 1 and "HTTP 500" in proc.stderr, proc.stderr[-3000:]
    row = store.post(1, "mastodon")
    assert (row.state, row.crashes, row.failures, row.transient) == ("failed", 0, 1, True)
    # the next runs wait for the backoff, then post; nothing gave up on the way
    assert wait_for(lambda: once(path).returncode == 0 and posts(mock), timeout=240, every=0)
    [status] = posts(mock)
    assert len(status["media_attachments"]) == 1
    assert store.post(1, "mastodon").state == "confirmed" and store.ended_items() == []
    assert_settled(path)


def test_a_crash_loop_is_set_aside_with_its_reason_and_the_admin_is_told(mock, tmp_path):
    path = post_config(tmp_path, mock, bot_extra=FAST_RETRY + "crash_limit = 3\n",
                       extra='[admin]\naccount = "@bob"\n')
    write_photo(tmp_path / "inbox" / "panorama.png", 1, age=120)
    write_photo(tmp_path / "inbox" / "harbour.png", 2, age=60)
    for _ in range(3):  # the oldest photo kills the bot every time it is dreamt
        assert once(path, kill="dream").returncode == -signal.SIGKILL
    proc = once(path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    why = "killed during the dream 3 times in a row: too big for this machine?"
    failed = tmp_path / "inbox" / "failed"
    assert (failed / "panorama.png").exists()
    assert (failed / "panorama.png.txt").read_text().strip() == why
    assert "dreamt before" not in proc.stderr
    [status] = posts(mock)  # the next photo went on
    assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
    text = assert_settled(path)
    assert "ended without being posted (1):" in text and f"photo “panorama” from inbox: {why}" in text
    [dm] = dms_to(mock, "bob")
    assert "1 item ended without being posted" in dm and why in dm


def test_a_retry_after_is_honoured_by_a_fresh_once(mock, tmp_path):
    """A 429 with Retry-After: the next `--once` (another process) makes its dream but asks
    the server nothing until the window is over, and counts no attempt."""
    path = post_config(tmp_path, mock)
    write_photo(tmp_path / "inbox" / "a.png", 1, age=120)
    add_fault(mock, r"^/api/v1/statuses/?$", count=1, methods=["POST"], type="ratelimit",
              headers={"Retry-After": "600", "X-RateLimit-Remaining": "0"})
    proc = once(path)
    assert proc.returncode == 1 and "rate limit" in proc.stderr, proc.stderr[-3000:]
    write_photo(tmp_path / "inbox" / "b.png", 2)
    # a sentinel: any media upload or status post now would use it up
    add_fault(mock, r"^/api/v(1/statuses|2/media)/?$", count=1, methods=["POST"], type="status", status=503)
    proc = once(path)
    assert proc.returncode == 0 and "waits for the rate limit" in proc.stderr, proc.stderr[-3000:]
    assert len(requests.get(f"{mock.base_url}/api/v1/_mock/faults", timeout=10).json()) == 1
    store = Store(tmp_path / "data" / "bot.db")
    first, second = store.post(1, "mastodon"), store.post(2, "mastodon")
    assert (first.state, first.attempts) == ("failed", 1)
    assert (second.state, second.attempts) == ("pending", 0)  # waited, without an attempt
    later = datetime.now(timezone.utc) + timedelta(seconds=500)  # the window is 600 s
    assert datetime.fromisoformat(first.retry_at) > later and datetime.fromisoformat(second.retry_at) > later
    assert posts(mock) == []


# --- the requests bot (`run`, embedded render queue) -----------------------------------------
def test_six_kills_of_the_requests_bot_mid_reply_then_exactly_one_reply(mock, tmp_path):
    path = post_config(tmp_path, mock, extra="\n[queue]\nlease_seconds = 2\n")
    req = ask(mock, "ann", "goldfish")
    logs = tmp_path / "bot.log"
    killed = []
    for point in ["render", "render"] + ["upload"] * 6:  # two mid-render (queue orphans), six mid-reply
        bot = start(path, logs, kill=point)
        assert bot.wait(180) == -signal.SIGKILL, logs.read_text()[-3000:]
        killed.append(bot.pid)
    assert replies_to(mock, req["id"]) == []
    bot = start(path, logs)
    try:
        assert wait_for(lambda: replies_to(mock, req["id"])), logs.read_text()[-3000:]
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(60)
    [reply] = replies_to(mock, req["id"])
    assert len(reply["media_attachments"]) == 1
    store = Store(tmp_path / "data" / "bot.db")
    r = store.request(1)
    assert (r.state, r.reply_attempts, r.crashes, r.busy) == ("replied", 7, 0, None)
    assert store.ended_items() == []
    assert_settled(path)
    workers = queue.RenderQueue.from_config(load_config(path, need_secrets=False)).keys("worker:")
    assert not [w for w in workers if int(w.rsplit(":", 1)[1]) in killed], workers  # dead workers swept


def test_an_outage_longer_than_the_old_attempt_limit_then_the_post_and_reply_go_out(mock, tmp_path):
    path = post_config(tmp_path, mock, extra="\n[queue]\nlease_seconds = 2\n")
    req = ask(mock, "ann", "stingray")
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    for regex in (r"^/api/v2/media$", r"^/api/v1/statuses/?$"):  # nothing can be posted
        add_fault(mock, regex, count=None, methods=["POST"], type="status", status=503)
    proc = once(path)
    assert proc.returncode == 1 and "HTTP 503" in proc.stderr, proc.stderr[-3000:]
    logs = tmp_path / "bot.log"
    bot = start(path, logs)
    try:
        store = Store(tmp_path / "data" / "bot.db")

        def long_outage():  # more failures in a row than the old limit of 5 attempts
            rows = store.open_requests(due_only=False)
            return store.post(1, "mastodon").failures > 5 and rows and rows[0].retries > 5

        assert wait_for(long_outage), logs.read_text()[-3000:]
        assert store.ended_items() == [] and posts(mock) == [] and replies_to(mock, req["id"]) == []
        requests.delete(f"{mock.base_url}/api/v1/_mock/faults", timeout=10).raise_for_status()  # the server is back
        assert wait_for(lambda: posts(mock) and replies_to(mock, req["id"])), logs.read_text()[-3000:]
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(60)
    assert len(posts(mock)) == 1 and len(replies_to(mock, req["id"])) == 1
    assert store.ended_items() == []
    assert_settled(path)
