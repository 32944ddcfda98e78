"""Feed and URL-list leftovers of the first sweep (test_unseen_feeds.py): each test names what
went wrong before. Feeds are served by a local HTTP server; nothing leaves the machine."""
from __future__ import annotations

import pytest

from bot.sources.base import sha256
from bot.sources.feed import FeedSource
from bot.sources.urls import UrlsSource
from bot_helpers import LocalServer, photo_bytes
from test_bot_sources import OPEN, dreamt, store  # noqa: F401 (store: the fixture)
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


# --- passwords in addresses ----------------------------------------------------------------------
@pytest.mark.parametrize("json_lines", [False, True])
def test_the_password_in_a_url_lists_address_stays_out_of_the_operators_log(tmp_path, store, json_lines):
    # Posting was fixed, but "source l: http://me:hunter2@photos.home/1.png: HTTP 404" went
    # to the log (a file others read, a log collector) with the password.
    import io
    import logging

    from bot import logs

    stream = io.StringIO()
    handler = logs.setup("json" if json_lines else "plain", level="INFO", stream=stream)
    try:
        with LocalServer() as srv:
            srv.routes["/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
            srv.routes["/2.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))  # the same picture
            lst = tmp_path / "urls.txt"
            lst.write_text("".join(srv.url(p).replace("http://", "http://me:hunter2@") + "\n"
                                   for p in ("/gone.png", "/1.png", "/2.png")), encoding="utf-8")
            src = UrlsSource("l", lst, OPEN)
            dreamt(store, src.take(store))
            assert src.take(store) is None
            logging.getLogger("bot.test").info("no pass: https://photos.example/@jo/1 and jo@example.org")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "/gone.png" in text and "404" in text and "/2.png" in text and "the same picture" in text, text
    assert "hunter2" not in text and "me:" not in text, text
    assert "http://[secret]@127.0.0.1" in text, text
    assert "https://photos.example/@jo/1 and jo@example.org" in text  # a path's "@" is no password


# --- the operator's own credit ---------------------------------------------------------------------
def test_the_operators_own_credit_and_licence_are_never_cut_but_outside_text_is(tmp_path, store):
    # The 80-character cut meant for a feed's paragraph-long titles ran after the source's
    # defaults were merged in, so the operator's own licence line lost its end ("…") in every post.
    from bot.caption import CREDIT_FIELD_LIMIT, make_caption
    from bot.config import load_config
    from bot.config.sections import CaptionSection
    from bot.sources import build_sources

    licence = "CC BY-SA 4.0, photos by the Harbour Camera Club; ask us before you print them, thank you kindly"
    author = "The Harbour Camera Club of Little Bayford, its members and friends, 1998 to the present day"
    assert min(len(licence), len(author)) > CREDIT_FIELD_LIMIT
    words = "lorem ipsum dolor sit amet " * 10
    (tmp_path / "bot.toml").write_text(
        f'[[sources]]\ntype = "urls"\npath = "urls.txt"\nlicence = "{licence}"\nauthor = "{author}"\n'
        '[fetch]\nallow_private = true\n', encoding="utf-8")
    with LocalServer() as srv:
        srv.routes["/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        (tmp_path / "urls.txt").write_text(f"{srv.url('/1.png')} Down by the quay: {words}\n", encoding="utf-8")
        (src,) = build_sources(load_config(tmp_path / "bot.toml", environ={}))
        item = src.take(store)
    caption = make_caption(CaptionSection(), bot="B", class_names=["goldfish"], credit=item.credit, description=None)
    assert licence in caption.text and author in caption.text, caption.text
    assert "Down by the quay: lorem" in caption.text and words.strip() not in caption.text  # outside: cut
    assert item.credit.to_dict() == {"title": f"Down by the quay: {words}".strip(), "author": author,
                                     "link": srv.url("/1.png"), "licence": licence}  # stored whole, as before


def test_outside_text_that_replaces_the_operators_default_is_cut():
    from bot.caption import CREDIT_FIELD_LIMIT, outside_credit
    from bot.sources.base import Credit

    long = "x " * 100
    credit = Credit.operators(licence="the operator's " + long, author="Ann").merged(licence="the feed's " + long)
    assert len(outside_credit(credit).licence) <= CREDIT_FIELD_LIMIT and outside_credit(credit).author == "Ann"
    assert len(outside_credit(Credit(licence=long)).licence) <= CREDIT_FIELD_LIMIT  # unmarked: from outside


# --- photos marked adult ---------------------------------------------------------------------------
MRSS = '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'


def _rated(srv: LocalServer, n: int, rating: str) -> str:
    return (f"<item><link>https://photo.example/@jo/{n}</link><pubDate>Mon, 0{n} Jan 2024 00:00:00 +0000</pubDate>"
            f'<media:content url="{srv.url(f"/{n}.png")}" type="image/png" medium="image">'
            f'<media:rating scheme="urn:simple">{rating}</media:rating></media:content></item>')


def test_a_photo_marked_adult_is_logged_once_not_every_cycle(store, caplog):
    # Each cycle read the feed again and said again that the same entry was skipped: a line
    # an hour, for ever, for every sensitive post of a Mastodon account.
    caplog.set_level("INFO", logger="bot.sources")
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {}, _rss(_rated(srv, 1, "nonadult") + _rated(srv, 2, "adult"))
                               .replace('<rss version="2.0">', MRSS).encode())
        for n in (1, 2):
            srv.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(n))
        src = FeedSource("f", srv.url("/feed"), OPEN)
        for _ in range(3):
            assert src.take(store).url == srv.url("/1.png")
        assert "/2.png" not in srv.hits
    said = [r.getMessage() for r in caplog.records if "@jo/2" in r.getMessage()]
    assert len(said) == 1 and "adult" in said[0], said
    assert store.ended_count() == 0  # a choice, not a failure: the admin is not told of it


ITUNES = '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'


@pytest.mark.parametrize("head, channel", [
    (MRSS, '<media:rating scheme="urn:simple">adult</media:rating>'),
    (MRSS, "<media:rating>adult</media:rating>"),
    (ITUNES, "<itunes:explicit>yes</itunes:explicit>"),
    (ITUNES, "<itunes:explicit>true</itunes:explicit>"),  # Apple's word now; feedparser reads "unknown"
])
def test_a_feed_marked_adult_on_its_channel_gives_no_photo_and_says_so_once(store, caplog, head, channel):
    # A rating on the channel is for every entry; only an entry's own was read, so the
    # whole feed's photos were dreamt and posted for all to see.
    caplog.set_level("INFO", logger="bot.sources")
    with LocalServer() as srv:
        items = "".join(f'<item><link>https://photo.example/{n}</link><enclosure url="{srv.url(f"/{n}.png")}" '
                        f'type="image/png"/></item>' for n in (1, 2))
        feed = _rss(items).replace('<rss version="2.0">', head).replace("<description>d</description>",
                                                                        f"<description>d</description>{channel}")
        srv.routes["/feed"] = (200, {}, feed.encode())
        for n in (1, 2):
            srv.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(n))
        src = FeedSource("f", srv.url("/feed"), OPEN)
        assert src.take(store) is None and src.take(store) is None
        assert srv.hits == ["/feed", "/feed"]  # no photo of it fetched
    said = [r.getMessage() for r in caplog.records if r.name == "bot.sources"]
    assert len(said) == 1 and "2 new entries skipped" in said[0] and "marked" in said[0], said
    assert store.ended_count() == 0


