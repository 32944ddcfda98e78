"""The store: versioned schema, WAL, and the post states the crash recovery relies on."""
from __future__ import annotations

import sqlite3

import pytest

from bot.store import SCHEMA_VERSION, Busy, NewDream, RequestKind, Store, StoreError


def test_schema_version_and_wal(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("inbox", "https://example.org/a.jpg", "h1", {"title": "a"})
    s.set_meta("note", {"kept": True})
    s.close()
    db = sqlite3.connect(tmp_path / "bot.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sources", "dreams", "posts", "cycles", "meta"} <= tables
    db.close()
    again = Store(tmp_path / "bot.db")  # reopening migrates nothing and keeps the data
    assert again.get_meta("note") == {"kept": True}
    assert again.source_counts() and sum(again.source_counts().values()) == 1
    assert sid == 1
    again.close()


def test_newer_schema_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "bot.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer bot.*upgrade the bot or point data_dir elsewhere"):
        Store(tmp_path / "bot.db")


def test_not_a_database(tmp_path):
    (tmp_path / "bot.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the bot's database"):
        Store(tmp_path / "bot.db")


def test_post_states_and_unfinished(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("inbox", None, "abc", {"title": "t"})
    dream = s.add_dream(NewDream(post_key=s.new_post_key(), source_id=sid, recipe={"model": "tiny"}, seed=1,
                                 classes=[[1, "goldfish", 1.0]], combo_key="1", file_path=tmp_path / "x.png",
                                 caption="c", alt_text="a", tags=["t"], source_url=None, title="t",
                                 publishers=["outbox", "mastodon", "tumblr"]))
    assert s.source_blocked(sha256="abc") and not s.source_blocked(sha256="other")
    assert [p.state for p in s.posts_for(dream)] == ["pending"] * 3
    ids = {p.publisher: p.id for p in s.posts_for(dream)}
    s.mark_intended(ids["outbox"])
    s.mark_confirmed(ids["outbox"], "r1", "u1")
    s.mark_intended(ids["mastodon"])
    s.mark_failed(ids["mastodon"], "429", transient=True, retry_at="2999-01-01T00:00:00+00:00")
    s.mark_intended(ids["tumblr"])
    s.mark_failed(ids["tumblr"], "400 bad NPF", transient=False)
    # confirmed: done; mastodon: waits for its retry time; tumblr: permanent, ended
    assert s.unfinished_posts(["outbox", "mastodon", "tumblr"]) == []
    assert [(e["kind"], e["what"], e["reason"]) for e in s.ended_items()] == [
        ("post", "dream 1 (“t”) on tumblr", "400 bad NPF")]
    for _ in range(7):  # transient failures never run out: the server may come back any time
        s.mark_intended(ids["mastodon"])
        s.mark_failed(ids["mastodon"], "503", transient=True)
    assert [p.publisher for p in s.unfinished_posts(["outbox", "mastodon", "tumblr"])] == ["mastodon"]
    assert s.post(dream, "mastodon").failures == 8
    s.mark_confirmed(ids["mastodon"], "r2", None)
    assert s.post(dream, "mastodon").failures == 0 and s.open_posts() == {}
    assert s.recent_combos(10) == ["1"]
    s.close()


def _dream(s, tmp_path, source_id, publishers=("mastodon",)):
    return s.add_dream(NewDream(post_key=s.new_post_key(), source_id=source_id, recipe={}, seed=1,
                                classes=[[1, "goldfish", 1]], combo_key="1", file_path=tmp_path / "x.png", caption="c",
                                alt_text="a", tags=[], source_url=None, title="harbour", publishers=list(publishers)))


def test_post_states_are_the_ones_the_posts_table_holds(tmp_path):
    """PostState is the column's values as they are (no schema change), and rows read back as it."""
    import re

    from bot.store import PostState

    s = Store(tmp_path / "bot.db")
    sql = s._query("SELECT sql FROM sqlite_master WHERE name = 'posts'")[0]["sql"]
    allowed = re.search(r"state IN \(([^)]*)\)", sql).group(1)
    assert [v.strip(" '") for v in allowed.split(",")] == [str(state) for state in PostState]
    dream = s.add_dream(NewDream(post_key=s.new_post_key(), source_id=None, recipe={"model": "tiny"}, seed=1,
                                 classes=[[1, "goldfish", 1.0]], combo_key="1", file_path=tmp_path / "x.png",
                                 caption="c", alt_text="a", tags=[], source_url=None, title=None,
                                 publishers=["outbox"]))
    assert s.post(dream, "outbox").state is PostState.PENDING
    assert s.open_posts() == {PostState.PENDING: 1}


def test_cycle_outcomes_are_stored_as_the_text_they_always_were(tmp_path):
    """CycleOutcome is the `cycles.outcome` column's values as written before it existed, and a
    streak of failures reads them back: an interrupted cycle neither adds to it nor ends it."""
    from bot.store import CycleOutcome

    s = Store(tmp_path / "bot.db")
    for outcome in (CycleOutcome.IDLE, CycleOutcome.WAITING, CycleOutcome.POSTED, CycleOutcome.FAILED, None,
                    CycleOutcome.FAILED):
        cycle = s.start_cycle()
        if outcome is None:
            assert s.release_interrupted_cycles() == 1  # its process died
        else:
            s.finish_cycle(cycle, outcome)
    rows = s._query("SELECT outcome, typeof(outcome) AS t FROM cycles ORDER BY id")
    assert [(r["outcome"], r["t"]) for r in rows] == [
        ("idle", "text"), ("waiting", "text"), ("posted", "text"), ("failed", "text"), ("interrupted", "text"),
        ("failed", "text")]
    assert s.consecutive_failures() == (2, False)
    assert s.last_cycle()["outcome"] == CycleOutcome.FAILED
    s.close()


def test_a_photo_interrupted_by_a_crash_is_resumed_not_counted(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("inbox", None, "h1", {"title": "harbour"})
    assert s.source_blocked(sha256="h1")  # being dreamt
    released = s.release_orphan_sources(crash_limit=3)  # the bot died before the dream was saved
    assert (released.resumed, released.given_up) == (1, [])
    assert s.source_block(sha256="h1") is None  # so it is dreamt again...
    assert s.take_source("inbox", None, "h1", {}) == sid  # ...on the same row
    row = s._query("SELECT status, attempts, crashes FROM sources WHERE id = ?", (sid,))[0]
    assert tuple(row) == ("taken", 0, 1)  # a crash, not a failed attempt
    # a real error counts (and, for a photo its folder moves to failed/, ends it)
    s.finish_source(sid, ok=False, error="RuntimeError: out of memory")
    row = s._query("SELECT status, attempts, crashes FROM sources WHERE id = ?", (sid,))[0]
    assert tuple(row) == ("failed", 1, 0)
    assert s.ended_items()[0]["reason"] == "could not be dreamt: RuntimeError: out of memory"
    s.close()


def test_a_crash_loop_is_named_as_such_never_a_duplicate(tmp_path):
    s = Store(tmp_path / "bot.db")
    for n in range(1, 4):
        s.take_source("inbox", None, "big", {"title": "huge panorama"})
        released = s.release_orphan_sources(crash_limit=3)
        if n < 3:
            assert (released.resumed, released.given_up) == (1, [])
    why = "killed during the dream 3 times in a row: too big for this machine?"
    assert released.given_up == [f"photo “huge panorama” from inbox: {why}"]
    block = s.source_block(sha256="big")
    assert (block.folder, block.why, block.duplicate) == ("failed", why, False)
    [ended] = s.ended_items()
    assert (ended["kind"], ended["reason"]) == ("photo", why)
    s.close()


def test_a_dreamt_photo_not_yet_filed_is_filed_as_done_not_as_a_duplicate(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("inbox", None, "h2", {})
    _dream(s, tmp_path, sid)
    block = s.source_block(sha256="h2")  # the bot died between recording the dream and filing the photo
    assert (block.folder, block.duplicate) == ("done", False)
    s.skipped_source(block, "inbox", None, "h2")
    block = s.source_block(sha256="h2")  # filed now: the same picture again is a duplicate
    assert (block.folder, block.why, block.duplicate) == ("failed", "the same picture was dreamt before", True)
    s.close()


def test_a_post_interrupted_mid_publish_is_a_crash_until_it_loops(tmp_path):
    s = Store(tmp_path / "bot.db")
    dream = _dream(s, tmp_path, None)
    pid = s.post(dream, "mastodon").id
    for n in range(1, 3):
        s.mark_intended(pid)  # ...and the bot dies
        assert s.release_interrupted_posts(crash_limit=3) == []
        row = s.post(dream, "mastodon")
        assert (row.state, row.crashes, row.failures) == ("intended", n, 0)
    s.mark_intended(pid)
    s.mark_failed(pid, "500", transient=True)  # a real error ends the streak of crashes
    assert (s.post(dream, "mastodon").crashes, s.post(dream, "mastodon").failures) == (0, 1)
    for _ in range(3):
        s.mark_intended(pid)
        given_up = s.release_interrupted_posts(crash_limit=3)
    assert given_up == ["dream 1 (“harbour”) on mastodon: killed while posting to mastodon 3 times in a row"]
    assert s.post(dream, "mastodon").state == "failed" and s.unfinished_posts(["mastodon"]) == []
    s.close()


def test_interrupted_requests_count_crashes(tmp_path):
    s = Store(tmp_path / "bot.db")
    rid = s.add_request(None, status_id="9", account_id="1", acct="ann", visibility="public", thread_key="9",
                        state="accepted", reply_key="k", status_json="{}")
    s.update_request(rid, state="rendering", busy="dream")
    assert s.release_interrupted_requests(crash_limit=2) == []
    assert (s.request(rid).busy, s.request(rid).crashes) == (None, 1)
    s.update_request(rid, busy=Busy.REPLY)
    [looped] = s.release_interrupted_requests(crash_limit=2)
    assert (looped.busy, looped.crashes) == (Busy.REPLY, 2) and type(looped.busy) is Busy  # where it died
    s.give_up_request(rid, "killed while replying 2 times in a row")
    assert s.request(rid).state == "ignored"
    assert s.ended_items()[0]["what"] == "@ann's request 9"
    s.close()


def test_request_kinds_are_stored_as_the_text_they_always_were(tmp_path, caplog):
    """RequestKind is the `requests.kind` column's values as written before it existed (the SQL
    of dives_today counts a dive stored with it), rows read back as it, and a kind this bot
    does not know is dreamt as a picture, as before it was typed, and logged."""
    import logging

    s = Store(tmp_path / "bot.db")
    fields = dict(account_id="1", acct="ann", visibility="public", state="accepted", status_json="{}")
    ids = [s.add_request(None, status_id=str(i), thread_key=str(i), reply_key=f"k{i}", **fields, **kind)
           for i, kind in enumerate([{"kind": RequestKind.DIVE}, {"kind": RequestKind.DREAM}, {}])]  # {}: the default
    rows = s._query("SELECT kind, typeof(kind) AS t, CAST(kind AS BLOB) AS b FROM requests ORDER BY id")
    assert [(r["kind"], r["t"], r["b"]) for r in rows] == [
        ("dive", "text", b"dive"), ("dream", "text", b"dream"), ("dream", "text", b"dream")]
    kinds = [s.request(i).kind for i in ids]
    assert kinds == [RequestKind.DIVE, RequestKind.DREAM, RequestKind.DREAM]
    assert all(type(k) is RequestKind for k in kinds)
    assert [s.request(i).is_dive for i in ids] == [True, False, False] and s.dives_today("1") == 1
    with sqlite3.connect(tmp_path / "bot.db") as other:  # e.g. a newer bot's kind
        other.execute("UPDATE requests SET kind = 'gif' WHERE id = ?", (ids[0],))
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        assert [r.kind for r in s.open_requests()] == [RequestKind.DREAM] * 3  # the others still read
    assert "request 0 has a kind this bot does not know ('gif')" in caplog.text
    assert not s.request(ids[0]).is_dive and s.dives_today("1") == 0
    s.close()


def test_busy_steps_are_stored_as_the_text_they_always_were(tmp_path, caplog):
    """Busy is the `requests.busy` column's values as written before it existed (an older bot's
    rows read as it), and a step this bot does not know is taken for a reply in progress (a
    crash loop there is given up, never answered twice), and logged."""
    import logging

    s = Store(tmp_path / "bot.db")
    fields = dict(account_id="1", acct="ann", visibility="public", state="rendering", status_json="{}")
    ids = [s.add_request(None, status_id=str(i), thread_key=str(i), reply_key=f"k{i}", **fields) for i in range(3)]
    s.update_request(ids[0], busy=Busy.DREAM)
    s.update_request(ids[1], busy=Busy.REPLY)
    rows = s._query("SELECT busy, typeof(busy) AS t, CAST(busy AS BLOB) AS b FROM requests ORDER BY id")
    assert [tuple(r) for r in rows] == [("dream", "text", b"dream"), ("reply", "text", b"reply"), (None, "null", None)]
    busy = [s.request(i).busy for i in ids]
    assert busy == [Busy.DREAM, Busy.REPLY, None] and [type(b) for b in busy[:2]] == [Busy, Busy]
    with sqlite3.connect(tmp_path / "bot.db") as other:  # an older bot's text, and a newer bot's step
        other.execute("UPDATE requests SET busy = 'dream' WHERE id = ?", (ids[2],))
        other.execute("UPDATE requests SET busy = 'upload' WHERE id = ?", (ids[1],))
    assert s.request(ids[2]).busy is Busy.DREAM
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        looped = s.release_interrupted_requests(crash_limit=1)  # the others still read
    assert sorted((r.id, r.busy) for r in looped) == [(ids[0], Busy.DREAM), (ids[1], Busy.REPLY), (ids[2], Busy.DREAM)]
    assert "request 1 is busy with a step this bot does not know ('upload')" in caplog.text
    assert [r["busy"] for r in s._query("SELECT busy FROM requests")] == [None] * 3
    s.close()


def test_rate_limits_are_shared_by_every_store_on_the_file(tmp_path):
    import time

    a, b = Store(tmp_path / "bot.db"), Store(tmp_path / "bot.db")  # e.g. the bot and a --once
    a.set_rate_limit("mastodon:x:api", time.time() + 600, "used up")
    until, why = b.rate_limit("mastodon:x:api")
    assert until > time.time() + 500 and why == "used up"
    a.set_rate_limit("mastodon:x:api", None)
    assert b.rate_limit("mastodon:x:api") is None
    a.set_rate_limit("mastodon:x:media", time.time() - 1, "over")
    assert b.rate_limit("mastodon:x:media") is None  # expired
    a.close()
    b.close()


def test_rate_limit_blocks_are_kept_under_the_keys_they_always_were(tmp_path):
    """A Mastodon block is kept as meta "limit:mastodon:<account>:" + its Bucket's text, as
    before the buckets were typed, so every process on the file (an older bot too) honours it.
    A used-up media limit blocks uploads alone; an upload that used up the general one, both."""
    from bot.publishers.base import PublishError
    from bot.publishers.ratelimit import Bucket, RateBudget

    s = Store(tmp_path / "bot.db")
    budget = RateBudget(s, "mastodon:me:")

    def blocked() -> list[str]:
        return [r["key"] for r in s._query("SELECT key FROM meta WHERE key LIKE 'limit:%' ORDER BY key")]

    budget.update(Bucket.API, {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "9"})
    budget.update(Bucket.MEDIA, {"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "Retry-After": "600"})
    assert blocked() == ["limit:mastodon:me:media"]
    budget.check(Bucket.API, "post the status")  # ordinary calls go on
    with pytest.raises(PublishError, match="rate limit for media uploads is used up"):
        budget.check(Bucket.MEDIA, "upload the image")
    budget.update(Bucket.MEDIA, {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "Retry-After": "600"})
    assert blocked() == ["limit:mastodon:me:api", "limit:mastodon:me:media"]
    with pytest.raises(PublishError, match="rate limit for API calls is used up"):
        budget.check(Bucket.API, "post the status")
    s.close()


def test_tumblr_rate_limit_blocks_are_kept_under_the_keys_they_always_were(tmp_path, monkeypatch):
    """A Tumblr block is kept as meta "limit:tumblr:<blog>:" + its Bucket's text, as before
    the buckets were typed, so every process on the file (an older bot too) honours it. A
    used-up daily post limit stops posting alone; a 429 stops every call."""
    from bot.publishers import tumblr
    from bot.publishers.base import Post, PublishError
    from bot_helpers import write_photo
    from tumblr_server import KEYS, TumblrServer

    s = Store(tmp_path / "bot.db")

    def blocked() -> list[str]:
        return [r["key"] for r in s._query("SELECT key FROM meta WHERE key LIKE 'limit:%' ORDER BY key")]

    post = Post("post-1", write_photo(tmp_path / "dream.png"), "a dream", "a photo, dreamt")
    with TumblrServer("dreams") as srv:
        monkeypatch.setattr(tumblr, "API_ROOT", srv.api_root)
        pub = tumblr.TumblrPublisher("dreams", *KEYS.values(), limits=s)
        assert pub.rate_wait() == 0
        srv.faults.append((403, {}, {"meta": {"status": 403, "msg": "Forbidden"}, "response": [],
                                     "errors": [{"title": "You have reached your daily posting limit", "code": 8023}]}))
        with pytest.raises(PublishError, match="daily limit of published posts is reached"):
            pub.publish(post)
        assert blocked() == ["limit:tumblr:dreams:post"] and pub.rate_wait() > 60  # posting waits for it
        with pytest.raises(PublishError, match="not trying to create the post"):
            pub.publish(post)
        assert pub.find_existing(post) is None  # reading goes on
        srv.faults.append((429, {"Retry-After": "600"}, {"meta": {"status": 429, "msg": "Limit Exceeded"},
                                                         "response": []}))
        with pytest.raises(PublishError, match="rate limit reached"):
            pub.find_existing(post)
        assert blocked() == ["limit:tumblr:dreams:api", "limit:tumblr:dreams:post"]
        with pytest.raises(PublishError, match="not trying to list"):
            pub.find_existing(post)
        assert srv.posts == [] and len(srv.calls) == 3
    s.close()


def schema_2_database(path):
    """An empty database as a bot of schema 2 left it (before crashes were told from failures),
    open for the caller to write data into."""
    import sqlite3

    from bot.store.schema import MIGRATIONS, statements

    db = sqlite3.connect(path)
    for v in range(2):
        for stmt in statements(MIGRATIONS[v]):
            db.execute(stmt)
    db.execute("PRAGMA user_version = 2")
    return db


def test_a_database_of_the_previous_schema_keeps_its_data(tmp_path):
    """Schema 2, with data in it, opened by this bot."""
    path = tmp_path / "bot.db"
    db = schema_2_database(path)
    t = "2024-05-01T10:00:00+00:00"
    db.executemany(
        "INSERT INTO sources (id, source, url, sha256, status, attempts, error, credit_json, created_at, updated_at) "
        "VALUES (?, 'inbox', NULL, ?, ?, ?, ?, '{\"title\": \"old\"}', ?, ?)",
        [(1, "s1", "dreamt", 0, None, t, t), (2, "s2", "failed", 3, "interrupted before the dream was saved", t, t),
         (3, "s3", "failed", 1, "RuntimeError: out of memory", t, t)])
    db.execute("INSERT INTO dreams (id, post_key, source_id, recipe_json, classes_json, combo_key, file_path, caption, "
               "alt_text, created_at) VALUES (1, 'key1', 1, '{}', '[]', '1', '/x.png', 'cap', 'alt', ?)", (t,))
    db.execute("INSERT INTO posts (dream_id, publisher, state, attempts, error, transient, updated_at) "
               "VALUES (1, 'mastodon', 'failed', 5, '503', 1, ?)", (t,))
    db.execute("INSERT INTO requests (status_id, account_id, acct, visibility, thread_key, state, reply_key, "
               "status_json, reply_attempts, created_at, updated_at) "
               "VALUES ('7', '1', 'ann', 'public', '7', 'rendered', 'rk', '{}', 2, ?, ?)", (t, t))
    db.commit()
    db.close()

    s = Store(path)
    assert s._query("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 7
    rows = [tuple(r) for r in s._query("SELECT id, status, attempts, crashes, filed FROM sources ORDER BY id")]
    # the photo the old bot blocked after crashes is free again; a real failure still counts
    assert rows == [(1, "dreamt", 0, 0, 1), (2, "interrupted", 2, 1, 1), (3, "failed", 1, 0, 1)]
    assert s.source_block(sha256="s2") is None and s.source_block(sha256="s1").duplicate
    assert s.dream(1).post_key == "key1" and s.dream(1).caption == "cap"
    assert s.dream(1).video_path is None and s.dive_in_progress("s1") is None  # schema 4: dives
    assert s.running_poll() is None and s.latest_polls() == []  # schema 5: polls
    post = s.post(1, "mastodon")
    assert (post.state, post.attempts, post.failures, post.crashes) == ("failed", 5, 0, 0)
    # given up under the old attempt limit, retried now that transient failures never run out
    assert [p.id for p in s.unfinished_posts(["mastodon"])] == [post.id]
    r = s.request(1)
    assert (r.state, r.reply_attempts, r.busy, r.crashes, r.retries) == ("rendered", 2, None, 0, 0)
    assert r.kind is RequestKind.DREAM  # schema 4: the column's default, read as the enum
    # schema 6: an old dream kept no photo (a remix of it is told so); an old request is no remix
    assert s.dream(1).source_photo is None and (r.remix_of, r.source_key, r.recipe_json) == (None, None, None)
    assert s._query("PRAGMA foreign_key_check") == [] and s._query("PRAGMA foreign_keys")[0][0] == 1
    s.close()


def test_the_copies_of_feeds_no_longer_configured_are_forgotten(tmp_path):
    s = Store(tmp_path / "bot.db")
    for feed in ("https://a.example/feed", "https://gone.example/feed"):
        s.keep_feed(feed, url=feed, content_type=None, body=b"<rss/>", etag='"1"', modified=None)
    assert s.forget_feeds_except(["https://a.example/feed", "https://new.example/feed"]) == 1
    assert s.feed_copy("https://gone.example/feed") is None
    assert s.feed_copy("https://a.example/feed") is not None
    assert s.forget_feeds_except([]) == 1 and s.feed_copy("https://a.example/feed") is None
    s.close()
