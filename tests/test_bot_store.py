"""The store: versioned schema, WAL, and the post states the crash recovery relies on."""
from __future__ import annotations

import sqlite3

import pytest

from bot.store import SCHEMA_VERSION, Store, StoreError


def test_schema_version_and_wal(tmp_path):
    s = Store(tmp_path / "bot.db")
    s.close()
    db = sqlite3.connect(tmp_path / "bot.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sources", "dreams", "posts", "cycles", "meta"} <= tables
    db.close()
    Store(tmp_path / "bot.db").close()  # reopening migrates nothing and keeps the data


def test_newer_schema_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "bot.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer bot"):
        Store(tmp_path / "bot.db")


def test_not_a_database(tmp_path):
    (tmp_path / "bot.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the bot's database"):
        Store(tmp_path / "bot.db")


def test_post_states_and_unfinished(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("inbox", None, "abc", {"title": "t"})
    dream = s.add_dream(post_key=s.new_post_key(), source_id=sid, recipe={"model": "tiny"}, seed=1,
                        classes=[[1, "goldfish", 1.0]], combo_key="1", file_path=tmp_path / "x.png",
                        caption="c", alt_text="a", tags=["t"], source_url=None, title="t",
                        publishers=["outbox", "mastodon", "tumblr"])
    assert s.source_blocked(sha256="abc") and not s.source_blocked(sha256="other")
    assert [p.state for p in s.posts_for(dream)] == ["pending"] * 3
    ids = {p.publisher: p.id for p in s.posts_for(dream)}
    s.mark_intended(ids["outbox"])
    s.mark_confirmed(ids["outbox"], "r1", "u1")
    s.mark_intended(ids["mastodon"])
    s.mark_failed(ids["mastodon"], "429", transient=True, retry_at="2999-01-01T00:00:00+00:00")
    s.mark_intended(ids["tumblr"])
    s.mark_failed(ids["tumblr"], "400 bad NPF", transient=False)
    # confirmed: done; mastodon: waits for its retry time; tumblr: permanent, left alone
    assert s.unfinished_posts(["outbox", "mastodon", "tumblr"], 5) == []
    s.mark_failed(ids["mastodon"], "503", transient=True)
    assert [p.publisher for p in s.unfinished_posts(["outbox", "mastodon", "tumblr"], 5)] == ["mastodon"]
    assert s.unfinished_posts(["mastodon"], 1) == []  # attempts used up
    assert s.recent_combos(10) == ["1"]
    s.close()


def test_orphaned_source_is_released(tmp_path):
    s = Store(tmp_path / "bot.db")
    sid = s.take_source("inbox", "file:///x.png", "h1", {})
    assert s.source_blocked(url="file:///x.png")
    assert s.release_orphan_sources() == 1  # the bot died before the dream was saved
    assert not s.source_blocked(url="file:///x.png")  # so it may be tried again...
    assert s.take_source("inbox", "file:///x.png", "h1", {}) == sid  # ...on the same row
    s.close()