def test_an_atom_feed_marked_adult_is_skipped_and_one_marked_clean_read(store):
    def atom(extra: str, n: int) -> bytes:
        return ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
                'xmlns:media="http://search.yahoo.com/mrss/" '
                f'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><title>c</title>{extra}'
                f'<entry><title>t{n}</title><link rel="enclosure" type="image/png" href="{srv.url(f"/{n}.png")}"/>'
                "</entry></feed>").encode()

    with LocalServer() as srv:
        for n in (1, 2):
            srv.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(n))
        srv.routes["/adult"] = (200, {}, atom("<media:rating>adult</media:rating>", 1))
        srv.routes["/clean"] = (200, {}, atom("<itunes:explicit>false</itunes:explicit>", 2))
        assert FeedSource("a", srv.url("/adult"), OPEN).take(store) is None
        assert FeedSource("c", srv.url("/clean"), OPEN).take(store).credit.title == "t2"


# --- JSON Feed -------------------------------------------------------------------------------------
def _json_feed(srv: LocalServer, version: str = "1.1") -> bytes:
    import json

    people = ({"authors": [{"name": "Jo Bloggs"}, {"name": 7}, {"name": "Sam"}]} if version == "1.1"
              else {"author": {"name": "Jo Bloggs", "url": "https://jo.example/"}})
    return json.dumps({
        "version": f"https://jsonfeed.org/version/{version}", "title": "Jo's photos", **people,
        "items": [
            {"id": "1", "url": "https://jo.example/1", "title": "Oldest, an image",
             "image": srv.url("/1.png"), "date_published": "2024-01-01T10:00:00Z"},
            {"id": "3", "url": "https://jo.example/3", "title": "Newest, in its HTML",
             "content_html": '<p>Look: <img src="/3.png" alt="a harbour at dusk"></p>',
             "date_published": "2024-01-03T10:00:00+02:00", "authors": [{"name": "Cy"}]},
            {"id": "2", "external_url": "https://elsewhere.example/2", "title": 42,
             "attachments": [{"url": srv.url("/2.mp3"), "mime_type": "audio/mpeg"},
                             {"url": srv.url("/2.png"), "mime_type": "image/png"}],
             "date_published": "2024-01-02T10:00:00Z"},
            {"id": "4", "content_text": "text only", "date_published": "2024-01-04T10:00:00Z"},
            "not an item",
            {"id": "5", "image": {"url": "/5.png"}, "attachments": "none", "date_published": "2024-01-05"},
        ]}).encode()


