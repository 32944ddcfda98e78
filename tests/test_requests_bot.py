"""Dream requests wired into the bot: run_bot.py answers a mention, `status` shows the queue,
hot reload switches requests on and passes new limits, and the config checks."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot import cli
from bot.config import ConfigError, load_config
from bot.scheduler import REQUESTS_JOB, BotRunner
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures, tiny_config, wait_for
from requests_helpers import BOT_TOKEN, SEED, ask, fake_render, load, replies_to, request_config

ROOT = Path(__file__).resolve().parent.parent


server, mock = mastodon_mock_fixtures(SEED)


def test_run_bot_answers_a_mention_and_status_shows_the_queue(mock, tmp_path):
    path = request_config(tmp_path, mock)
    req = ask(mock, "ann", "goldfish and stingray")
    env = {**os.environ, "LDB_TEST_MASTODON_TOKEN": BOT_TOKEN}
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    try:
        wait_for(lambda: replies_to(mock, req["id"]), 120)
        got = replies_to(mock, req["id"])
        assert len(got) == 1 and len(got[0]["media_attachments"]) == 1
        status = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "status", "--config", str(path)],
                                capture_output=True, text=True, timeout=120, env=env)
        assert "dream requests (on): 1 replied" in status.stdout, status.stdout + status.stderr
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "replied" in err and "Traceback" not in err
    assert BOT_TOKEN not in err


def test_status_lists_waiting_requests(mock, tmp_path):
    path = request_config(tmp_path, mock)
    cfg = load(path)
    store = Store(cfg.data_dir / "bot.db")
    store.add_request(None, status_id="123", account_id="9", acct="ann@else.example", visibility="public",
                      thread_key="123", state="accepted", reply_key="k1", status_json="{}")
    store.update_request(1, error="Mastodon server error (HTTP 503)", retry_at="2030-01-01T00:00:00+00:00")
    out = io.StringIO()
    os.environ["LDB_TEST_MASTODON_TOKEN"] = BOT_TOKEN
    try:
        assert cli.main(["status", "--config", str(path)], out=out) == 0
    finally:
        del os.environ["LDB_TEST_MASTODON_TOKEN"]
    text = out.getvalue()
    assert "dream requests (on): 1 accepted" in text
    assert "1. @ann@else.example status 123 accepted" in text and "HTTP 503" in text


def test_hot_reload_turns_requests_on_and_passes_new_limits(mock, tmp_path):
    path = request_config(tmp_path, mock, "daily_limit = 1")
    text = path.read_text()
    path.write_text(text.replace("[requests]\nenabled = true", "[requests]\nenabled = false"))
    os.environ["LDB_TEST_MASTODON_TOKEN"] = BOT_TOKEN
    try:
        cfg = load_config(path)
        runner = BotRunner(cfg, Store(cfg.data_dir / "bot.db"), blocking=False, render=fake_render)
        runner.start()
        try:
            assert runner.requests is None and runner.scheduler.get_job(REQUESTS_JOB) is None
            path.write_text(text.replace("daily_limit = 1", "daily_limit = 1\nmax_classes = 2"))
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
            assert runner.check_reload() is True
            assert runner.scheduler.get_job(REQUESTS_JOB) is not None
            worker = runner.requests
            path.write_text(text.replace("daily_limit = 1", "daily_limit = 5\nmax_classes = 2"))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 4_000_000_000))
            assert runner.check_reload() is True
            assert runner.requests is worker  # one worker for the bot's life
            # taken at the start of the next tick (the scheduler's, or this one)
            assert wait_for(lambda: (worker.tick(), worker.settings.requests.daily_limit == 5)[1], 20)
        finally:
            runner.shutdown()
    finally:
        del os.environ["LDB_TEST_MASTODON_TOKEN"]


def test_requests_need_mastodon_and_valid_blocklists(tmp_path):
    path = tiny_config(tmp_path, extra='[requests]\nenabled = true\nblocked_domains = ["not a domain"]\n'
                                          'blocked_accounts = ["@ok@fine.example", "bad account!"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "requests.blocked_domains" in msg and "requests.blocked_accounts" in msg
    path = tiny_config(tmp_path, extra="[requests]\nenabled = true\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "requests.enabled: dream requests arrive and are answered on Mastodon" in str(info.value)


def test_dry_run_switches_requests_off(mock, tmp_path):
    from bot.config import only_outbox

    cfg = load(request_config(tmp_path, mock))
    assert cfg.requests.enabled and not only_outbox(cfg).requests.enabled


def test_streaming_wakes_the_worker_and_catches_up_after_a_reconnect(mock, tmp_path, monkeypatch):
    import bot.requests.stream as stream_mod
    from requests_helpers import add_fault

    monkeypatch.setattr(stream_mod, "RECONNECT_WAIT", 1.0)
    # poll_seconds is an hour: only the stream can make these replies come quickly
    path = request_config(tmp_path, mock, "streaming = true")
    path.write_text(path.read_text().replace("poll_seconds = 1", "poll_seconds = 3600"))
    cfg = load(path)
    runner = BotRunner(cfg, Store(cfg.data_dir / "bot.db"), blocking=False, render=fake_render)
    runner.start()
    try:
        stream = runner._stream
        assert stream is not None and wait_for(lambda: stream.rings >= 1, 10)
        worker = runner.requests
        # the first (start-up) tick is over: it has begun (resumed) and let go of the tick lock
        assert wait_for(lambda: worker._resumed and not worker._lock.locked(), 30)
        first = ask(mock, "ann", "goldfish")
        assert wait_for(lambda: len(replies_to(mock, first["id"])) == 1, 30), "the mention did not wake the bot"
        rings = stream.rings
        # the stream drops and cannot come back at once; a mention arrives meanwhile
        add_fault(mock, r"^/api/v1/streaming", count=2, type="status", status=503)
        stream._handle.connection.close()
        second = ask(mock, "bob", "stingray")
        assert wait_for(lambda: len(replies_to(mock, second["id"])) == 1, 30), "not caught up after reconnect"
        assert stream.rings > rings
        assert wait_for(lambda: stream.connections >= 2, 10)  # it reconnected by itself
    finally:
        runner.shutdown()
    assert len(replies_to(mock, first["id"])) == 1 and len(replies_to(mock, second["id"])) == 1
