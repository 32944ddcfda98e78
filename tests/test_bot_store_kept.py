"""What the store promises to keep: a saved dream comes back as it was written (a restart
posts it from the database), nothing accepted is taken twice or lost to a crash, retry times
are honoured whatever the machine's time zone. Issue 18's mutation run found these unguarded
(benchmarks/mutation_report.md)."""
from __future__ import annotations

import re
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.cli.report import in_flight
from bot.store import SCHEMA_VERSION, Filing, NewDream, SourceStatus, Store, StoreError


def _dream(s: Store, tmp_path: Path, **kw) -> int:
    args = dict(post_key=s.new_post_key(), source_id=None, recipe={}, seed=1, classes=[[1, "goldfish", 1.0]],
                combo_key="1", file_path=tmp_path / "x.png", caption="c", alt_text="a", tags=[], source_url=None,
                title="harbour", publishers=["mastodon"])
    return s.add_dream(NewDream(**{**args, **kw}))


def test_a_saved_dream_and_its_posts_come_back_as_written_after_a_restart(tmp_path):
    s = Store(tmp_path / "bot.db")
    dive = _dream(s, tmp_path, post_key="k-dive", seed=7, classes=[[1, "goldfish", 0.5], [2, "great white shark", 0.5]],
                  combo_key="1+2", file_path=tmp_path / "poster.png", caption="A harbour, dreamt",
                  alt_text="Goldfish shapes in the water", tags=["deepdream", "goldfish"],
                  source_url="https://example.org/harbour", title="Harbour at dawn",
                  publishers=["outbox", "mastodon", "tumblr"], video_path=tmp_path / "dive.mp4")
    picture = _dream(s, tmp_path, post_key="k-pic", seed=None, title=None)
    ids = {p.publisher: p.id for p in s.posts_for(dive)}
    s.mark_intended(ids["outbox"])
    s.mark_confirmed(ids["outbox"], "remote-1", "https://example.org/@bot/1")
    s.mark_intended(ids["mastodon"])
    s.mark_failed(ids["mastodon"], "503 Service Unavailable", transient=True, retry_at="2999-01-01T00:00:00.000+00:00")
    s.mark_intended(ids["tumblr"])
    s.mark_failed(ids["tumblr"], "400 bad NPF", transient=False)
    s.close()

    s = Store(tmp_path / "bot.db")
    d = s.dream(dive)
    assert (d.id, d.post_key, d.file_path, d.video_path) == (dive, "k-dive", tmp_path / "poster.png",
                                                             tmp_path / "dive.mp4")
    assert (d.caption, d.alt_text, d.tags) == ("A harbour, dreamt", "Goldfish shapes in the water",
                                               ("deepdream", "goldfish"))
    assert (d.source_url, d.title, d.seed) == ("https://example.org/harbour", "Harbour at dawn", 7)
    assert d.classes == [[1, "goldfish", 0.5], [2, "great white shark", 0.5]] and d.created_at
    p = s.dream(picture)
    assert (p.video_path, p.seed, p.title) == (None, None, None)

    posts = {p.publisher: p for p in s.posts_for(dive)}
    done, waiting, refused = posts["outbox"], posts["mastodon"], posts["tumblr"]
    assert (done.dream_id, done.state, done.remote_id, done.url) == (dive, "confirmed", "remote-1",
                                                                      "https://example.org/@bot/1")
    assert (waiting.state, waiting.error, waiting.transient, waiting.retry_at) == (
        "failed", "503 Service Unavailable", True, "2999-01-01T00:00:00.000+00:00")
    assert (refused.error, refused.transient) == ("400 bad NPF", False) and refused.updated_at
    assert s.post(picture, "mastodon").transient is None  # never tried
    # what status shows: one post waiting to retry, one never tried; the refused one has ended
    assert s.open_posts() == {"failed": 1, "pending": 1}
    assert s.recent_combos(1) == ["1"] and s.recent_combos(2) == ["1", "1+2"] and s.recent_combos(0) == []
    with pytest.raises(StoreError, match="no dream 99"):
        s.dream(99)
    with pytest.raises(StoreError, match="no post of dream 1 for pixelfed"):
        s.post(1, "pixelfed")
    s.close()


