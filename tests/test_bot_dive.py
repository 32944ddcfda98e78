"""Dives as posts (issue 16): one scheduled post in N is a dive, made in the bot's state folder
with the tiny net, posted to the outbox with its poster frame, played inline by the gallery in
Chromium, and a bot killed mid-dive resumes the same dive and posts it once."""
from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.config import ConfigError, load_config
from bot.store import Store
from bot_helpers import tiny_config, write_photo
from dreamer.video import probe

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_TEST = pytest.importorskip("test_bot_gallery")  # its Chromium helpers
# A tiny dive: 5 frames at 5 fps, 64 px, a dream every 2nd frame (keyframes 0, 2, 4).
DIVE = "[dive]\nevery = {every}\nframes = 5\nfps = 5\nsize = 64\nglide = 2\nease = 0\nsteps = 2\n"


def outbox_posts(cfg) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in cfg.outbox_dir.glob("*.json")),
                  key=lambda m: m["published_at"] + m["post_id"])


def test_dive_section_defaults_and_errors(tmp_path):
    cfg = load_config(tiny_config(tmp_path))
    assert cfg.dive.every == 0 and not cfg.dive.is_due(0)  # off unless asked for
    assert (cfg.dive.frames, cfg.dive.fps, cfg.dive.size, cfg.dive.glide) == (144, 24, 480, 6)
    assert load_config(ROOT / "config" / "example.toml", environ={}, need_secrets=False).dive.every == 0
    assert load_config(ROOT / "config" / "demo.toml", environ={}).dive.every == 0
    every3 = load_config(tiny_config(tmp_path, extra=DIVE.format(every=3)))
    assert [every3.dive.is_due(n) for n in range(6)] == [False, False, True, False, False, True]
    with pytest.raises(ConfigError) as err:
        load_config(tiny_config(tmp_path, extra="[dive]\nfps = 0\nglide = 2\nwobble = 1\n"))
    text = str(err.value)
    assert "dive.fps" in text and "dive.wobble" in text


def test_every_second_post_is_a_dive_into_the_outbox(tmp_path):
    path = tiny_config(tmp_path, extra=DIVE.format(every=2))
    write_photo(tmp_path / "inbox" / "a.png", 1, age=120)
    write_photo(tmp_path / "inbox" / "b.png", 2, age=60)
    for _ in range(2):
        out = io.StringIO()
        assert cli.main(["--once", "--config", str(path)], out=out) == 0, out.getvalue()
        assert out.getvalue().startswith("posted: ")
    cfg = load_config(path)
    store = Store(cfg.data_dir / "bot.db")
    by_id = {m["post_id"]: m for m in outbox_posts(cfg)}
    picture, dive = by_id[store.dream(1).post_key], by_id[store.dream(2).post_key]  # the second post dives
    assert "video" not in picture
    assert dive["video"] == dive["post_id"] + ".mp4" and dive["image"] == dive["post_id"] + ".png"
    info = probe(cfg.outbox_dir / dive["video"])
    assert (info.frames, info.fps, info.codec, info.pix_fmt) == (5, 5, "h264", "yuv420p")
    assert max(info.width, info.height) == 64 and dive["image_size"] == [info.width, info.height]
    assert dive["alt_text"].startswith("Video, 1 second, zooming") and "neural network dreamt" in dive["alt_text"]
    row = store.dream(2)
    # made in the bot's state folder, recorded with its poster, its keyframes cleared away
    assert row.video_path.parent == cfg.data_dir / "dreams" and row.video_path.is_file()
    assert row.file_path == row.video_path.with_suffix(".png")
    assert not row.video_path.with_name(row.video_path.name + ".parts").exists()
    assert store.dream(1).video_path is None
    assert store._query("SELECT state FROM dives")[0]["state"] == "made"
    page = (cfg.outbox_dir / "index.html").read_text()
    assert re.search(rf'<video controls loop muted playsinline preload="metadata" poster="{dive["image"]}"', page)
    assert f'<source src="{dive["video"]}" type="video/mp4">' in page


_PLAY = """<script>
const v = document.querySelector('video');
const done = (r) => document.body.insertAdjacentHTML('beforeend', '<pre id="m">' + JSON.stringify(r) + '</pre>');
v.addEventListener('error', () => done({error: String(v.error && v.error.code)}));
v.addEventListener('timeupdate', () => { if (v.currentTime > 0 && !document.getElementById('m'))
  done({ready: v.readyState, duration: v.duration, time: v.currentTime, w: v.videoWidth, h: v.videoHeight,
        paused: v.paused, loop: v.loop, muted: v.muted, poster: v.poster}); });
v.play();
</script></body>"""


