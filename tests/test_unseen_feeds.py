"""Feed and URL-list content nobody had tried (a sweep of real-world shapes and hostile input):
each once crashed a cycle, lost a photo or posted the wrong thing, and now gets a clear log line
or the right behaviour. Feeds are served by a local HTTP server; nothing leaves the machine."""
from __future__ import annotations

import codecs

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


def _rss(items: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (f'{declaration}<rss version="2.0"><channel><title>c</title>'
            f"<link>http://photos.example/</link><description>d</description>{items}</channel></rss>")


# --- image addresses -------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a..example", "x\ufffdy.example"])
def test_an_image_host_no_dns_name_can_have_is_refused_and_the_feed_moves_on(store, host):
    # A label over 63 characters, an empty one, or a character IDNA forbids: getaddrinfo's idna
    # codec raised UnicodeError, no FetchError, so the cycle failed with a traceback, and again
    # every cycle after, as the entry was never recorded: the feed's later photos never came.
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {"Content-Type": "application/rss+xml"}, _rss(
            f'<item><title>bad</title><enclosure url="http://{host}/x.png" type="image/png"/></item>'
            f'<item><title>good</title><enclosure url="{srv.url("/p.png")}" type="image/png"/></item>').encode())
        srv.routes["/p.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        item = FeedSource("f", srv.url("/feed"), OPEN).take(store)
    assert item is not None and item.credit.title == "good"
    (row,) = store._query("SELECT url, error FROM sources WHERE status = 'failed'")
    assert "is not a valid host name" in row["error"]
    assert store.source_blocked(url=row["url"])  # refused for good, not fetched again each cycle


# --- how a feed's bytes read -------------------------------------------------------------------
@pytest.mark.parametrize("codec, bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                                        ("utf-32-le", codecs.BOM_UTF32_LE)])
@pytest.mark.parametrize("declaration", ["", '<?xml version="1.0"?>'])
def test_a_feed_whose_byte_order_mark_alone_names_its_encoding_is_read(codec, bom, declaration):
    # XML needs no encoding declaration after a byte order mark. feedparser, told where the
    # feed came from but no content type, strips the mark and reads the rest as ISO-8859-1:
    # "not well-formed", and a UTF-16 feed (as Windows tools write them) gave no photo at all.
    title = "Café naïve ☕"
    xml = _rss(f'<item><title>{title}</title><link>http://x.example/1</link>'
               '<enclosure url="http://x.example/p.jpg" type="image/jpeg"/></item>', declaration)
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {"Content-Type": "application/rss+xml"}, bom + xml.encode(codec))
        ((url, credit, _),) = list(FeedSource("f", srv.url("/feed"), OPEN)._candidates())
    assert url == "http://x.example/p.jpg" and credit.title == title
