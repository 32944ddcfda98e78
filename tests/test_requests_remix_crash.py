"""Remixes survive the bot being killed (SIGKILL at the named points of bot/failpoints.py) as any
request does: real bot processes against mastodon-mock — `run_bot.py --once` posts a dream and
keeps its photo, people reply to it, then `run_bot.py run` dies mid-render, after the image
upload and after the reply is made, and a last clean run leaves exactly one reply a remix."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bot import failpoints
from bot.publishers.mastodon_text import html_to_text
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures, wait_for, write_photo
from requests_helpers import BOT_TOKEN, SEED, ask, bot_statuses, replies_to, request_config

ROOT = Path(__file__).resolve().parent.parent
server, mock = mastodon_mock_fixtures(SEED)


def env(kill: str | None = None) -> dict[str, str]:
    e = {**os.environ, "LDB_TEST_MASTODON_TOKEN": BOT_TOKEN}
    e.pop(failpoints.ENV, None)
    if kill:
        e[failpoints.ENV] = kill
    return e


def bot(path: Path, *args: str, kill: str | None = None, log: Path | None = None):
    cmd = [sys.executable, str(ROOT / "run_bot.py"), *args, "--config", str(path)]
    if log is None:
        return subprocess.run(cmd, cwd=ROOT, env=env(kill), capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, cwd=ROOT, env=env(kill), stdout=log.open("a"), stderr=subprocess.STDOUT)


def test_remixes_killed_at_each_named_point_end_with_exactly_one_reply_each(mock, tmp_path):
    path = request_config(tmp_path, mock, bot_extra="retry_seconds = 0.05\nretry_max_minutes = 0.01\n",
                          requests_extra="\n[queue]\nlease_seconds = 2\n",
                          picker='allow = ["goldfish", "stingray"]\nmin_classes = 2\nmax_classes = 2\n')
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    made = bot(path, "--once")
    assert made.returncode == 0, made.stderr[-3000:]
    [post] = bot_statuses(mock)
    again = ask(mock, "ann", "again", image=False, in_reply_to_id=post["id"])
    more = ask(mock, "bob", "more stingray", image=False, in_reply_to_id=post["id"], visibility="private")
    log = tmp_path / "bot.log"
    for point in ("render", "upload", "posted"):
        proc = bot(path, "run", kill=point, log=log)
        try:
            assert proc.wait(180) == -signal.SIGKILL, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:  # it never reached the point: no bot is left running
                proc.kill()
                proc.wait()
    # the "posted" kill came after the first reply was made, before it was recorded
    assert len(replies_to(mock, again["id"])) == 1 and replies_to(mock, more["id"]) == []
    proc = bot(path, "run", log=log)
    try:
        assert wait_for(lambda: replies_to(mock, more["id"])), log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    texts = []
    for req, visibility in ((again, "unlisted"), (more, "private")):
        got = replies_to(mock, req["id"])
        assert len(got) == 1, [html_to_text(s["content"]) for s in got]
        assert len(got[0]["media_attachments"]) == 1 and got[0]["visibility"] == visibility
        texts.append(html_to_text(got[0]["content"]))
    assert texts[0].startswith("@ann Here it is again, with a new seed: goldfish × stingray.")
    assert texts[1].startswith("@bob Here it is with more stingray: goldfish × stingray.")
    assert len(bot_statuses(mock)) == 3  # the post and two replies: nothing doubled
    store = Store(tmp_path / "data" / "bot.db")
    rows = [store.request(1), store.request(2)]
    assert [(r.state, r.remix_of, r.busy) for r in rows] == [("replied", post["id"], None)] * 2
    assert rows[0].reply_attempts == 2  # tried once (killed after posting), then found, never posted again
    assert store.ended_items() == []
