"""Feed leftovers of a review of the second sweep (test_unseen_feeds2.py): each test names what
went wrong before. Feeds are served by a local HTTP server; nothing leaves the machine."""
from __future__ import annotations

import dataclasses
import json

import pytest

from bot.sources.feed import FeedSource
from bot_helpers import LocalServer, photo_bytes, tiny_config, write_photo
from test_bot_sources import OPEN, store  # noqa: F401 (store: the fixture)
from test_unseen_feeds import _rss

JSON_FEED = "https://jsonfeed.org/version/1.1"


# --- a malformed item stopped every source ------------------------------------------------------
def _json(items: list) -> bytes:
    return json.dumps({"version": JSON_FEED, "items": items}).encode()


@pytest.mark.parametrize("item", [
    {"attachments": 1, "image": "/ok.png"},  # no list: TypeError
    {"attachments": True, "image": "/ok.png"},
    {"attachments": 2.5, "image": "/ok.png"},
    {"attachments": "/2.png", "image": "/ok.png"},  # a string was read a character at a time
    {"image": "http://[x/1.png", "attachments": [{"url": "/ok.png", "mime_type": "image/png"}]},  # ValueError
    {"url": "http://[x", "image": "/ok.png"},  # the entry's link, the base of its pictures
])
def test_a_malformed_json_feed_item_is_passed_over_and_the_feeds_photo_taken(store, caplog, item):
    caplog.set_level("INFO", logger="bot.sources")
    with LocalServer() as srv:
        item = {k: srv.url(v) if isinstance(v, str) and v.startswith("/") else v for k, v in item.items()}
        for a in item.get("attachments") if isinstance(item.get("attachments"), list) else []:
            a["url"] = srv.url(a["url"])
        srv.routes["/feed.json"] = (200, {}, _json([item]))
        srv.routes["/ok.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        got = FeedSource("j", srv.url("/feed.json"), OPEN).take(store)
    assert got is not None and got.url == srv.url("/ok.png")
    assert got.credit.link is None or "[" not in got.credit.link  # no link that is none


def test_an_rss_entry_whose_link_or_picture_cannot_be_parsed_is_skipped_once_said(store, caplog):
    caplog.set_level("INFO", logger="bot.sources")
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {}, _rss(
            '<item><title>bad</title><link>http://[x</link><enclosure url="http://[x/1.png" type="image/png"/></item>'
            f'<item><title>good</title><enclosure url="{srv.url("/2.png")}" type="image/png"/></item>').encode())
        srv.routes["/2.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(2))
        src = FeedSource("f", srv.url("/feed"), OPEN)
        assert src.take(store).credit.title == "good"
        assert src.take(store).credit.title == "good"  # the next cycle: not said again
    said = [r.getMessage() for r in caplog.records if "http://[x/1.png" in r.getMessage()]
    assert len(said) == 1 and "cannot be read" in said[0] and "source f" in said[0], said


def _bot(tmp_path, first):
    """A pipeline whose sources are `first`, then the config's folder of two photos."""
    from bot.config import load_config
    from bot.parts import build_parts
    from bot.pipeline import Pipeline
    from bot.store import Store
    from requests_helpers import fake_render

    path = tiny_config(tmp_path)
    for n in (1, 2):
        write_photo(tmp_path / "inbox" / f"{n}.jpg", seed=n)
    cfg = load_config(path, environ={})
    store = Store(cfg.data_dir / "bot.db")
    parts = build_parts(cfg, store)
    return Pipeline(dataclasses.replace(parts, sources=[first, *parts.sources]), store, render=fake_render)


def test_a_bad_json_feed_first_does_not_stop_the_bots_other_sources(tmp_path):
    # `for a in item.get("attachments") or []` raised TypeError; the pipeline caught only
    # SourceError, so every cycle failed on the same feed (first again each cycle, its stored
    # copy replayed on every 304) and the folder behind it was never reached.
    with LocalServer() as srv:
        srv.routes["/feed.json"] = (200, {}, _json([{"attachments": 1, "image": "http://[x/1.png"}]))
        pipe = _bot(tmp_path, FeedSource("bad", srv.url("/feed.json"), OPEN))
        for _ in range(2):  # and the next cycle too: the folder is still reached
            result = pipe.run_cycle()
            assert result.dream_id is not None, result.message
        pipe.store.close()


class _Broken:
    """A source with a bug no test foresaw."""

    name, kind = "broken", "feed"

    def __init__(self) -> None:
        self.asked = 0

    def take(self, store):
        self.asked += 1
        raise TypeError("'int' object is not iterable")

    def queue_size(self, store):
        return None


def test_a_source_that_breaks_unexpectedly_is_its_own_error_and_the_next_source_is_asked(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="bot.pipeline")
    broken = _Broken()
    pipe = _bot(tmp_path, broken)
    for n in (1, 2):
        result = pipe.run_cycle()
        assert result.dream_id == n, result.message
    pipe.store.close()
    # asked once, then skipped while it backs off (test_source_backoff.py); the folder after it
    # was asked each cycle
    assert broken.asked == 1
    said = [r for r in caplog.records if "source broken" in r.getMessage() and r.levelname != "DEBUG"]
    assert len(said) == 1 and "TypeError" in said[0].getMessage() and said[0].exc_info, said
    assert not [r for r in caplog.records if r.getMessage().startswith("cycle failed")]


# --- itunes:explicit on one entry ------------------------------------------------------------------
ITUNES = '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'


@pytest.mark.parametrize("word", ["true", "yes", "explicit", " TRUE "])
def test_an_entry_marked_explicit_in_apples_words_is_skipped(store, caplog, word):
    # feedparser reads "true" and "explicit" as None (unknown): only "yes" was skipped, so an
    # entry its author marked explicit in Apple's current words was dreamt and posted.
    caplog.set_level("INFO", logger="bot.sources")
    with LocalServer() as srv:
        items = "".join(
            f"<item><title>p{n}</title><link>https://photo.example/{n}</link>"
            f"<pubDate>Mon, 0{n} Jan 2024 00:00:00 +0000</pubDate>{extra}"
            f'<enclosure url="{srv.url(f"/{n}.png")}" type="image/png"/></item>'
            for n, extra in ((1, ""), (2, f"<itunes:explicit>{word}</itunes:explicit>"),
                             (3, "<itunes:explicit>false</itunes:explicit>")))
        srv.routes["/feed"] = (200, {}, _rss(items).replace('<rss version="2.0">', ITUNES).encode())
        for n in (1, 2, 3):
            srv.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(n))
        src = FeedSource("f", srv.url("/feed"), OPEN)
        got = [(url, c.title) for url, c, _ in src._candidates(store)]
    assert got == [(srv.url("/3.png"), "p3"), (srv.url("/1.png"), "p1")]  # newest first, p2 passed over
    said = [r.getMessage() for r in caplog.records if "photo.example/2" in r.getMessage()]
    assert len(said) == 1 and "adult" in said[0], said
    assert store.source_blocked(url=srv.url("/2.png"))


