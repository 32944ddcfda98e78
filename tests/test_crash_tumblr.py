"""Crashes lose nothing and double nothing on Tumblr: real `run_bot.py --once` processes,
posting to Tumblr only (no outbox), killed with SIGKILL at each named point
(bot/failpoints.py), then started again, against a local Tumblr that keeps the posts it was
sent (tests/tumblr_server.py). Tumblr has no idempotency key: after a kill between "posted"
and "recorded as posted", only `find_existing` stands between a restart and a second post."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot import failpoints
from bot.store import Store
from bot_helpers import tiny_config, write_photo
from tumblr_server import KEYS, TumblrServer

ROOT = Path(__file__).resolve().parent.parent
BLOG = "lucid-dreams"
# The bot process as `run_bot.py` runs it, with the Tumblr API's root pointed at the local
# server (the one thing a test cannot set from the config: Tumblr has one host).
LAUNCH = ("import os, runpy, sys; import bot.publishers.tumblr as t; t.API_ROOT = os.environ['LDB_TEST_TUMBLR_API']; "
          "sys.argv[0] = 'run_bot.py'; runpy.run_path('run_bot.py', run_name='__main__')")


@pytest.fixture
def tumblr():
    with TumblrServer(BLOG) as srv:
        yield srv


def config(tmp_path: Path) -> Path:
    extra = ('[publishers.outbox]\nenabled = false\n'
             f'[publishers.tumblr]\nenabled = true\nblog = "{BLOG}"\ntimeout = 10\n')
    return tiny_config(tmp_path, extra=extra, bot="reload_check_seconds = 0\nretry_seconds = 0.05\n"
                                                  "retry_max_minutes = 0.01\n")


def once(path: Path, srv: TumblrServer, kill: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LDB_TEST_TUMBLR_API": srv.api_root,
           **{f"TUMBLR_{k.upper()}": v for k, v in KEYS.items()}}
    env.pop(failpoints.ENV, None)
    if kill:
        env[failpoints.ENV] = kill
    return subprocess.run([sys.executable, "-c", LAUNCH, "--once", "--config", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("point", ["dream", "recorded", "upload", "posted"])
def test_a_kill_at_each_named_point_then_a_restart_posts_exactly_once_on_tumblr(tumblr, tmp_path, point):
    path = config(tmp_path)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    proc = once(path, tumblr, kill=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert len(tumblr.posts) == (1 if point == "posted" else 0)

    proc = once(path, tumblr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(tumblr.posts) == 1, tumblr.posts  # never lost, never doubled
    [post] = tumblr.posts
    store = Store(tmp_path / "data" / "bot.db")
    row = store.post(1, "tumblr")
    assert (row.state, row.remote_id) == ("confirmed", post["id"])
    assert post["content"][0]["type"] == "image" and post["content"][0]["alt_text"]
    if point in ("upload", "posted"):  # an attempt may have reached Tumblr: looked for before posting
        assert ("GET", f"/v2/blog/{BLOG}/posts") in tumblr.calls
    assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
    assert not (tmp_path / "inbox" / "failed").exists() or not any((tmp_path / "inbox" / "failed").iterdir())
    assert store.ended_items() == []

    proc = once(path, tumblr)  # nothing left to do: still one post
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(tumblr.posts) == 1
