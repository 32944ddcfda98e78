"""Dive requests (issue 16): "@bot dive goldfish" (or "zoom") is read by the same parser and
answered with a short dive of the requester's photo, as a video reply with its alt text, under
a per-user dive limit of its own; against mastodon-mock with the tiny net."""
from __future__ import annotations

import random

import pytest

from bot.publishers.mastodon_text import html_to_text
from bot.requests.parse import dive_request
from bot.requests.worker import build_worker
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures
from requests_helpers import SEED, ask, load, replies_to, request_config

server, mock = mastodon_mock_fixtures(SEED)
# a 5-frame dive at 5 fps, 64 px, dreamt on frames 0, 2 and 4
TINY_DIVE = "dive_frames = 5\n[dive]\nfps = 5\nsize = 64\nglide = 2\nease = 0\nsteps = 2\n"


@pytest.mark.parametrize("text,expected", [
    ("dive goldfish", (True, "goldfish")),
    ("Zoom into goldfish and stingray", (True, "goldfish and stingray")),
    ("dive: surprise me", (True, "surprise me")),
    ("DIVE with goldfish:0.7", (True, "goldfish:0.7")),
    ("goldfish and stingray", (False, "goldfish and stingray")),
    ("scuba diver", (False, "scuba diver")),
    ("diver", (False, "diver")),
])
def test_dive_or_zoom_starts_a_dive_request(text, expected):
    assert dive_request(text) == expected


def test_a_dive_request_gets_a_short_video_reply_and_has_its_own_limit(mock, tmp_path):
    cfg = load(request_config(tmp_path, mock, TINY_DIVE + ""))
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=None)  # the real engine, tiny net
    worker.rng = random.Random(5)
    req = ask(mock, "ann", "dive goldfish")
    result = worker.tick()
    assert result.answered == 1 and result.errors == 0
    [reply] = replies_to(mock, req["id"])
    text = html_to_text(reply["content"])
    assert text.startswith("@ann Here is your dive") and "goldfish" in text
    [media] = reply["media_attachments"]
    assert media["type"] == "video"
    assert media["description"].startswith("Video, 1 second: the photo you sent") and "goldfish" in media["description"]
    row = store.request(1)
    assert row.kind == "dive" and row.state == "replied" and row.dream_path.endswith(".mp4")
    # one dive a day (the default): the next is refused with when to ask again, no video
    again = ask(mock, "ann", "zoom into stingray", seed=4)
    worker.tick()
    [no] = replies_to(mock, again["id"])
    assert "today's dives" in html_to_text(no["content"]) and no["media_attachments"] == []
    # a still dream is still allowed (the dive limit is apart from the requests' own)
    still = ask(mock, "ann", "stingray", seed=5)
    worker.tick()
    [yes] = replies_to(mock, still["id"])
    assert [m["type"] for m in yes["media_attachments"]] == ["image"]
    # bob has his own dive
    bob = ask(mock, "bob", "dive stingray")
    worker.tick()
    assert [m["type"] for m in replies_to(mock, bob["id"])[0]["media_attachments"]] == ["video"]


TICK = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from bot.requests.worker import build_worker
from bot.store import Store
from requests_helpers import load
cfg = load(sys.argv[1])
build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=None).tick()
"""


def test_a_dive_request_killed_mid_dive_resumes_and_gets_one_reply(mock, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    path = request_config(tmp_path, mock, TINY_DIVE)
    script = tmp_path / "tick.py"
    script.write_text(TICK.format(root=str(root), tests=str(root / "tests")))
    req = ask(mock, "ann", "dive surprise me")  # a random pick: a resume must keep it
    env = {**os.environ, "LDB_TEST_MASTODON_TOKEN": "dreambot_token", "LUCID_TEST_KILL_AT": "dive:1"}
    killed = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    cfg = load(path)
    [parts] = (cfg.data_dir / "requests").glob("*.mp4.parts")
    assert len(list(parts.glob("key_*.png"))) == 2 and replies_to(mock, req["id"]) == []
    env.pop("LUCID_TEST_KILL_AT")
    again = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    [reply] = replies_to(mock, req["id"])
    assert [m["type"] for m in reply["media_attachments"]] == ["video"]
    assert not parts.exists()  # the same dive was finished (a different one would have been refused)
    assert Store(cfg.data_dir / "bot.db").request(1).state == "replied"
