"""More inputs to the bot nobody had tried (after test_unseen_inputs_bot.py): each once
crashed or did the wrong thing, and now gets a clear error or the right behaviour."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.config import ConfigError, ScheduleSection, load_config
from bot_helpers import tiny_config


def _problems(path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, need_secrets=False)
    return info.value.problems


def _fire_days(cron: str, start: datetime, until: datetime) -> list[str]:
    trigger = ScheduleSection(cron=cron).trigger()
    out, prev, now = [], None, start
    while True:
        t = trigger.get_next_fire_time(prev, now)
        if t is None or t >= until:
            return out
        out.append(t.strftime("%a %d %b"))
        prev = now = t


# --- the config: schedule ------------------------------------------------------------------
@pytest.mark.parametrize("cron, first_days", [
    ("0 9 * * mon-fri/2", ["Mon 07 Dec", "Wed 09 Dec", "Fri 11 Dec", "Mon 14 Dec"]),
    ("0 9 * * mon-7", ["Sun 06 Dec", "Mon 07 Dec", "Tue 08 Dec", "Wed 09 Dec"]),  # 7 is Sunday
    ("0 9 1 jan-dec/3 *", ["Fri 01 Jan", "Thu 01 Apr", "Thu 01 Jul", "Fri 01 Oct"]),
])
def test_a_weekday_or_month_name_with_a_step_or_a_number_keeps_all_of_it(cron, first_days):
    # APScheduler reads a name range only as far as it goes: "mon-fri/2" was every weekday,
    # "mon-7" only Mondays and "jan-dec/3" (quarterly) every month, without a word.
    start = datetime(2026, 12, 6, tzinfo=timezone.utc)
    assert _fire_days(cron, start, start + timedelta(days=400))[:4] == first_days


@pytest.mark.parametrize("cron", ["0 9 * * mon#2", "0 9 * * fri!", "0 9 * jan#1 *", "0 9 * * 1#2"])
def test_a_weekday_or_month_field_with_trailing_signs_is_refused_not_cut_short(tmp_path, cron):
    # "mon#2" (the second Monday, in Quartz) ran every Monday: four posts a month, not one.
    lines = _problems(tiny_config(tmp_path, schedule=f'cron = "{cron}"\n'))
    assert len(lines) == 1 and "schedule.cron: not a crontab expression" in lines[0], lines


def test_a_step_of_zero_in_the_weekday_field_says_so(tmp_path):
    lines = _problems(tiny_config(tmp_path, schedule='cron = "0 9 * * */0"\n'))
    assert len(lines) == 1 and "step" in lines[0] and "range()" not in lines[0], lines


# --- requests: the image behind a mention ---------------------------------------------------
@pytest.mark.parametrize("url, detail", [
    ("http://127.0.0.1:9/photo.png", "cannot download"),  # a server that passes remote URLs on
    ("file:///etc/passwd", "cannot download"),
    ("gopher://photos.example/photo.png", "cannot download"),
])
def test_a_request_image_at_an_address_never_fetched_is_refused_at_once_not_retried(url, detail):
    # Before: a transient PublishError, retried with backoff for requests.max_age_hours and
    # then answered "my server was unreachable".
    from bot.requests.inputs import Refuse, load
    from bot.requests.replies import Refusal
    from bot.sources.fetch import FetchPolicy

    with pytest.raises(Refuse) as info:
        load(FetchPolicy(), 10_000_000, url)
    assert info.value.kind is Refusal.BAD_IMAGE and detail in info.value.details["detail"]
    assert "127.0.0.1" not in info.value.details["detail"] and "passwd" not in info.value.details["detail"]


def test_a_host_that_does_not_exist_is_refused_as_fast_and_as_alike_as_a_private_one(monkeypatch):
    # A private address was refused at once while a name that does not exist was retried for
    # hours: whoever posts a media URL could tell which internal host names exist.
    import socket

    from bot.requests.inputs import Refuse, load
    from bot.sources.fetch import FetchPolicy

    def resolve(host, port, *args, **kwargs):
        if host == "db.internal":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    replies = []
    for host in ("db.internal", "nosuch.internal"):
        with pytest.raises(Refuse) as info:
            load(FetchPolicy(), 10_000_000, f"http://{host}/p.png")
        replies.append(info.value.details)
    assert replies[0] == replies[1]


@pytest.mark.parametrize("status, permanent", [(404, True), (410, True), (403, True), (429, False),
                                               (503, False), (408, False)])
def test_a_request_image_the_server_says_is_gone_is_refused_and_a_busy_server_is_retried(status, permanent):
    from bot.publishers.base import PublishError
    from bot.requests.inputs import Refuse, load
    from bot.requests.replies import Refusal
    from bot.sources.fetch import FetchPolicy
    from bot_helpers import LocalServer

    with LocalServer() as srv:
        srv.routes["/p.png"] = (status, {}, b"no")
        expected = Refuse if permanent else PublishError
        with pytest.raises(expected) as info:
            load(FetchPolicy(allow_private=True), 10_000_000, srv.url("/p.png"))
    if permanent:
        assert info.value.kind is Refusal.BAD_IMAGE and "would not give it" in info.value.details["detail"]
    else:
        assert info.value.transient


# --- feeds ---------------------------------------------------------------------------------
@pytest.mark.parametrize("charset", ["Shift_JIS", "koi8-r", "windows-1251"])
def test_a_feed_whose_charset_is_only_in_the_http_header_is_credited_in_its_own_letters(charset):
    # Before: the header was not handed to feedparser, which guessed iso-8859-x and credited
    # "•xŽmŽR‚Ì’©" for 富士山の朝 on every post from a Japanese (or Russian) feed.
    from bot.sources.feed import FeedSource
    from bot.sources.fetch import FetchPolicy
    from bot_helpers import LocalServer

    title, author = ("富士山の朝", "山田太郎") if charset == "Shift_JIS" else ("Утро на Волге", "Иван Петров")
    xml = ('<?xml version="1.0"?><rss version="2.0"><channel><title>f</title><item>'
           f'<title>{title}</title><author>{author}</author><link>http://x.example/1</link>'
           '<enclosure url="http://x.example/p.jpg" type="image/jpeg"/></item></channel></rss>')
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {"Content-Type": f"application/rss+xml; charset={charset}"}, xml.encode(charset))
        src = FeedSource("f", srv.url("/feed"), FetchPolicy(allow_private=True))
        ((url, credit, alt),) = list(src._candidates())
    assert (credit.title, credit.author) == (title, author)


@pytest.mark.parametrize("charset", ["windows-1252", "iso-8859-2"])
def test_a_feed_that_names_its_own_encoding_is_read_in_it_whatever_the_server_says(charset):
    # A UTF-8 feed with its XML declaration, served as windows-1252: the server's word beat the
    # feed's own, and "Café naïve" was credited as "CafÃ© naÃ¯ve".
    from bot.sources.feed import FeedSource
    from bot.sources.fetch import FetchPolicy
    from bot_helpers import LocalServer

    xml = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f</title><item>'
           '<title>Café naïve</title><link>http://x.example/1</link>'
           '<enclosure url="http://x.example/p.jpg" type="image/jpeg"/></item></channel></rss>')
    with LocalServer() as srv:
        srv.routes["/feed"] = (200, {"Content-Type": f"text/xml; charset={charset}"}, xml.encode("utf-8"))
        src = FeedSource("f", srv.url("/feed"), FetchPolicy(allow_private=True))
        ((url, credit, alt),) = list(src._candidates())
    assert credit.title == "Café naïve"


@pytest.mark.parametrize("status, blocked", [(404, True), (410, True), (503, False)])
def test_a_feed_photo_the_server_says_is_gone_is_not_fetched_again(tmp_path, status, blocked):
    # A feed's photo answering 404 was fetched again every cycle until the store's failure limit;
    # a busy server (503) still is, as the photo may come back.
    from bot.sources.base import take_remote
    from bot.sources.base import Credit
    from bot.sources.fetch import FetchPolicy
    from bot.store import Store
    from bot_helpers import LocalServer

    store = Store(tmp_path / "bot.db")
    try:
        with LocalServer() as srv:
            srv.routes["/p.png"] = (status, {}, b"no")
            url = srv.url("/p.png")
            assert take_remote("f", [(url, Credit(title="t"), None)], store, FetchPolicy(allow_private=True), 3) is None
        assert store.source_blocked(url=url) is blocked
    finally:
        store.close()


# --- the folder queue ------------------------------------------------------------------------
@pytest.mark.parametrize("ahead", [3600.0, 400 * 86400.0])
def test_a_photo_whose_time_is_in_the_future_is_still_taken(tmp_path, ahead, monkeypatch):
    # A camera with its clock a year ahead, or `cp -p` from a machine whose clock is: the
    # file never looked settled (now - mtime was negative), so it was never dreamt nor counted.
    import os
    import time

    from bot.sources.folder import FolderSource
    from bot.store import Store
    from bot_helpers import write_photo

    inbox = tmp_path / "inbox"
    photo = write_photo(inbox / "from_the_future.jpg", seed=4)
    t = time.time() + ahead
    os.utime(photo, (t, t))
    src = FolderSource("inbox", inbox, settle_seconds=5)
    assert src.candidates() == []  # first seen now: it may still be being written
    import bot.sources.folder as folder

    real = time.time
    monkeypatch.setattr(folder.time, "time", lambda: real() + 6)  # left alone past settle_seconds
    store = Store(tmp_path / "bot.db")
    try:
        assert src.queue_size(store) == 1
        item = src.take(store)
        assert item is not None and item.credit.title == "from the future"
    finally:
        store.close()


def test_a_photo_dated_ahead_that_is_still_growing_waits(tmp_path, monkeypatch):
    # Dated far ahead (a share's clock ten minutes fast) and still being copied: the size changes
    # between looks, so it is not taken half written.
    import os
    import time

    import bot.sources.folder as folder
    from bot.sources.folder import FolderSource
    from bot_helpers import write_photo

    inbox = tmp_path / "inbox"
    photo = write_photo(inbox / "copying.jpg", seed=6)
    t = time.time() + 600
    os.utime(photo, (t, t))
    src = FolderSource("inbox", inbox, settle_seconds=5)
    real = time.time
    clock = [real()]
    monkeypatch.setattr(folder.time, "time", lambda: clock[0])
    assert src.candidates() == []
    with open(photo, "ab") as f:
        f.write(b"more")
    os.utime(photo, (t, t))
    clock[0] += 6
    assert src.candidates() == []  # it grew: settling starts again
    clock[0] += 6
    assert src.candidates() == [photo]


def test_a_photo_written_just_now_on_a_clock_slightly_ahead_still_waits(tmp_path):
    # A network share whose clock runs a few seconds ahead stamps a file being copied with a
    # time just past now: that is no reason to take it half written.
    import os
    import time

    from bot.sources.folder import FolderSource
    from bot_helpers import write_photo

    inbox = tmp_path / "inbox"
    photo = write_photo(inbox / "copying.jpg", seed=5)
    t = time.time() + 3
    os.utime(photo, (t, t))
    assert FolderSource("inbox", inbox, settle_seconds=5).candidates() == []


# --- requests: the text of a mention -------------------------------------------------------
def _wishes(html: str) -> list[tuple[str, float]]:
    from bot.requests.inputs import labels
    from bot.requests.parse import parse_request, request_text

    parsed = parse_request(request_text({"content": html, "mentions": []}).text, labels(), max_classes=3)
    return [(w.name, w.weight) for w in parsed.wishes]


@pytest.mark.parametrize("name", ["gold\u200bfish", "gold\u2060fish", "gold\u00adfish", "gold\u200dfish",
                                  "\u202egold\u202cfish", "gold&#8203;fish", "gold&shy;fish"])
def test_invisible_characters_inside_a_class_name_are_not_a_space(name):
    # A zero-width space, word joiner, soft hyphen or direction mark (pasted from a web page,
    # or typed by a keyboard app) shows "goldfish", but was read as "gold fish": the reply said
    # 'I don't know the class "gold fish"'.
    assert _wishes(f"<p>{name}</p>") == [("goldfish", 1.0)]


def test_an_invisible_character_before_dive_still_asks_for_a_dive():
    from bot.requests.parse import dive_request, request_text

    text = request_text({"content": "<p>\u200bdive\u2060 goldfish</p>", "mentions": []}).text
    assert dive_request(text) == (True, "goldfish")


@pytest.mark.parametrize("text, wishes", [
    ("goldfish:1,5", [("goldfish", 1.5)]),
    ("goldfish:0,7 and stingray:1,3", [("goldfish", 0.7), ("stingray", 1.3)]),
    ("goldfish:2,5, stingray", [("goldfish", 2.5), ("stingray", 1.0)]),
    ("goldfish:1, 5", [("goldfish", 1.0), ("electric ray", 1.0)]),  # a list, as written
    ("1,5", [("goldfish", 1.0), ("electric ray", 1.0)]),  # class ids, no weight in sight
])
def test_a_weight_with_a_decimal_comma_is_a_weight_not_a_class_id(text, wishes):
    # "goldfish:1,5" (1.5, as most of Europe writes it) dreamt goldfish at 1 and class 5, an
    # electric ray, that nobody asked for.
    assert _wishes(f"<p>{text}</p>") == wishes