def test_the_gallery_plays_the_dive_in_chromium(tmp_path):
    from bot.publishers.base import Post
    from bot.publishers.outbox import OutboxPublisher
    from dreamer.video import VideoWriter, poster

    assert CHROMIUM_TEST.CHROMIUM, "Chromium is a test peer (Debian: apt-get install -y chromium)"
    video = tmp_path / "dreams" / "d.mp4"
    video.parent.mkdir()
    import numpy as np

    with VideoWriter(video, "mp4", (64, 48), 10) as w:
        for i in range(20):  # two seconds, a bar moving across
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, i * 3:i * 3 + 6] = 255
            w.write(frame)
    poster(video).save(video.with_suffix(".png"))
    out = OutboxPublisher(tmp_path / "outbox")
    out.publish(Post("dive1", video.with_suffix(".png"), "goldfish", "Video of a dream.", video_path=video))
    probe_page = tmp_path / "outbox" / "probe.html"
    probe_page.write_text((tmp_path / "outbox" / "index.html").read_text().replace("</body>", _PLAY))
    dom = CHROMIUM_TEST._chromium(probe_page, tmp_path / "profile", "--autoplay-policy=no-user-gesture-required",
                                  "--virtual-time-budget=15000", "--dump-dom").stdout
    found = re.search(r'<pre id="m">(\{.*?)</pre>', dom, re.S)
    assert found, f"the video never played: {dom[-800:]}"
    m = json.loads(found.group(1))
    assert "error" not in m, f"Chromium could not play the video: {m}"
    assert m["ready"] >= 2 and m["time"] > 0 and abs(m["duration"] - 2.0) < 0.05
    assert (m["w"], m["h"]) == (64, 48) and m["loop"] and m["muted"] and m["poster"].endswith("dive1.png")


def test_a_bot_killed_mid_dive_resumes_it_and_posts_once(tmp_path):
    path = tiny_config(tmp_path, extra=DIVE.format(every=1))
    write_photo(tmp_path / "inbox" / "a.png", 1)
    cmd = [sys.executable, str(ROOT / "run_bot.py"), "--once", "--config", str(path)]
    env = {**os.environ, "LUCID_TEST_KILL_AT": "dive:1"}
    killed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    cfg = load_config(path)
    db = sqlite3.connect(cfg.data_dir / "bot.db")
    [(state, video)] = db.execute("SELECT state, video_path FROM dives").fetchall()
    assert state == "making" and db.execute("SELECT COUNT(*) FROM dreams").fetchone()[0] == 0
    parts = Path(video + ".parts")
    assert sorted(p.name for p in parts.glob("key_*.png")) == ["key_00000.png", "key_00002.png"]
    env.pop("LUCID_TEST_KILL_AT")
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming the dive" in again.stderr + again.stdout
    assert "(resumed at frame 4)" in again.stderr + again.stdout  # keyframes 0 and 2 were not dreamt again
    [post] = outbox_posts(cfg)
    assert probe(cfg.outbox_dir / post["video"]).frames == 5
    assert db.execute("SELECT state, video_path FROM dives").fetchall() == [("made", video)]
    assert db.execute("SELECT COUNT(*), MAX(video_path) FROM dreams").fetchone() == (1, video)
    assert db.execute("SELECT publisher, state FROM posts").fetchall() == [("outbox", "confirmed")]
    third = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0 and len(outbox_posts(cfg)) == 1  # nothing posted twice


def test_a_finished_but_unrecorded_dive_is_used_as_it_is(tmp_path):
    """A bot killed after the video was made but before it was recorded: the next run takes the
    video (same classes, seed and frames) instead of dreaming it again; another dive's is not."""
    from dataclasses import dataclass

    from PIL import Image

    from bot.config.recipe import build_recipe
    from bot.render import EngineRenderer, make_dive

    @dataclass
    class Refuses:
        def dive(self, *args, **kw):
            raise AssertionError("dreamt again")

    cfg = load_config(tiny_config(tmp_path, extra=DIVE.format(every=1)))
    base = cfg.dive.recipe(build_recipe(cfg.recipe))
    photo = Image.open(write_photo(tmp_path / "p.png", 3)).convert("RGB")
    video = tmp_path / "dreams" / "d.mp4"
    kw = dict(classes={"goldfish": 1.0}, seed=5, video=video, settings=cfg.dive.settings(), info={})
    first = make_dive(EngineRenderer(), photo, base, **kw)
    made = video.read_bytes()
    again = make_dive(Refuses(), photo, base, **kw)
    assert (again.frames, again.size, again.video) == (first.frames, first.size, video)
    assert video.read_bytes() == made and again.poster.is_file()
    with pytest.raises(AssertionError, match="dreamt again"):
        make_dive(Refuses(), photo, base, **{**kw, "seed": 6})


def test_a_dive_that_keeps_killing_the_bot_is_set_aside_with_its_keyframes(tmp_path):
    from bot.pipeline import _drop_stray_dreams

    store = Store(tmp_path / "bot.db")
    dreams = tmp_path / "dreams"
    mine, stray = dreams / "20261201-120000-aaaaaaaa.mp4", dreams / "20261201-110000-bbbbbbbb.mp4"
    for video in (mine, stray):
        (video.parent / (video.name + ".parts")).mkdir(parents=True)
        (video.parent / (video.name + ".parts") / "key_00000.png").write_bytes(b"x")
    sid = store.take_source("inbox", None, "sha-a", {})
    store.start_dive(sha256="sha-a", post_key="k1", seed=1, combo_key="1", classes=[[1, "goldfish", 1.0]],
                     video_path=mine)
    _drop_stray_dreams(store, dreams)
    assert (dreams / (mine.name + ".parts")).is_dir()  # its dive is still being made
    assert not (dreams / (stray.name + ".parts")).exists()  # nobody's: cleared away
    store.release_orphan_sources(crash_limit=1)  # the photo killed the bot once too often
    assert store.dive_in_progress("sha-a") is None and sid
    _drop_stray_dreams(store, dreams)
    assert not (dreams / (mine.name + ".parts")).exists()