def test_a_retry_time_is_honoured_whatever_the_machines_time_zone(tmp_path, monkeypatch):
    # Retry times are written in UTC; the store must compare them with UTC too. On a machine
    # twelve hours ahead, local time is always past a retry an hour away.
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    monkeypatch.setenv("TZ", "Etc/GMT-12")
    time.tzset()
    try:
        s = Store(tmp_path / "bot.db")
        pid = s.post(_dream(s, tmp_path), "mastodon").id
        s.mark_intended(pid)
        in_an_hour = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(timespec="milliseconds")
        s.mark_failed(pid, "503", transient=True, retry_at=in_an_hour)
        assert s.unfinished_posts(["mastodon"]) == []
        s.defer_post(pid, (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(timespec="milliseconds"))
        assert [p.id for p in s.unfinished_posts(["mastodon"])] == [pid]
        s.close()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_url_or_picture_dreamt_once_is_not_dreamt_again(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("feed", "https://example.org/a.jpg", "h1", {"title": "a"})
    _dream(s, tmp_path, source_id=sid)
    s.settle_source(sid)
    # the feed sees the same URL again: skipped before fetching it
    assert s.source_block(url="https://example.org/a.jpg").duplicate
    assert s.source_blocked(url="https://example.org/a.jpg") and not s.source_blocked(url="https://example.org/b.jpg")
    # the same picture under another URL: skipped once fetched, and that URL remembered as a duplicate...
    block = s.source_block(url="https://example.org/copy.jpg", sha256="h1")
    assert (block.folder, block.duplicate) == ("failed", True)
    s.skipped_source(block, "feed", "https://example.org/copy.jpg", "h1")
    # ...so it is not fetched again either, and nothing else is blocked by it
    assert s.source_block(url="https://example.org/copy.jpg").duplicate
    assert s.source_counts() == {"dreamt": 1, "duplicate": 1}
    s.skipped_source(block, "feed", "https://example.org/copy.jpg", None)  # seen again, hash unknown
    assert s.source_block(sha256="h2") is None and s.source_block(url="https://example.org/b.jpg") is None
    s.close()


def test_a_url_that_fails_is_tried_again_until_the_third_failure(tmp_path):
    s = Store(tmp_path / "bot.db")
    url = "https://example.org/big.jpg"
    for n in range(1, 4):
        assert not s.source_blocked(url=url)  # a failed dream is tried again...
        sid = s.take_source("feed", url, "h1", {})
        s.finish_source(sid, ok=False, error=f"RuntimeError: try {n}")
        assert s.ended_count() == (1 if n == 3 else 0)  # ...and listed as ended only when given up
    block = s.source_block(url=url)
    assert (block.folder, block.why, block.duplicate, block.source_id) == ("failed", "RuntimeError: try 3", False, sid)
    assert s.source_block(sha256="h1") == block
    [ended] = s.ended_items()
    assert (ended["what"], ended["reason"]) == (f"photo “{url}” from feed", "could not be dreamt: RuntimeError: try 3")
    # a photo from a folder (no URL) is set aside at its first failure: its folder moves it to failed/
    sid = s.take_source("inbox", None, "h2", {"title": "harbour"})
    s.finish_source(sid, ok=False, error="ValueError: bad pixels")
    assert s.ended_items()[0]["what"] == "photo “harbour” from inbox"
    s.close()


def test_a_link_that_cannot_be_fetched_gets_three_chances_a_broken_one_none(tmp_path):
    s = Store(tmp_path / "bot.db")
    url = "https://example.org/flaky.jpg"
    for n in range(1, 4):
        assert not s.source_blocked(url=url)
        s.note_source("feed", url, None, status="failed", error=f"503 try {n}")
    assert s.source_block(url=url).why == "503 try 3"
    assert s.source_counts() == {"failed": 1}  # one row, its attempts counted
    s.note_source("feed", url, None, status="failed", error="503 try 4")  # e.g. a --once that did not check
    gone = "https://example.org/gone.jpg"
    s.note_source("feed", gone, None, status="failed", error="404 Not Found", permanent=True)
    assert s.source_block(url=gone).why == "404 Not Found"
    s.note_source("feed", gone, None, status="failed", error="404 Not Found", permanent=True)
    # each listed as ended once, when it was given up
    assert [(e["what"], e["reason"]) for e in reversed(s.ended_items())] == [
        (f"photo “{url}” from feed", "cannot be used: 503 try 3"),
        (f"photo “{gone}” from feed", "cannot be used: 404 Not Found")]
    s.note_source("feed", None, "h9", status="duplicate")
    assert s.source_counts() == {"failed": 2, "duplicate": 1} and s.ended_count() == 2
    s.close()


def test_source_statuses_are_the_text_the_schema_allows(tmp_path):
    """SourceStatus is the `sources.status` column's values as the schema's CHECK lists them;
    rows written with it hold that text, counts and blocks read back typed, `status` counts
    the photos in flight by it, and a photo is noted only as a duplicate or a failure."""
    s = Store(tmp_path / "bot.db")
    [table] = s._query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sources'")
    allowed = re.search(r"status IN \(([^)]*)\)", table["sql"]).group(1)
    assert [v.strip(" '") for v in allowed.split(",")] == [v.value for v in SourceStatus]
    s.take_source("inbox", None, "h1", {})
    assert s.release_orphan_sources(crash_limit=3).resumed == 1  # h1 interrupted
    sid = s.take_source("inbox", None, "h2", {})
    assert in_flight(s) == {"photos being dreamt": 1, "photos to dream again (interrupted)": 1}
    _dream(s, tmp_path, source_id=sid)  # recorded, its photo not filed yet
    assert s.source_block(sha256="h2").folder is Filing.DONE and s.source_block(url="u", sha256="h1") is None
    s.note_source("feed", "u", "h3", status=SourceStatus.DUPLICATE)
    assert [tuple(r) for r in s._query("SELECT status, typeof(status) FROM sources ORDER BY id")] == [
        ("interrupted", "text"), ("dreamt", "text"), ("duplicate", "text")]
    assert s.source_block(url="u").folder is Filing.FAILED
    counts = s.source_counts()
    assert counts == {"interrupted": 1, "dreamt": 1, "duplicate": 1} and {type(k) for k in counts} == {SourceStatus}
    for wrong in (SourceStatus.TAKEN, "dreamed"):
        with pytest.raises(ValueError):
            s.note_source("feed", "u2", None, status=wrong)
    assert s.source_counts() == counts
    s.close()


def test_every_photo_a_crash_left_behind_is_freed_and_counted(tmp_path):
    s = Store(tmp_path / "bot.db")
    a = s.take_source("feed", "https://example.org/a.jpg", "ha", {})
    b = s.take_source("inbox", None, "hb", {"title": "b"})
    released = s.release_orphan_sources(crash_limit=3)  # the bot died with two photos taken (a cycle and a request)
    assert (released.resumed, released.given_up) == (2, [])
    assert not s.source_blocked(sha256="ha") and not s.source_blocked(sha256="hb")
    assert s.take_source("feed", "https://example.org/a.jpg", "ha", {}) == a
    assert s.take_source("inbox", None, "hb", {"title": "b"}) == b
    s.take_source("inbox", None, "hc", {"title": "c"})  # a first try: it is resumed, the others loop
    released = s.release_orphan_sources(crash_limit=2)
    assert released.resumed == 1
    assert released.given_up == [
        "photo “https://example.org/a.jpg” from feed: killed during the dream 2 times in a row: too big for this machine?",
        "photo “b” from inbox: killed during the dream 2 times in a row: too big for this machine?"]
    s.close()


def test_every_post_a_crash_left_behind_counts_the_crash(tmp_path):
    s = Store(tmp_path / "bot.db")
    dream = _dream(s, tmp_path, title=None, publishers=["mastodon", "tumblr"])
    for p in s.posts_for(dream):
        s.mark_intended(p.id)  # a post on one, a retry on the other: both maybe posted when the bot dies
    assert s.release_interrupted_posts(crash_limit=2) == []
    assert [p.crashes for p in s.posts_for(dream)] == [1, 1]
    for p in s.posts_for(dream):
        s.mark_intended(p.id)
    assert s.release_interrupted_posts(crash_limit=2) == [
        "dream 1 on mastodon: killed while posting to mastodon 2 times in a row",
        "dream 1 on tumblr: killed while posting to tumblr 2 times in a row"]
    s.close()


def test_a_dive_being_made_is_resumed_once_and_never_after_it_is_saved(tmp_path):
    s = Store(tmp_path / "bot.db")
    assert s.dive_in_progress(None) is None and s.dive_in_progress("h1") is None
    made = s.start_dive(sha256="h1", post_key="k1", seed=5, combo_key="1+2",
                        classes=[[1, "goldfish", 1.0], [2, "shark", 1.0]], video_path=tmp_path / "d.mp4")
    s.close()
    s = Store(tmp_path / "bot.db")  # the bot died mid-dive: the same photo resumes the same dive
    assert s.dive_in_progress("h1") == made and s.dive_in_progress("h2") is None
    _dream(s, tmp_path, post_key="k1", video_path=tmp_path / "d.mp4")
    assert s.dive_in_progress("h1") is None  # saved: never resumed into a second post
    # a dive that keeps killing the bot is not resumed either
    sid = s.take_source("inbox", None, "h2", {})
    s.start_dive(sha256="h2", post_key="k2", seed=5, combo_key="1", classes=[], video_path=tmp_path / "e.mp4")
    s.release_orphan_sources(crash_limit=1)
    assert s.dive_in_progress("h2") is None and s.source_block(sha256="h2").source_id == sid
    s.close()


def test_a_request_seen_twice_is_taken_once_with_its_cursor(tmp_path):
    s = Store(tmp_path / "bot.db")
    assert s.cursor("mastodon:notifications") is None  # the first start: no cursor yet
    fields = dict(status_id="9", account_id="1", acct="ann", visibility="public", thread_key="9",
                  state="accepted", reply_key="k", status_json="{}")
    rid = s.add_request(("mastodon:notifications", "100"), **fields)
    assert s.cursor("mastodon:notifications") == "100"  # in the request's own transaction
    assert s.add_request(("mastodon:notifications", "101"), **{**fields, "reply_key": "k2"}) is None
    assert s.request(rid).reply_key == "k" and s.queue_length() == 1
    for missing in (lambda: s.request(99), lambda: s.update_request(99, state="replied")):
        with pytest.raises(StoreError, match="no request 99"):
            missing()
    with pytest.raises(StoreError, match="requests has no column bogus, colour"):
        s.update_request(rid, colour="red", bogus=1)
    s.close()


def test_a_migration_that_would_break_references_changes_nothing(tmp_path):
    from tests.test_bot_store import schema_2_database

    path = tmp_path / "bot.db"
    db = schema_2_database(path)
    t = "2024-05-01T10:00:00+00:00"  # a post of a dream that is not there (written with foreign keys off)
    db.execute("INSERT INTO posts (dream_id, publisher, state, updated_at) VALUES (5, 'mastodon', 'pending', ?)", (t,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"migrating .*bot.db to schema 3 broke 1 references"):
        Store(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2 < SCHEMA_VERSION
    assert db.execute("SELECT dream_id, publisher FROM posts").fetchall() == [(5, "mastodon")]
    db.close()


def test_the_store_makes_its_folder_and_serves_every_thread(tmp_path):
    s = Store(tmp_path / "data" / "state" / "bot.db")  # a data_dir not made yet
    errors = []

    def worker(n):
        try:
            s.set_meta(f"thread{n}", n)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [s.get_meta(f"thread{n}") for n in range(3)] == [0, 1, 2]
    s.close()


def test_a_transaction_that_cannot_start_leaves_the_store_to_the_other_threads(tmp_path):
    s = Store(tmp_path / "bot.db")
    s._db.execute("PRAGMA busy_timeout = 0")  # give up at once, not after the 30 s wait
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process (a --once, a worker) is writing
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        s.set_meta("note", 1)
    other.execute("ROLLBACK")
    other.close()
    done = threading.Event()

    def scheduler_thread():
        s.set_meta("note", 2)
        done.set()

    threading.Thread(target=scheduler_thread, daemon=True).start()
    assert done.wait(60), "the failed transaction kept the store's lock"
    assert s.get_meta("note") == 2
    s.close()
