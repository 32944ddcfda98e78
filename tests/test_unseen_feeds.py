"""Feed and URL-list content nobody had tried (a sweep of real-world shapes and hostile input):
each once crashed a cycle, lost a photo or posted the wrong thing, and now gets a clear log line
or the right behaviour. Feeds are served by a local HTTP server; nothing leaves the machine."""
from __future__ import annotations

import codecs
from typing import Any

import pytest

from bot.sources.base import Credit
from bot.sources.feed import FeedSource, entry_image, first_img
from bot_helpers import LocalServer, photo_bytes
from test_bot_sources import OPEN, store  # noqa: F401 (store: the fixture)


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


# --- which picture is an entry's photo ---------------------------------------------------------
def _entry(content: str) -> Any:
    import feedparser

    xml = _rss('<item><title>t</title><link>https://photos.example/p/1</link>'
               f"<description><![CDATA[{content}]]></description></item>")
    return feedparser.parse(xml.encode()).entries[0]


EMOJI = ('<img src="https://s.w.org/images/core/emoji/15.0.3/72x72/1f389.png" alt="🎉" class="wp-smiley" '
         'style="height: 1em; max-height: 1em;" />')
PIXEL = '<img src="https://feeds.example/~r/photos/~4/abc" height="1" width="1" alt=""/>'


@pytest.mark.parametrize("before", [EMOJI, PIXEL, '<img class="emoji" src="/e.png" alt=":)">',
                                    '<img src="/icon.png" width="16px" height="16px">'])
def test_an_emoji_or_a_tracking_pixel_before_the_photo_is_not_taken_for_it(before):
    # WordPress writes each emoji of a post into its feed as an <img class="wp-smiley">, and
    # counters add a 1×1 picture: the first <img> was the "photo", and the bot dreamt (and
    # posted) a 72×72 party popper described as "🎉", or a single pixel.
    e = _entry(f'<p>{before} Party on the quay!</p><p><img src="/photos/quay.jpg" alt="the quay" width="1200"></p>')
    assert entry_image(e, "https://photos.example/") == ("https://photos.example/photos/quay.jpg", "the quay")


def test_an_entry_whose_only_picture_is_a_tracking_pixel_has_no_photo():
    assert entry_image(_entry(f"<p>Words only.</p>{PIXEL}"), "https://photos.example/") == (None, None)
    assert first_img('<img src="/a.jpg" width="100%"><img src="/b.jpg">') == ("/a.jpg", None)  # no size in px


# --- what a post says --------------------------------------------------------------------------
def test_a_paragraph_for_a_title_cannot_push_the_credit_link_and_the_note_out_of_a_post():
    # Tumblr's feeds and many blogs' put a post's text in <title>: a 300-character title cut
    # the operator's "Machine-made ..." note out of a 500-character toot, a longer one the
    # author, licence and link too.
    from bot.caption import make_caption
    from bot.config.sections import DEFAULT_NOTE, CaptionSection
    from bot.publishers.mastodon_text import MastodonLimits, compose_text

    words = "lorem ipsum dolor sit amet " * 40
    credit = Credit(title="Down by the quay: " + words, author="Jo Bloggs, " + words,
                    link="https://photos.example/p/1", licence="CC BY 4.0 " + words)
    caption = make_caption(CaptionSection(), bot="B", class_names=["goldfish"], credit=credit, description=None)
    toot = compose_text("k", caption.text, caption.tags, MastodonLimits())
    assert "Down by the quay: lorem ipsum" in toot and "Jo Bloggs" in toot and "CC BY 4.0" in toot
    assert "https://photos.example/p/1" in toot and DEFAULT_NOTE in toot, toot


# --- URL lists -----------------------------------------------------------------------------------
def test_a_url_list_saved_with_a_byte_order_mark_keeps_its_first_url(tmp_path):
    # Windows' Notepad saved UTF-8 with a byte order mark: the first line read "\ufeffhttps://...",
    # was refused as "not http(s)" and blocked for good, without the operator seeing why.
    from bot.sources.urls import UrlsSource

    lst = tmp_path / "urls.txt"
    lst.write_bytes(codecs.BOM_UTF8 + b"https://photos.example/1.jpg Harbour\r\nhttps://photos.example/2.jpg\r\n")
    assert UrlsSource("l", lst, OPEN).entries() == [("https://photos.example/1.jpg", "Harbour"),
                                                    ("https://photos.example/2.jpg", None)]


def test_a_url_list_whose_titles_follow_a_tab_reads_the_url_alone():
    # Pasted from a spreadsheet, "URL<tab>title": the whole line was the URL, fetched as
    # ".../1.jpg%09Harbour", a 404, and the photo was blocked for good.
    from bot.sources.urls import parse_lines

    assert parse_lines("https://photos.example/1.jpg\tHarbour, by Jo\nhttps://photos.example/2.jpg\t\n") == [
        ("https://photos.example/1.jpg", "Harbour, by Jo"), ("https://photos.example/2.jpg", None)]


