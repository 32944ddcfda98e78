"""Feed and URL-list content nobody had tried (a sweep of real-world shapes and hostile input):
each once crashed a cycle, lost a photo or posted the wrong thing, and now gets a clear log line
or the right behaviour. Feeds are served by a local HTTP server; nothing leaves the machine."""
from __future__ import annotations

import pytest

from bot.sources.base import Credit
from bot.sources.feed import FeedSource
from bot.sources.fetch import FetchPolicy
from bot.store import Store
from bot_helpers import LocalServer, photo_bytes

OPEN = FetchPolicy(allow_private=True, connect_timeout=5, read_timeout=5, total_timeout=20)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "bot.db")
    yield s
    s.close()


def _rss(items: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>c</title>'
            f"<link>http://photos.example/</link><description>d</description>{items}</channel></rss>").encode()


# --- image addresses -------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a..example", "x\ufffdy.example"])
def test_an_image_host_no_dns_name_can_have_is_refused_and_the_feed_moves_on(store, host):
    # A label over 63 characters, an empty one, or a character IDNA forbids: getaddrinfo's idna
    # codec raised UnicodeError, no FetchError, so the cycle failed with a traceback, and again
    # every cycle after, as the entry was never recorded: the feed's later photos never came.
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {"Content-Type": "application/rss+xml"}, _rss(
            f'<item><title>bad</title><enclosure url="http://{host}/x.png" type="image/png"/></item>'
            f'<item><title>good</title><enclosure url="{srv.url("/p.png")}" type="image/png"/></item>'))
        srv.routes["/p.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        item = FeedSource("f", srv.url("/feed"), OPEN).take(store)
    assert item is not None and item.credit.title == "good"
    (row,) = store._query("SELECT url, error FROM sources WHERE status = 'failed'")
    assert "is not a valid host name" in row["error"]
    assert store.source_blocked(url=row["url"])  # refused for good, not fetched again each cycle