def test_an_entries_rating_is_not_read_where_the_items_cannot_be_told_apart(store):
    # "<item>" inside a CDATA section: the feed's bytes hold more items than feedparser gives,
    # so no span is known to be whose; nothing is guessed (and the feed is still read).
    from bot.sources.ratings import explicit_entries

    data = (b'<rss><channel><item><description><![CDATA[<item>]]></description></item>'
            b'<item><itunes:explicit>true</itunes:explicit></item></channel></rss>')
    assert explicit_entries(data, 2) is None
    assert explicit_entries(data.replace(b"<![CDATA[<item>]]>", b"x"), 2) == [False, True]


def test_an_explicit_entry_of_a_utf16_feed_is_skipped_too(store):
    import codecs

    with LocalServer() as srv:
        items = (f'<item><title>p1</title><enclosure url="{srv.url("/1.png")}" type="image/png"/></item>'
                 f'<item><title>p2</title><itunes:explicit>true</itunes:explicit>'
                 f'<enclosure url="{srv.url("/2.png")}" type="image/png"/></item>')
        feed = _rss(items, '<?xml version="1.0"?>').replace('<rss version="2.0">', ITUNES)
        srv.routes["/feed"] = (200, {}, codecs.BOM_UTF16_LE + feed.encode("utf-16le"))
        src = FeedSource("f", srv.url("/feed"), OPEN)
        assert [c.title for _, c, _ in src._candidates(store)] == ["p1"]


# --- tiny pictures are set aside, not "ended" ------------------------------------------------------
def test_a_tracking_pixel_is_set_aside_without_telling_the_admin_it_ended_unposted(tmp_path, store):
    # A 1×1 pixel was recorded with ended=True: the operator's list of photos that ended
    # unposted filled with counters, as if good photos had been lost.
    from bot.sources.urls import UrlsSource

    with LocalServer() as srv:
        srv.routes["/tiny.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1, size=(1, 1)))
        lst = tmp_path / "urls.txt"
        lst.write_text(f"{srv.url('/tiny.png')} Tiny\n", encoding="utf-8")
        assert UrlsSource("l", lst, OPEN).take(store) is None
    assert store.source_blocked(url=srv.url("/tiny.png"))  # still skipped for good
    assert store.ended_count() == 0 and store.ended_items() == []


# --- stored feed copies of feeds that left the config ----------------------------------------------
def test_at_start_the_stored_copy_of_a_feed_no_longer_configured_is_deleted(tmp_path):
    # A feed taken out of the config kept its last body (up to the fetch cap) in the store for
    # ever; only a feed still configured is asked with a conditional GET.
    from bot import cli
    from bot.config import load_config
    from bot.store import Store

    kept, gone = "https://kept.example/feed.xml", "https://gone.example/feed.xml"
    folder = '[[sources]]\ntype = "folder"\nname = "inbox"\npath = "inbox"\nsettle_seconds = 0\n'
    # the folder first: it gives this cycle's photo, so the feed is never fetched (no network)
    path = tiny_config(tmp_path, sources=f'{folder}\n[[sources]]\ntype = "feed"\nname = "k"\nurl = "{kept}"\n')
    write_photo(tmp_path / "inbox" / "1.jpg", seed=1)
    store = Store(load_config(path, environ={}).data_dir / "bot.db")
    for feed in (kept, gone):
        store.keep_feed(feed, url=feed, content_type=None, body=b"<rss/>", etag='"1"', modified=None)
    store.close()
    assert cli.main(["--once", "--config", str(path)]) == 0
    store = Store(load_config(path, environ={}).data_dir / "bot.db")
    assert store.feed_copy(gone) is None and store.feed_copy(kept) is not None
    store.close()