@pytest.mark.parametrize("version", ["1", "1.1"])
def test_a_json_feed_is_read_like_rss_newest_first_with_its_credit(store, version):
    # "it is JSON (a JSON Feed?), which the bot does not read": a site that offers only JSON
    # Feed (micro.blog, many static-site generators) could not be used at all.
    with LocalServer() as srv:
        srv.routes["/feed.json"] = (200, {"Content-Type": "application/feed+json"}, _json_feed(srv, version))
        src = FeedSource("j", srv.url("/feed.json"), OPEN)
        got = [(url, c.title, c.author, c.link, alt) for url, c, alt in src._candidates(store)]
    assert got == [
        ("https://jo.example/3.png", "Newest, in its HTML", "Cy", "https://jo.example/3", "a harbour at dusk"),
        (srv.url("/2.png"), None, "Jo Bloggs" + (", Sam" if version == "1.1" else ""), "https://elsewhere.example/2",
         None),
        (srv.url("/1.png"), "Oldest, an image", "Jo Bloggs" + (", Sam" if version == "1.1" else ""),
         "https://jo.example/1", "Oldest, an image"),
    ]


def test_a_json_feeds_photo_is_fetched_guarded_and_credited(store):
    with LocalServer() as srv:
        srv.routes["/feed.json"] = (200, {}, _json_feed(srv))
        srv.routes["/2.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(2))
        srv.routes["/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        item = FeedSource("j", srv.url("/feed.json"), OPEN, order="oldest").take(store)
    assert item.url == srv.url("/1.png") and item.credit.title == "Oldest, an image"


@pytest.mark.parametrize("body, said", [
    (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}', "(it has no items)"),
    (b'{"version": "https://jsonfeed.org/version/1", "items": "many"}', "(it has no items)"),
    (b"[" * 100_000 + b"]" * 100_000, "it is not valid JSON"),
    (b'{"version": "https://jsonfeed.org/version/1", "items": [}', "it is not valid JSON"),
    (b'{"version": 1.1, "items": []}', "no JSON Feed"),
    (b'\xff\xfe{\x00}\x00', "no JSON Feed"),  # UTF-16, a byte order mark: read, and no feed
])
def test_a_broken_or_hostile_json_feed_is_a_clear_error(store, body, said):
    from bot.sources.base import SourceError

    with LocalServer() as srv:
        srv.routes["/feed.json"] = (200, {}, body)
        with pytest.raises(SourceError) as info:
            FeedSource("j", srv.url("/feed.json"), OPEN).take(store)
    assert said in str(info.value) and len(str(info.value)) < 400, info.value


# --- conditional GET -----------------------------------------------------------------------------------
class _Conditional:
    """A feed route that answers 304 to a request carrying its current validator."""

    def __init__(self, body: bytes, header: str, value: str):
        self.body, self.header, self.value = body, header, value
        self.asked: list[dict[str, str | None]] = []

    def __call__(self, h) -> None:
        self.asked.append({k: h.headers.get(k) for k in ("If-None-Match", "If-Modified-Since")})
        sent = h.headers.get("If-None-Match" if self.header == "ETag" else "If-Modified-Since")
        h.send_response(304 if sent == self.value else 200)
        h.send_header(self.header, self.value)
        if sent == self.value:
            h.end_headers()
            return
        h.send_header("Content-Length", str(len(self.body)))
        h.end_headers()
        h.wfile.write(self.body)


def _dated_items(srv: LocalServer, ns: list[int]) -> str:
    return "".join(f"<item><title>p{n}</title><pubDate>Mon, 0{n} Jan 2024 00:00:00 +0000</pubDate>"
                   f'<enclosure url="{srv.url(f"/{n}.png")}" type="image/png"/></item>' for n in ns)


@pytest.mark.parametrize("header, value, sent", [
    ("ETag", '"v1-abc"', "If-None-Match"),
    ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT", "If-Modified-Since"),
])
def test_a_feed_is_asked_with_a_conditional_get_and_a_304_still_gives_its_untaken_photos(
        tmp_path, header, value, sent):
    # Each cycle downloaded the whole feed again, however rarely it changed (an hourly bot
    # asked 24 times a day for the same megabyte).
    from bot.store import Store
    from test_bot_sources import dreamt

    with LocalServer() as srv:
        route = _Conditional(_rss(_dated_items(srv, [1, 2])).encode(), header, value)
        srv.routes["/feed"] = route
        for n in (1, 2, 3):
            srv.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(n))
        src = FeedSource("f", srv.url("/feed"), OPEN, order="oldest")
        store = Store(tmp_path / "bot.db")
        dreamt(store, src.take(store))  # p1, downloaded whole
        store.close()
        store = Store(tmp_path / "bot.db")  # a new process (cron, a restart) asks conditionally too
        item = src.take(store)  # 304: no new entry, but p2 was never taken
        assert item.credit.title == "p2"
        dreamt(store, item)
        assert src.take(store) is None  # 304, everything taken: nothing, and no error
        route.body, route.value = _rss(_dated_items(srv, [1, 2, 3])).encode(), value.replace("1", "2")
        assert src.take(store).credit.title == "p3"  # changed: downloaded again
        store.close()
    assert [a[sent] for a in route.asked] == [None, value, value, value]
    assert all(a[k] is None for a in route.asked for k in a if k != sent)


def test_a_feed_without_validators_is_downloaded_each_time_and_nothing_kept(store):
    with LocalServer() as srv:
        route = _Conditional(_rss(_dated_items(srv, [1])).encode(), "X-Nothing", "1")
        srv.routes["/feed"] = route
        srv.routes["/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(1))
        src = FeedSource("f", srv.url("/feed"), OPEN)
        assert src.take(store).credit.title == "p1" and src.take(store).credit.title == "p1"
    assert route.asked == [{"If-None-Match": None, "If-Modified-Since": None}] * 2
    assert store.feed_copy(srv.url("/feed")) is None


def test_a_validator_no_header_can_carry_is_not_sent_back(store):
    # A header of 2,000 characters (or one with a line break) sent back each cycle would have
    # the server refuse the feed for good.
    store.keep_feed("http://f.example/", url="http://f.example/", content_type=None, body=b"<rss/>",
                    etag="x" * 2000, modified="Mon, 01 Jan 2024\x0b00:00:00 GMT")
    assert store.feed_copy("http://f.example/") is None
    store.keep_feed("http://f.example/", url="http://f.example/feed", content_type=None, body=b"<rss/>",
                    etag='W/"1"', modified=None)
    assert store.feed_copy("http://f.example/").validators() == {"If-None-Match": 'W/"1"'}
