"""The outbox gallery as people see it: before/after, readable dates, hashtags once, live links,
pages, and in Chromium: pictures fit a phone's card, dark mode follows the system."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.publishers.base import Post
from bot.publishers.gallery import PAGE_SIZE, linkify, readable_date
from bot.publishers.outbox import OutboxPublisher, save_source_photo, source_photo_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars"]


def dream_post(tmp_path: Path, post_id: str, *, with_source: bool = True, caption: str | None = None,
               colour=(220, 30, 40), size=(1200, 800)) -> Post:
    img = tmp_path / "dreams" / f"{post_id}.png"
    img.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(img)
    if with_source:
        assert save_source_photo(Image.new("RGB", size, (30, 40, 220)), img) == source_photo_path(img)
    return Post(post_id=post_id, image_path=img,
                caption=caption or "goldfish × stingray\n\nSource photo: “Harbour” https://photos.example/h\n\n#deepdream #botArt",
                alt_text="Machine-made picture: a neural network dreamt goldfish into the photo “Harbour”.",
                tags=("deepdream", "botArt", "lucidDream"), source_url="https://photos.example/h", title="Harbour")


def test_card_shows_the_source_photo_beside_the_dream(tmp_path):
    out = OutboxPublisher(tmp_path / "outbox")
    out.publish(dream_post(tmp_path, "p1"))
    out.publish(dream_post(tmp_path, "p2", with_source=False))
    meta = json.loads((tmp_path / "outbox" / "p1.json").read_text())
    assert meta["source_image"] == "p1.source.jpg" and (tmp_path / "outbox" / "p1.source.jpg").is_file()
    assert max(meta["source_size"]) == 1024  # a small copy, not the whole photo again
    page = (tmp_path / "outbox" / "index.html").read_text()
    p1 = page[page.index('id="post-p1"'):]
    imgs = re.findall(r'<img src="([^"]+)" alt="([^"]*)"', p1)
    assert [src for src, _ in imgs] == ["p1.source.jpg", "p1.png"]
    assert imgs[0][1] == "The source photo: Harbour, before the dream."
    assert imgs[1][1].startswith("Machine-made picture: a neural network dreamt goldfish into")
    assert 'width="1200" height="800"' in p1  # the card keeps its place while images load
    p2 = page[page.index('id="post-p2"'):page.index('id="post-p1"')]
    assert p2.count("<img") == 1 and "pair single" in p2


def test_dates_read_like_dates():
    assert readable_date("2026-12-01T18:32:05+00:00") == "1 December 2026, 18:32 UTC"
    assert readable_date("2026-03-09T07:05:00+01:00") == "9 March 2026, 07:05 +0100"
    assert readable_date("not a date") == "not a date"


def test_page_dates_hashtags_once_and_links(tmp_path):
    out = OutboxPublisher(tmp_path / "outbox")
    out.publish(dream_post(tmp_path, "p1"))
    page = (tmp_path / "outbox" / "index.html").read_text()
    published = json.loads((tmp_path / "outbox" / "p1.json").read_text())["published_at"]
    assert f'<time datetime="{published}">{readable_date(published)}</time>' in page
    text = re.sub(r"<[^>]+>", " ", page[page.index("<article"):])
    assert text.count("#deepdream") == 1 and text.count("#botArt") == 1
    assert text.count("#lucidDream") == 1  # a tag the caption left out still shows, once
    assert '<a href="https://photos.example/h" rel="nofollow noopener">https://photos.example/h</a>' in page


def test_only_web_addresses_become_links_and_text_stays_escaped():
    html_ = linkify('see https://a.example/x?y=1&z=2. or javascript:alert(1) <b>"hi"</b>')
    assert '<a href="https://a.example/x?y=1&amp;z=2"' in html_
    assert "z=2</a>." in html_  # the sentence's full stop is no part of the address
    assert "javascript:alert(1)" in html_ and 'href="javascript' not in html_
    assert "&lt;b&gt;&quot;hi&quot;&lt;/b&gt;" in html_


def test_pages_past_a_few_dozen_posts(tmp_path):
    out = OutboxPublisher(tmp_path / "outbox")
    n = PAGE_SIZE + 6
    for i in range(n):
        out.publish(dream_post(tmp_path, f"p{i:02d}", with_source=False, size=(40, 30)))
    first = (tmp_path / "outbox" / "index.html").read_text()
    second = (tmp_path / "outbox" / "page-2.html").read_text()
    assert first.count("<article") == PAGE_SIZE and second.count("<article") == 6
    assert 'href="page-2.html" rel="next"' in first and 'href="index.html" rel="prev"' in second
    assert "page 1 of 2" in first
    ids = re.findall(r'id="post-(p\d+)"', first + second)
    assert len(set(ids)) == n  # every post on exactly one page
    for meta in (tmp_path / "outbox").glob("p0*.json"):  # the operator prunes the outbox by hand
        meta.unlink()
    out.rebuild_index()
    assert not (tmp_path / "outbox" / "page-2.html").exists()
    assert "<nav>" not in (tmp_path / "outbox" / "index.html").read_text()


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)


_MEASURE = """<script>
addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.insertAdjacentHTML('beforeend', '<pre id="m">' + JSON.stringify({
    viewport: innerWidth, page: document.documentElement.scrollWidth,
    imgs: imgs.map(i => [i.getBoundingClientRect().left, i.getBoundingClientRect().right, i.naturalWidth,
                         i.getBoundingClientRect().top]),
    bg: getComputedStyle(document.body).backgroundColor}) + '</pre>');
});
</script></body>"""


@pytest.mark.parametrize("width", [412, 1280])
def test_pictures_fit_the_card_on_phone_and_desktop(width, tmp_path):
    assert CHROMIUM, "Chromium is a test peer (Debian: apt-get install -y chromium)"
    out = OutboxPublisher(tmp_path / "outbox")
    out.publish(dream_post(tmp_path, "wide", size=(2400, 1600)))  # far wider than any screen
    probe = tmp_path / "outbox" / "probe.html"
    probe.write_text((tmp_path / "outbox" / "index.html").read_text().replace("</body>", _MEASURE))
    dom = _chromium(probe, tmp_path / "profile", f"--window-size={width},900", "--dump-dom").stdout
    m = json.loads(re.search(r'<pre id="m">(\{.*?)</pre>', dom, re.S).group(1))
    assert m["page"] <= m["viewport"], f"the page scrolls sideways at {width} px: {m}"
    assert len(m["imgs"]) == 2 and all(nat > 0 for _, _, nat, _ in m["imgs"]), "an image did not load"
    for left, right, _, _ in m["imgs"]:
        assert 0 <= left < right <= m["viewport"]
    (b_left, b_right, _, b_top), (d_left, d_right, _, d_top) = m["imgs"]
    if width == 412:  # a phone: the dream at the card's width, the photo before it a thumbnail below
        assert d_top < b_top and b_left == d_left
        assert d_right - d_left > 300 and (b_right - b_left) < (d_right - d_left) / 2
    else:  # a desktop: side by side, the dream the bigger
        assert b_right <= d_left and abs(b_top - d_top) < 1
        assert d_right - d_left > 1.5 * (b_right - b_left)


def test_dark_mode_follows_the_system(tmp_path):
    assert CHROMIUM, "Chromium is a test peer (Debian: apt-get install -y chromium)"
    OutboxPublisher(tmp_path / "outbox").publish(dream_post(tmp_path, "p1", size=(60, 40)))
    index = tmp_path / "outbox" / "index.html"

    def corner(*extra: str) -> np.ndarray:
        shot = tmp_path / f"shot{len(extra)}.png"
        _chromium(index, tmp_path / f"profile{len(extra)}", f"--screenshot={shot}", "--window-size=800,600", *extra)
        return np.asarray(Image.open(shot).convert("RGB"))[590, 5].astype(int)

    light, dark = corner(), corner("--force-dark-mode", "--enable-features=WebContentsForceDark:false")
    assert light.mean() > 200, f"light page background {light}"
    assert dark.mean() < 60, f"dark page background {dark}"