def test_the_password_in_a_url_lists_address_is_never_posted(tmp_path, store):
    # "https://me:pw@photos.home/1.jpg" (a photo server behind a password) was the credit's
    # link: the caption posted it (the "@" %-escaped) and the gallery linked it, password and all.
    from bot.caption import make_caption
    from bot.config.sections import CaptionSection
    from bot.sources.urls import UrlsSource

    with LocalServer() as srv:
        srv.routes["/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        lst = tmp_path / "urls.txt"
        lst.write_text(srv.url("/1.png").replace("http://", "http://me:hunter2@") + " Harbour\n", encoding="utf-8")
        item = UrlsSource("l", lst, OPEN).take(store)
    caption = make_caption(CaptionSection(), bot="B", class_names=["goldfish"], credit=item.credit, description=None)
    assert item.public_url == srv.url("/1.png") and srv.url("/1.png") in caption.text
    assert "hunter2" not in caption.text + caption.alt_text and "me:" not in caption.text


@pytest.mark.parametrize("link, posted", [
    ("https://bücher.example/straße?q=ü", "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%BC"),
    ("https://例子.测试/路径", "https://xn--fsqu00a.xn--0zwm56d/%E8%B7%AF%E5%BE%84"),
    ("https://ＢÜCHER.example:8443/p", "https://xn--bcher-kva.example:8443/p"),
    ("https://photos.example/@jo/1", "https://photos.example/%40jo/1"),  # as before
])
def test_a_credit_link_to_an_international_domain_stays_a_link(link, posted):
    # Each letter was %-escaped, the host too: "https://b%C3%BCcher.example/..." is no host
    # Mastodon links (nor a reader can read); its ASCII form (IDNA) is.
    from bot.caption import inert_link

    assert inert_link(link) == posted


# --- what a feed's address gives -----------------------------------------------------------------
@pytest.mark.parametrize("page, said", [
    (b'<!DOCTYPE html><html><head><title>Jo\'s photos</title><link rel="alternate" type="application/rss+xml" '
     b'href="/feed.xml"></head><body><img src="/a.jpg"></body></html>',
     "it is a web page (HTML), not a feed; the page names its feed: sources.url = \"{base}/feed.xml\""),
    (b"<html><body>Jo's photos</body></html>", "it is a web page (HTML), not a feed; "),
    (b'{"posts": [{"title": "J", "image": "/a.jpg"}]}', 'it is JSON but no JSON Feed (no "version": '),
])
def test_a_feed_address_that_gives_a_web_page_or_json_says_so(store, page, said):
    # The blog's own address given for its feed: "is not a usable RSS/Atom feed: <unknown>:2:0:
    # syntax error", which told the operator nothing they could act on.
    from bot.sources.base import SourceError

    with LocalServer() as srv:
        srv.routes["/"] = (200, {"Content-Type": "text/html; charset=utf-8"}, page)
        with pytest.raises(SourceError) as info:
            FeedSource("f", srv.url("/"), OPEN).take(store)
    assert said.format(base=srv.url("")) in str(info.value), info.value


def test_an_image_url_of_200_000_characters_is_refused_unfetched_in_a_short_line(store, caplog):
    # It was requested (the server said 414), and logged and stored whole: a 200 KB log line.
    with LocalServer() as srv:
        long_url = srv.url("/p.png?") + "a" * 200_000
        srv.routes["/feed"] = (200, {}, _rss(f'<item><enclosure url="{long_url}" type="image/png"/></item>').encode())
        assert FeedSource("f", srv.url("/feed"), OPEN).take(store) is None
        assert srv.hits == ["/feed"]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.sources"]
    assert len(line) < 400 and "200,0" in line and "characters" in line, line
    assert store.source_blocked(url=long_url)


def test_a_photo_its_author_marked_adult_is_not_dreamt(store, caplog):
    # Mastodon's account feeds (and Media RSS generally) mark sensitive media with
    # <media:rating>adult</media:rating>: the bot dreamt it and posted it for all to see.
    caplog.set_level("INFO", logger="bot.sources")
    def item(n: int, rating: str) -> str:
        return (f"<item><link>https://photo.example/@jo/{n}</link><pubDate>Mon, 0{n} Jan 2024 00:00:00 +0000</pubDate>"
                f'<media:content url="{srv.url(f"/{n}.png")}" type="image/png" medium="image">'
                f'<media:rating scheme="urn:simple">{rating}</media:rating></media:content></item>')

    with LocalServer() as srv:
        feed = _rss(item(1, "nonadult") + item(2, "adult")).replace(
            '<rss version="2.0">', '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">')
        srv.routes["/feed"] = (200, {}, feed.encode())
        for n in (1, 2):
            srv.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(n))
        item_taken = FeedSource("f", srv.url("/feed"), OPEN).take(store)
        assert item_taken.url == srv.url("/1.png") and "/2.png" not in srv.hits
    assert any("https://photo.example/@jo/2" in r.getMessage() and "adult" in r.getMessage() for r in caplog.records)
