"""Inputs to the bot nobody had tried: each once crashed, hung or did the wrong thing, and now
gets a clear error naming the problem (or the right behaviour)."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import cli
from bot.config import ConfigError, ScheduleSection, load_config
from bot.scheduler import next_runs
from bot.sources.feed import entry_image
from bot_helpers import tiny_config


def _problems(path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, need_secrets=False)
    return info.value.problems


# --- the config ----------------------------------------------------------------------------
@pytest.mark.parametrize("zone", ["Europe", "America/Argentina", "A" * 300])
def test_a_time_zone_that_names_a_folder_of_the_database_or_is_too_long_is_an_error(tmp_path, zone):
    # ZoneInfo raises OSError (IsADirectoryError, name too long) for these, which was a traceback.
    path = tiny_config(tmp_path, schedule=f'interval_minutes = 60\ntimezone = "{zone}"\n')
    lines = _problems(path)
    assert len(lines) == 1 and "schedule.timezone: unknown time zone" in lines[0], lines


@pytest.mark.parametrize("url", ["redis://[::1", "redis://localhost:99999/0", "redis://localhost:port/0",
                                 "redis://:Zq9#pass@redis-host:6379/0"])
def test_a_queue_url_whose_host_or_port_cannot_be_read_is_refused_without_a_traceback(tmp_path, capsys, url):
    # Before: the bracket one was a traceback on every command (the password masking parses
    # it); the ports passed check-config and failed only when the queue was first used.
    path = tiny_config(tmp_path, extra=f'[queue]\nurl = "{url}"\n')
    lines = _problems(path)
    assert len(lines) == 1 and "queue.url: not a valid URL" in lines[0], lines
    assert "Zq9" not in lines[0]  # a password is not echoed
    assert cli.main(["check-config", "--config", str(path)], out=io.StringIO()) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("url", ["redis://redis-host/zero", "redis://bot/Zq9pass@redis-host:6379/0"])
def test_a_queue_url_whose_database_is_no_number_is_refused(tmp_path, url):
    # redis-py ignores such a path and uses database 0: a slash in a user name moved the rest
    # of the URL there, and the bot talked to localhost without a word.
    lines = _problems(tiny_config(tmp_path, extra=f'[queue]\nurl = "{url}"\n'))
    assert len(lines) == 1 and "queue.url: what follows the host must be a database number" in lines[0], lines
    assert "Zq9" not in lines[0] and "pass@" not in lines[0]


def test_a_queue_url_that_is_not_redis_does_not_echo_its_password(tmp_path):
    lines = _problems(tiny_config(tmp_path, extra='[queue]\nurl = "http://:s3cret-pass@redis-host:6379/0"\n'))
    assert len(lines) == 1 and "not a Redis URL" in lines[0] and "s3cret-pass" not in lines[0], lines


@pytest.mark.parametrize("url", ["redis://localhost", "redis:///0", "redis://[::1]:6379/0", "rediss://u:p%2Fw@h:6380/3",
                                 "redis://h:6379/0?password=x", "redis://h/"])
def test_queue_urls_that_work_still_load(tmp_path, url):
    cfg = load_config(tiny_config(tmp_path, extra=f'[queue]\nurl = "{url}"\n'), need_secrets=False)
    assert cfg.queue.url == url


@pytest.mark.parametrize("url", ["https://example.com:99999/feed", "https://[::1/feed", "https://example.com:x/feed",
                                 "https://:8080/feed"])
def test_a_feed_url_whose_host_or_port_cannot_be_read_is_refused_at_load(tmp_path, url):
    # Before: accepted, then every cycle failed to fetch it (check-config said all was well).
    sources = f'[[sources]]\ntype = "feed"\nname = "f"\nurl = "{url}"\n'
    lines = _problems(tiny_config(tmp_path, sources=sources))
    assert len(lines) == 1 and lines[0].split(": ", 1)[1].startswith("sources[0].url: "), lines
    assert "not a valid URL" in lines[0] or "has no host" in lines[0]


def test_a_mastodon_server_with_a_bad_port_is_refused_at_load(tmp_path):
    extra = '[publishers.mastodon]\nenabled = true\napi_base_url = "https://m.example:0x50"\n'
    lines = _problems(tiny_config(tmp_path, extra=extra))
    assert len(lines) == 1 and "publishers.mastodon.api_base_url: not a valid URL" in lines[0], lines


# --- the schedule --------------------------------------------------------------------------
def _fires(cron: str, zone: str, start: datetime, until: datetime, jitter: int = 0) -> list[datetime]:
    """The times the scheduler would run the cycle, stepping as APScheduler does (from the
    real instant after each run), each later than the one before."""
    trigger = ScheduleSection(cron=cron, timezone=zone, jitter_seconds=jitter).trigger()
    out: list[datetime] = []
    prev, now = None, start
    while (t := trigger.get_next_fire_time(prev, now)) is not None and t < until:
        assert not out or t.astimezone(timezone.utc) > out[-1].astimezone(timezone.utc), (out[-1], t)
        assert len(out) < 10_000
        out.append(t)
        prev, now = t, (t.astimezone(timezone.utc) + timedelta(seconds=1)).astimezone(t.tzinfo)
    return out


@pytest.mark.parametrize("zone, night, cron", [("Europe/Paris", "2026-10-25", "45 2 * * *"),
                                               ("America/New_York", "2026-11-01", "45 1 * * *"),
                                               ("Australia/Lord_Howe", "2026-04-05", "45 1 * * *")])
@pytest.mark.parametrize("jitter", [0, 60])
def test_a_daily_cron_in_the_hour_the_clock_repeats_runs_once_that_night(zone, night, cron, jitter):
    # Before: it ran at the time in summer time, and again at the same time on the clock an
    # hour (Lord Howe: half an hour) later: two posts that night. With jitter, APScheduler added
    # it to the wall clock, the second pass became the first (past), and the scheduler looped.
    start = datetime.fromisoformat(night).replace(tzinfo=ZoneInfo(zone)) - timedelta(hours=12)
    fires = _fires(cron, zone, start, start + timedelta(days=3), jitter)
    assert len(fires) == 3 and len({t.date() for t in fires}) == 3, [t.isoformat() for t in fires]


@pytest.mark.parametrize("cron, jitter", [("*/30 * * * *", 0), ("*/30 * * * *", 60), ("0,30 * 25 * sun", 60)])
def test_an_every_half_hour_cron_keeps_both_passes_of_the_repeated_hour(cron, jitter):
    tz = ZoneInfo("Europe/Paris")
    fires = _fires(cron, "Europe/Paris", datetime(2026, 10, 25, 0, 0, tzinfo=tz),
                   datetime(2026, 10, 26, 0, 0, tzinfo=tz), jitter)
    assert len(fires) == 50  # a 25-hour day: its extra hour is real time


def test_status_next_runs_across_the_clock_going_back_go_forward():
    # Before: next_runs stepped by wall-clock time and, in the repeated hour, listed
    # 02:00 +01:00, 02:30 +02:00, 02:00 +01:00... over and over.
    s = ScheduleSection(cron="*/30 * * * *", timezone="Europe/Paris")
    runs = next_runs(s, 4, now=datetime(2026, 10, 25, 2, 15, tzinfo=ZoneInfo("Europe/Paris")))
    assert [t.isoformat() for t in runs] == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00",
                                             "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"]


@pytest.mark.parametrize("cron, days", [("0 9 1 * mon", [1, 7, 14, 21, 28]),  # the 1st and every Monday
                                        ("0 9 13 * 5", [4, 11, 13, 18, 25]),  # the 13th and every Friday
                                        ("0 9 1 * *", [1]), ("0 9 * * mon", [7, 14, 21, 28])])
def test_a_cron_with_day_and_weekday_both_set_runs_on_either_as_crontab_does(cron, days):
    # Before: APScheduler's CronTrigger ran only on days matching both (a 1st that is a Monday).
    tz = ZoneInfo("UTC")
    fires = _fires(cron, "UTC", datetime(2026, 12, 1, tzinfo=tz), datetime(2027, 1, 1, tzinfo=tz))
    assert [t.day for t in fires] == days and {(t.hour, t.minute) for t in fires} == {(9, 0)}
    runs = next_runs(ScheduleSection(cron=cron, timezone="UTC"), len(days), now=datetime(2026, 12, 1, tzinfo=tz))
    assert runs == fires


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 9 31 4,6,9,11 *"])
def test_a_cron_that_never_comes_is_refused(tmp_path, cron):
    # Before: accepted; the bot ran, never dreamt, and check-config listed no next run.
    lines = _problems(tiny_config(tmp_path, schedule=f'cron = "{cron}"\n'))
    assert len(lines) == 1 and "schedule.cron: this schedule never runs" in lines[0], lines


def test_a_cron_on_a_leap_day_still_loads(tmp_path):
    cfg = load_config(tiny_config(tmp_path, schedule='cron = "0 0 29 2 *"\n'), need_secrets=False)
    assert cfg.schedule.cron == "0 0 29 2 *"


# --- feeds ---------------------------------------------------------------------------------
def _entry(item: str) -> Any:
    import feedparser

    rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://photos.example/</link>'
           f"<description>d</description><item><title>a</title><link>https://photos.example/p/1</link>{item}"
           "</item></channel></rss>")
    return feedparser.parse(rss.encode()).entries[0]


def test_a_lazy_loading_placeholder_before_the_photo_is_not_taken_for_it():
    # WordPress: a data: placeholder in the first <img>, the photo in <noscript>. Before: the
    # placeholder was "the first image", refused, and the entry had no photo at all.
    e = _entry('<description>&lt;img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/x.jpg"&gt;'
               '&lt;noscript&gt;&lt;img src="https://photos.example/big.jpg" alt="a quay"&gt;&lt;/noscript&gt;'
               "</description>")
    assert entry_image(e, "https://photos.example/") == ("https://photos.example/big.jpg", "a quay")


@pytest.mark.parametrize("attrs", ['url="https://cdn.example/photo?id=3"',
                                   'url="https://cdn.example/photo?id=3" type="application/octet-stream"'])
def test_an_enclosure_that_does_not_say_its_type_is_tried(attrs):
    # Before: skipped, so an entry whose only picture it was never got dreamt.
    assert entry_image(_entry(f"<enclosure {attrs} length='1'/>"), "https://photos.example/") == \
        ("https://cdn.example/photo?id=3", None)


def test_an_enclosure_of_another_kind_is_still_no_photo_and_a_typed_picture_comes_first():
    e = _entry('<enclosure url="https://cdn.example/talk.mp3" type="audio/mpeg" length="1"/>')
    assert entry_image(e, "https://photos.example/") == (None, None)
    e = _entry('<enclosure url="https://cdn.example/raw" length="1"/>'
               '<description>&lt;img src="https://photos.example/in-text.jpg"&gt;</description>')
    assert entry_image(e, "https://photos.example/")[0] == "https://photos.example/in-text.jpg"


# --- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize("instance", ["https://[::1", "mastodon.example:99999", "https://mastodon.example:x/"])
def test_login_to_a_server_address_that_cannot_be_read_is_a_clear_error(tmp_path, capsys, instance):
    # Before: a ValueError traceback from urlsplit (or Mastodon.py) for an unclosed [ or bad port.
    code = cli.main(["login", "mastodon", "--config", str(tmp_path / "none.toml"), "--instance", instance],
                    out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 1 and "is not a server address" in err and "Traceback" not in err, err


# --- the folder queue ----------------------------------------------------------------------
def _folder_store(tmp_path):
    from bot.store import Store

    return Store(tmp_path / "state.sqlite")


def test_a_photo_filed_to_done_never_overwrites_an_earlier_photos_credit_file(tmp_path):
    from bot_helpers import write_photo
    from bot.sources.folder import FolderSource

    inbox, store = tmp_path / "inbox", _folder_store(tmp_path)
    write_photo(inbox / "cat.jpg", 1, age=100)
    (inbox / "cat.json").write_text('{"author": "First"}')
    src = FolderSource("inbox", inbox, settle_seconds=0)
    src.take(store).done()
    # Another photo of the same stem, with its own credit file, arrives later.
    write_photo(inbox / "cat.png", 2, age=50)
    (inbox / "cat.json").write_text('{"author": "Second"}')
    item = src.take(store)
    assert item.credit.author == "Second"
    item.done()
    done = inbox / "done"
    assert '"First"' in (done / "cat.json").read_text()  # before: overwritten by "Second"
    (second,) = [p for p in done.iterdir() if p.suffix == ".png"]
    assert '"Second"' in second.with_suffix(".json").read_text()


def test_a_credit_file_that_is_a_link_is_not_read(tmp_path):
    from bot_helpers import write_photo
    from bot.sources.folder import FolderSource

    inbox, store = tmp_path / "inbox", _folder_store(tmp_path)
    elsewhere = tmp_path / "private.json"
    elsewhere.write_text('{"title": "a file from outside the folder", "author": "Secret"}')
    write_photo(inbox / "sea.png", 1, age=100)
    (inbox / "sea.json").symlink_to(elsewhere)
    item = FolderSource("inbox", inbox, settle_seconds=0).take(store)
    assert item.credit.author != "Secret" and item.credit.title == "sea"
    item.done()
    assert elsewhere.exists() and not (inbox / "done" / "sea.json").exists()


# --- feeds ---------------------------------------------------------------------------------
def test_an_atom_title_of_type_html_is_credited_as_text_and_a_plain_rss_title_as_it_is():
    import feedparser

    from bot.sources.feed import plain_text

    atom = feedparser.parse(
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        '<entry><title type="html">&lt;b&gt;Big&lt;/b&gt;  cats &amp;amp; more</title><id>1</id>'
        '<rights type="html">&lt;a href="https://x/by"&gt;CC BY&lt;/a&gt; 4.0</rights></entry></feed>').entries[0]
    assert plain_text(atom, "title") == "Big cats & more"  # before: "<b>Big</b>  cats &amp; more"
    assert plain_text(atom, "rights") == "CC BY 4.0"
    rss = feedparser.parse(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        '<title>AT&amp;T &lt;3 cats</title><link>http://x/1</link></item></channel></rss>').entries[0]
    assert plain_text(rss, "title") == "AT&T <3 cats"
    assert plain_text(rss, "author") is None


def test_a_feed_source_credits_an_html_title_as_text(monkeypatch):
    import feedparser

    from bot.sources.feed import FeedSource
    from bot.sources.fetch import FetchPolicy

    parsed = feedparser.parse(
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        '<entry><title type="html">&lt;i&gt;Dawn&lt;/i&gt; at sea</title><id>1</id>'
        '<link rel="enclosure" type="image/jpeg" href="https://x.example/a.jpg"/></entry></feed>')
    src = FeedSource("f", "https://x.example/feed", FetchPolicy())
    # (feed, entries, base, why the whole feed is marked adult)
    monkeypatch.setattr(src, "entries", lambda store=None: (parsed.feed, parsed.entries, "https://x.example/f", None))
    ((url, credit, alt),) = list(src._candidates())
    assert url == "https://x.example/a.jpg" and credit.title == "Dawn at sea" and alt == "Dawn at sea"
