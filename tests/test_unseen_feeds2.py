"""Feed and URL-list leftovers of the first sweep (test_unseen_feeds.py): each test names what
went wrong before. Feeds are served by a local HTTP server; nothing leaves the machine."""
from __future__ import annotations

import pytest

from bot.sources.base import sha256
from bot.sources.feed import FeedSource
from bot.sources.urls import UrlsSource
from bot_helpers import LocalServer, photo_bytes
from test_bot_sources import OPEN, store  # noqa: F401 (store: the fixture)
from test_unseen_feeds import _rss


# --- pictures too small to dream -----------------------------------------------------------------
@pytest.mark.parametrize("size", [(1, 1), (400, 40)])
def test_a_picture_too_small_to_dream_is_skipped_once_and_the_next_one_taken(tmp_path, store, caplog, size):
    # A 1×1 counter pixel or a 400×40 banner in a URL list or a feed was dreamt: a blown-up
    # smear posted as a "photo".
    caplog.set_level("INFO", logger="bot.sources")
    with LocalServer() as srv:
        srv.routes["/tiny.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1, size=size))
        srv.routes["/ok.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(2))
        lst = tmp_path / "urls.txt"
        lst.write_text(f"{srv.url('/tiny.png')} Tiny\n{srv.url('/ok.png')} Fine\n", encoding="utf-8")
        src = UrlsSource("l", lst, OPEN)
        assert src.take(store).credit.title == "Fine"
        assert src.take(store).credit.title == "Fine"  # the next cycle: the small one is not fetched again
        assert srv.hits.count("/tiny.png") == 1
    lines = [r.getMessage() for r in caplog.records if "tiny.png" in r.getMessage()]
    assert len(lines) == 1 and f"{size[0]}×{size[1]} pixels is too small to dream" in lines[0], lines
    assert store.source_blocked(url=srv.url("/tiny.png"))
    assert store.source_blocked(sha256=sha256(photo_bytes(1, size=size)))  # nor under another URL


def test_a_feeds_smallest_photo_that_can_still_be_dreamt_is_taken(store):
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {}, _rss(
            f'<item><title>small</title><enclosure url="{srv.url("/p.png")}" type="image/png"/></item>').encode())
        srv.routes["/p.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1, size=(64, 64)))
        assert FeedSource("f", srv.url("/feed"), OPEN).take(store).credit.title == "small"
