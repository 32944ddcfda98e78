"""Sources: a feed served by a real local HTTP server, a folder queue, a URL list; dedupe by URL
and by content through the store."""
from __future__ import annotations

import os
import time

import feedparser
import pytest

from bot.sources.base import Credit, SourceError
from bot.sources.feed import FeedSource, entry_image, first_img
from bot.sources.fetch import FetchPolicy
from bot.sources.folder import FolderSource
from bot.sources.urls import UrlsSource, parse_lines
from bot.store import Store
from bot_helpers import LocalServer, photo_bytes, write_photo

OPEN = FetchPolicy(allow_private=True, connect_timeout=5, read_timeout=5, total_timeout=20)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "bot.db")
    yield s
    s.close()


def dreamt(store: Store, item) -> None:
    """What the pipeline does with an item it used."""
    sid = store.take_source(item.source, item.url, item.sha256, item.credit.to_dict())
    store.finish_source(sid, ok=True)


def rss(base: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:creativeCommons="http://backend.userland.com/creativeCommonsRssModule">
<channel><title>Photos</title><link>{base}/</link><description>d</description>
<copyright>CC BY 4.0 (channel)</copyright>
<item><title>Old enclosure</title><link>{base}/e/1</link><dc:creator>Ann</dc:creator>
  <creativeCommons:license>https://creativecommons.org/licenses/by-sa/4.0/</creativeCommons:license>
  <enclosure url="{base}/img/1.png" type="image/png" length="100"/>
  <pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>
<item><title>Newest, in HTML</title><link>{base}/e/3</link><dc:creator>Cy &amp; Co</dc:creator>
  <description>&lt;p&gt;Look: &lt;img src="/img/3.png" alt="a harbour at dusk"&gt;&lt;/p&gt;</description>
  <pubDate>Wed, 03 Jan 2024 00:00:00 GMT</pubDate></item>
<item><title>Middle, media</title><link>{base}/e/2</link>
  <media:content url="{base}/img/2.png" medium="image"/>
  <media:credit>Bo</media:credit>
  <pubDate>Tue, 02 Jan 2024 00:00:00 GMT</pubDate></item>
<item><title>No picture</title><link>{base}/e/4</link><description>text only</description>
  <pubDate>Thu, 04 Jan 2024 00:00:00 GMT</pubDate></item>
</channel></rss>""".encode()


def test_feed_entries_newest_first_with_credit(store):
    with LocalServer() as srv:
        base = srv.url("")
        srv.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(base))
        for i in (1, 2, 3):
            srv.routes[f"/img/{i}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(i))
        src = FeedSource("photos", srv.url("/feed.xml"), OPEN, credit=Credit(licence="operator default"))

        item = src.take(store)
        assert item.url == srv.url("/img/3.png")  # the <img> in the newest entry, made absolute
        assert item.credit == Credit(title="Newest, in HTML", author="Cy & Co", link=srv.url("/e/3"),
                                     licence="CC BY 4.0 (channel)")
        assert item.description == "a harbour at dusk"
        assert item.public_url == srv.url("/e/3")
        dreamt(store, item)

        item = src.take(store)
        assert item.url == srv.url("/img/2.png") and item.credit.author == "Bo"
        dreamt(store, item)
        item = src.take(store)
        assert item.url == srv.url("/img/1.png")
        assert item.credit.licence == "https://creativecommons.org/licenses/by-sa/4.0/"  # entry beats channel
        dreamt(store, item)
        assert src.take(store) is None
        # seen URLs are never downloaded again
        assert srv.hits.count("/img/1.png") == 1 and srv.hits.count("/img/3.png") == 1


def test_feed_same_picture_under_another_url_is_skipped(store):
    with LocalServer() as srv:
        base = srv.url("")
        srv.routes["/feed.xml"] = (200, {}, rss(base))
        for i in (1, 2, 3):
            srv.routes[f"/img/{i}.png"] = (200, {}, photo_bytes(7))  # all the same bytes
        src = FeedSource("photos", srv.url("/feed.xml"), OPEN, order="oldest")
        first = src.take(store)
        assert first.url == srv.url("/img/1.png")
        dreamt(store, first)
        assert src.take(store) is None  # 2 and 3 are the same content
        assert store.source_counts() == {"dreamt": 1, "duplicate": 2}
        hits = len(srv.hits)
        assert src.take(store) is None
        assert [h for h in srv.hits[hits:] if h.startswith("/img/")] == []  # duplicates are not refetched


def test_feed_bad_entries_do_not_block_the_rest(store):
    with LocalServer() as srv:
        base = srv.url("")
        srv.routes["/feed.xml"] = (200, {}, rss(base))
        srv.routes["/img/3.png"] = (200, {"Content-Type": "text/html"}, b"<html>oops</html>")
        srv.routes["/img/2.png"] = (200, {}, photo_bytes(2))
        item = FeedSource("photos", srv.url("/feed.xml"), OPEN).take(store)
        assert item.url == srv.url("/img/2.png")
        assert store.source_counts() == {"failed": 1}


def test_feed_refused_by_default_and_errors_are_clear(store):
    with LocalServer() as srv:
        srv.routes["/feed.xml"] = (200, {}, rss(srv.url("")))
        srv.routes["/notafeed"] = (200, {"Content-Type": "text/html"}, b"<html><body>hello</body></html>")
        with pytest.raises(SourceError, match="loopback"):
            FeedSource("f", srv.url("/feed.xml"), FetchPolicy()).take(store)
        with pytest.raises(SourceError, match="not a usable RSS/Atom feed"):
            FeedSource("f", srv.url("/notafeed"), OPEN).take(store)
        assert srv.hits == ["/notafeed"]


def test_entry_image_sources_in_order():
    def entry(body: str):
        xml = f"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
        <channel><title>t</title><link>http://h.example/</link><description>d</description>
        <item><title>x</title><link>http://h.example/post</link>{body}</item></channel></rss>"""
        return feedparser.parse(xml.encode()).entries[0]

    thumb = '<media:thumbnail url="http://h.example/t.jpg"/>'
    html = '<description>&lt;img src="pics/a.jpg" alt="A"&gt;</description>'
    media = '<media:content url="http://h.example/small.jpg" medium="image" width="10" height="10"/>' \
            '<media:content url="http://h.example/big.jpg" medium="image" width="900" height="600"/>' \
            '<media:content url="http://h.example/clip.mp4" medium="video"/>'
    enc = '<enclosure url="http://h.example/e.jpg" type="image/jpeg" length="1"/>'
    base = "http://h.example/post"
    assert entry_image(entry(thumb + html + media + enc), base) == ("http://h.example/e.jpg", None)
    assert entry_image(entry(thumb + html + media), base) == ("http://h.example/big.jpg", None)
    assert entry_image(entry(thumb + html), base) == ("http://h.example/pics/a.jpg", "A")
    assert entry_image(entry(thumb), base) == ("http://h.example/t.jpg", None)
    assert entry_image(entry('<enclosure url="http://h.example/a.mp3" type="audio/mpeg" length="1"/>'), base) == (None, None)


def test_first_img_uses_a_real_html_parser():
    assert first_img('<p>x</p><IMG alt="b &amp; c" SRC="/a.png"><img src="/second.png">') == ("/a.png", "b & c")
    assert first_img('<!-- <img src="/commented.png"> --><img src=/unquoted.png>') == ("/unquoted.png", None)
    assert first_img("<p>no pictures</p>") == (None, None)


# --- folder -----------------------------------------------------------------------------------
def test_folder_queue_oldest_first_done_and_failed(tmp_path, store):
    inbox = tmp_path / "inbox"
    write_photo(inbox / "b.png", 1, age=100)
    write_photo(inbox / "a.png", 2, age=50)
    (inbox / "notes.txt").write_text("not a picture")
    (inbox / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    os.utime(inbox / "broken.jpg", (time.time() - 200,) * 2)
    write_photo(inbox / "fresh.png", 3, age=0)  # still being copied in
    write_photo(inbox / "c.png.part", 4, age=500)
    (inbox / "a.json").write_text('{"title": "Sunrise", "author": "Dee", "description": "a beach"}')
    src = FolderSource("inbox", inbox, credit=Credit(author="Default", licence="CC0"), settle_seconds=5)

    item = src.take(store)  # broken.jpg is oldest but unreadable -> failed/
    assert (inbox / "failed" / "broken.jpg").exists()
    assert "broken.jpg" in (inbox / "failed" / "broken.jpg.txt").read_text()
    assert item.credit == Credit(title="b", author="Default", licence="CC0", origin="b.png in the folder “inbox”")
    assert item.url is None  # a queue is deduped by content
    item.done()
    assert (inbox / "done" / "b.png").exists() and not (inbox / "b.png").exists()
    dreamt(store, item)

    item = src.take(store)
    assert item.credit == Credit(title="Sunrise", author="Dee", licence="CC0", origin="a.png in the folder “inbox”") and item.description == "a beach"
    item.failed("render blew up")
    assert (inbox / "failed" / "a.png").exists() and (inbox / "failed" / "a.json").exists()
    assert src.take(store) is None  # fresh.png is too new, .part and .txt are never taken
    assert src.queue_size(store) == 0

    # the same picture dropped in again (any name) is not dreamt twice
    write_photo(inbox / "b-again.png", 1, age=100)
    assert src.take(store) is None
    assert (inbox / "failed" / "b-again.png").exists()
    assert "dreamt before" in (inbox / "failed" / "b-again.png.txt").read_text()


def test_folder_without_consume_leaves_files(tmp_path, store):
    photos = tmp_path / "photos"
    for i in range(2):
        write_photo(photos / f"p{i}.png", i, age=100 - i)
    src = FolderSource("photos", photos, consume=False, settle_seconds=0)
    assert src.queue_size(store) == 2
    first = src.take(store)
    assert first.url == (photos / "p0.png").resolve().as_uri()
    dreamt(store, first)
    second = src.take(store)
    assert second.url.endswith("p1.png")
    dreamt(store, second)
    assert src.take(store) is None and src.queue_size(store) == 0
    assert sorted(p.name for p in photos.iterdir()) == ["p0.png", "p1.png"]


def test_folder_photo_without_sidecar_says_where_it_came_from(tmp_path, store):
    from bot.caption import credit_line

    photos = tmp_path / "photos"
    write_photo(photos / "coffee.png", 1, age=100)
    item = FolderSource("my photos", photos, consume=False, settle_seconds=0).take(store)
    assert credit_line(item.credit) == "Source photo: “coffee” — coffee.png in the folder “my photos”, author not given"


def test_bundled_demo_photos_carry_their_credit(store):
    from bot.caption import credit_line
    from tests.conftest import PHOTOS

    item = FolderSource("photos", PHOTOS, consume=False, settle_seconds=0).take(store)
    line = credit_line(item.credit)
    assert " by " in line and "(CC0)" in line or "(public domain)" in line, line
    assert "author not given" not in line and item.description


def test_missing_folder_is_a_clear_error(tmp_path, store):
    with pytest.raises(SourceError, match="does not exist"):
        FolderSource("x", tmp_path / "nope").take(store)


# --- URL list ---------------------------------------------------------------------------------
def test_url_list_parsing():
    text = "# picks\n\nhttps://a.example/1.jpg\n  https://b.example/2.png  Harbour, by Jo (CC BY)  \n# end\n"
    assert parse_lines(text) == [("https://a.example/1.jpg", None), ("https://b.example/2.png", "Harbour, by Jo (CC BY)")]


def test_url_list_source_dedupes(tmp_path, store):
    with LocalServer() as srv:
        srv.routes["/1.png"] = (200, {}, photo_bytes(1))
        srv.routes["/2.png"] = (200, {}, photo_bytes(1))  # same picture again
        srv.routes["/3.png"] = (200, {}, photo_bytes(3))
        lst = tmp_path / "urls.txt"
        lst.write_text(f"# mine\n{srv.url('/1.png')} First one\n{srv.url('/2.png')}\n{srv.url('/3.png')}\n")
        src = UrlsSource("picks", lst, OPEN, credit=Credit(author="Jo"))
        assert src.queue_size(store) == 3
        item = src.take(store)
        assert item.credit == Credit(title="First one", author="Jo", link=srv.url("/1.png"))
        dreamt(store, item)
        item = src.take(store)
        assert item.url == srv.url("/3.png")
        dreamt(store, item)
        assert src.take(store) is None
        assert src.queue_size(store) == 0


def test_each_source_is_the_kind_its_config_table_names(tmp_path):
    """SourceKind is the [[sources]] `type` the schema allows, and build_sources makes each
    table's source of that kind (`status` branches on it)."""
    from typing import get_args

    from bot.config import load_config
    from bot.config.sections import FeedSection, FolderSection, UrlsSection
    from bot.sources import SourceKind, build_sources
    from bot_helpers import tiny_config

    types = [get_args(c.model_fields["type"].annotation)[0] for c in (FolderSection, FeedSection, UrlsSection)]
    assert types == [k.value for k in SourceKind]
    tables = "".join(f'[[sources]]\ntype = "{t}"\nname = "{t}s"\n' + (
        'url = "https://example.org/feed.xml"\n' if t == "feed" else f'path = "{t}s"\n') for t in reversed(types))
    sources = build_sources(load_config(tiny_config(tmp_path, sources=tables)))
    assert [(s.name, s.kind) for s in sources] == [("urlss", SourceKind.URLS), ("feeds", SourceKind.FEED),
                                                   ("folders", SourceKind.FOLDER)]
    assert [type(s) for s in sources] == [UrlsSource, FeedSource, FolderSource]
    assert {type(s.kind) for s in sources} == {SourceKind}  # compared with `is`, never as text
