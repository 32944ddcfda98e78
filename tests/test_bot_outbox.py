"""The outbox publisher: files, idempotency, an escaped gallery that works from file:// in Chromium."""
from __future__ import annotations

import html
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.publishers.base import Post
from bot.publishers.outbox import OutboxPublisher
from bot_helpers import photo_bytes


def make_post(tmp_path: Path, post_id: str, caption: str = "goldfish × shark", alt: str = "A dream") -> Post:
    img = tmp_path / "dreams" / f"{post_id}.png"
    img.parent.mkdir(parents=True, exist_ok=True)
    img.write_bytes(photo_bytes(hash(post_id) % 100))
    return Post(post_id=post_id, image_path=img, caption=caption, alt_text=alt, tags=("deepdream",),
                source_url="https://photos.example/1", title="T")


class _Gallery(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict] = []
        self.articles: list[str] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        elif tag == "article":
            self.articles.append(a["id"])
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Gallery:
    g = _Gallery()
    g.feed(page)
    return g


def test_publish_writes_image_json_and_index(tmp_path):
    out = OutboxPublisher(tmp_path / "outbox", title="My <Bot>")
    post = make_post(tmp_path, "p1")
    res = out.publish(post)
    assert res.remote_id == "p1" and res.url.endswith("/outbox/index.html#post-p1")
    meta = json.loads((tmp_path / "outbox" / "p1.json").read_text())
    assert meta["caption"] == post.caption and meta["alt_text"] == "A dream" and meta["image"] == "p1.png"
    assert (tmp_path / "outbox" / "p1.png").read_bytes() == post.image_path.read_bytes()
    page = (tmp_path / "outbox" / "index.html").read_text()
    assert "<title>My &lt;Bot&gt;</title>" in page
    g = parse(page)
    assert g.imgs[0]["src"] == "p1.png" and g.imgs[0]["alt"] == "A dream"


def test_idempotent_per_post_id(tmp_path):
    out = OutboxPublisher(tmp_path / "outbox")
    post = make_post(tmp_path, "same")
    assert out.find_existing(post) is None
    first = out.publish(post)
    before = (tmp_path / "outbox" / "same.json").read_text()
    assert out.find_existing(post) == first
    assert out.publish(post) == first
    assert (tmp_path / "outbox" / "same.json").read_text() == before
    assert len(list((tmp_path / "outbox").glob("*.json"))) == 1


def test_gallery_newest_first_and_escaped(tmp_path):
    out = OutboxPublisher(tmp_path / "outbox")
    evil = '<script>alert(1)</script> "quoted" & more'
    for i, pid in enumerate(["a1", "b2", "c3"]):
        out.publish(make_post(tmp_path, pid, caption=f"post {pid} {evil}", alt=f'alt {pid} "x" <b>'))
        meta = tmp_path / "outbox" / f"{pid}.json"
        m = json.loads(meta.read_text())
        m["published_at"] = f"2025-01-0{i + 1}T00:00:00+00:00"
        meta.write_text(json.dumps(m))
    bad = make_post(tmp_path, "d4")
    bad = Post(**{**bad.__dict__, "source_url": "javascript:alert(1)"})
    out.publish(bad)
    page = out.rebuild_index().read_text()
    g = parse(page)
    assert g.articles[:3] == ["post-d4", "post-c3", "post-b2"]  # d4 is newest (published now)
    assert g.scripts == 0 and "javascript:" not in page
    assert [i["alt"] for i in g.imgs] == ["A dream", 'alt c3 "x" <b>', 'alt b2 "x" <b>', 'alt a1 "x" <b>']
    assert evil in html.unescape(page)  # the text is there, as text


def test_unsafe_post_id_refused(tmp_path):
    from bot.publishers.base import PublishError

    with pytest.raises(PublishError, match="not a safe file name"):
        OutboxPublisher(tmp_path).publish(make_post(tmp_path, "x").__class__(
            post_id="../escape", image_path=tmp_path / "x.png", caption="", alt_text=""))


from peers import CHROMIUM, require  # noqa: E402
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_gallery_in_headless_chromium(tmp_path):
    require("chromium", CHROMIUM)
    out = OutboxPublisher(tmp_path / "outbox")
    img = tmp_path / "dream.png"
    Image.new("RGB", (300, 200), (220, 30, 40)).save(img)  # a strong red, easy to find on screen
    out.publish(Post(post_id="chrome1", image_path=img, caption="goldfish × great white shark\n\n#deepdream",
                     alt_text="Machine-made image of a red field with goldfish dreamt into it"))
    index = (tmp_path / "outbox" / "index.html").resolve()
    profile = tmp_path / "profile"
    run = lambda *extra: subprocess.run(  # noqa: E731
        [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={profile}", *extra, index.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = run("--dump-dom").stdout
    g = parse(dom)
    assert "goldfish × great white shark" in "".join(g.text)
    assert g.imgs and g.imgs[0]["src"] == "chrome1.png"
    assert g.imgs[0]["alt"] == "Machine-made image of a red field with goldfish dreamt into it"
    # and the picture itself loads from file:// (a broken image would leave no red on screen)
    shot = tmp_path / "shot.png"
    run(f"--screenshot={shot}", "--window-size=900,900", "--hide-scrollbars")
    assert shot.exists(), "chromium wrote no screenshot"
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    red = int(((px[..., 0] > 180) & (px[..., 1] < 80) & (px[..., 2] < 80)).sum())
    assert red > 20_000, f"only {red} red pixels: the image did not render"
