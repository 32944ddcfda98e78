"""What the bot did, in one SQLite file: sources seen, dreams made, posts per publisher, cycles.

A post moves pending -> intended -> confirmed | failed. "intended" is written (and committed)
before the publisher is called and "confirmed" after it answers, so after a crash an
"intended" row means "maybe posted": the pipeline asks the publisher (`find_existing`) before
trying again. The schema is versioned with `PRAGMA user_version`; `MIGRATIONS[n]` takes a file
from version n to n+1.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,            -- the config's source name
        url TEXT,                        -- http(s) URL or file:// URI
        sha256 TEXT,                     -- of the original bytes
        status TEXT NOT NULL CHECK (status IN ('taken', 'dreamt', 'failed', 'duplicate')),
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        credit_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX sources_url ON sources(url);
    CREATE INDEX sources_sha ON sources(sha256);

    CREATE TABLE dreams (
        id INTEGER PRIMARY KEY,
        post_key TEXT NOT NULL UNIQUE,   -- Post.post_id: idempotency keys derive from it
        source_id INTEGER REFERENCES sources(id),
        recipe_json TEXT NOT NULL,
        seed INTEGER,
        classes_json TEXT NOT NULL,      -- [[id, name, weight], ...]
        combo_key TEXT NOT NULL,
        file_path TEXT NOT NULL,
        caption TEXT NOT NULL,
        alt_text TEXT NOT NULL,
        tags_json TEXT NOT NULL DEFAULT '[]',
        source_url TEXT,
        title TEXT,
        created_at TEXT NOT NULL
    );

    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        dream_id INTEGER NOT NULL REFERENCES dreams(id),
        publisher TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'intended', 'confirmed', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        remote_id TEXT,
        url TEXT,
        error TEXT,
        transient INTEGER,
        retry_at TEXT,
        updated_at TEXT NOT NULL,
        UNIQUE (dream_id, publisher)
    );

    CREATE TABLE cycles (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,                    -- 'posted', 'idle', 'failed'
        error TEXT,
        admin_notified INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 1 -> 2: dream requests (bot/requests)
    """
    CREATE TABLE cursors (
        name TEXT PRIMARY KEY,           -- e.g. 'mastodon:notifications'
        min_id TEXT NOT NULL,            -- the newest item handled (the next poll asks above it)
        updated_at TEXT NOT NULL
    );

    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        status_id TEXT NOT NULL UNIQUE,  -- the request status: handled once, however often seen
        notification_id TEXT,
        account_id TEXT NOT NULL,
        acct TEXT NOT NULL,              -- user or user@host, as the server names them
        visibility TEXT NOT NULL,
        thread_key TEXT NOT NULL,        -- the status id that began the chain with the bot
        state TEXT NOT NULL CHECK (state IN
            ('accepted', 'rendering', 'rendered', 'refusing', 'replied', 'refused', 'ignored')),
        reply_key TEXT NOT NULL UNIQUE,  -- idempotency key and ref- marker of the reply
        status_json TEXT NOT NULL,       -- the request status as received
        classes_json TEXT,               -- [[id, name, weight], ...] once parsed
        refusal TEXT,                    -- why it was refused or ignored (a kind, e.g. 'unknown')
        reply_text TEXT,                 -- the reply's text, fixed before the first attempt
        dream_path TEXT,
        reply_attempts INTEGER NOT NULL DEFAULT 0,
        reply_id TEXT,
        reply_url TEXT,
        ack_id TEXT,                     -- the optional "queued" reply
        failures INTEGER NOT NULL DEFAULT 0,  -- unexpected errors while preparing it
        error TEXT,
        retry_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX requests_state ON requests(state);
    CREATE INDEX requests_account ON requests(account_id, created_at);
    CREATE INDEX requests_thread ON requests(thread_key);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
PERMANENT = 1_000_000  # attempts recorded for a source that can never work


class StoreError(Exception):
    pass


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DreamRow:
    id: int
    post_key: str
    file_path: Path
    caption: str
    alt_text: str
    tags: tuple[str, ...]
    source_url: str | None
    title: str | None
    classes: list[list[Any]]
    seed: int | None
    created_at: str


@dataclass(frozen=True)
class PostRow:
    id: int
    dream_id: int
    publisher: str
    state: str
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    transient: bool | None
    retry_at: str | None
    updated_at: str


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the scheduler's threads, serialised by a lock; autocommit
        # mode with explicit BEGIN so each step is durable the moment it returns.
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the bot's database {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer bot (schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade the bot or point data_dir elsewhere"
            )
        for v in range(version, SCHEMA_VERSION):
            with self._tx():
                for stmt in _statements(MIGRATIONS[v]):
                    self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version = {v + 1}")

    class _Tx:
        def __init__(self, store: "Store"):
            self.store = store

        def __enter__(self):
            self.store._lock.acquire()
            self.store._db.execute("BEGIN IMMEDIATE")
            return self.store._db

        def __exit__(self, exc_type, exc, tb):
            try:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()
            return False

    def _tx(self) -> "_Tx":
        return Store._Tx(self)

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # --- sources -------------------------------------------------------------------------
    def source_blocked(self, *, url: str | None = None, sha256: str | None = None, max_failures: int = 3) -> bool:
        """True when this URL or content was dreamt, is being dreamt, was a duplicate, or
        failed too often to try again."""
        for col, val in (("url", url), ("sha256", sha256)):
            if val is None:
                continue
            rows = self._query(
                f"SELECT status, attempts FROM sources WHERE {col} = ?", (val,)
            )
            for r in rows:
                if r["status"] in ("taken", "dreamt") or (r["status"] == "duplicate" and col == "url"):
                    return True
                if r["status"] == "failed" and r["attempts"] >= max_failures:
                    return True
        return False

    def take_source(self, source: str, url: str | None, sha256: str | None, credit: dict[str, Any]) -> int:
        """Record that a source item is being dreamt; reuses a failed row so attempts add up."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM sources WHERE status = 'failed' AND (url = ? OR sha256 = ?) ORDER BY id LIMIT 1",
                (url, sha256),
            ).fetchone()
            if row:
                db.execute(
                    "UPDATE sources SET status='taken', url=?, sha256=?, credit_json=?, updated_at=? WHERE id=?",
                    (url, sha256, json.dumps(credit), now(), row["id"]),
                )
                return row["id"]
            cur = db.execute(
                "INSERT INTO sources (source, url, sha256, status, credit_json, created_at, updated_at) "
                "VALUES (?, ?, ?, 'taken', ?, ?, ?)",
                (source, url, sha256, json.dumps(credit), now(), now()),
            )
            return int(cur.lastrowid)

    def finish_source(self, source_id: int, *, ok: bool, error: str | None = None) -> None:
        with self._tx() as db:
            if ok:
                db.execute("UPDATE sources SET status='dreamt', error=NULL, updated_at=? WHERE id=?", (now(), source_id))
            else:
                db.execute(
                    "UPDATE sources SET status='failed', attempts=attempts+1, error=?, updated_at=? WHERE id=?",
                    (error, now(), source_id),
                )

    def note_source(
        self, source: str, url: str | None, sha256: str | None, *, status: str, error: str | None = None,
        permanent: bool = False,
    ) -> None:
        """Record a duplicate or a failed fetch without taking it, so it is skipped next time
        (a failure only after `max_failures` of them, unless `permanent`)."""
        assert status in ("duplicate", "failed")
        bump = PERMANENT if permanent else 1
        with self._tx() as db:
            row = None
            if status == "failed" and url:
                row = db.execute("SELECT id FROM sources WHERE url=? AND status='failed'", (url,)).fetchone()
            if row:
                db.execute("UPDATE sources SET attempts=attempts+?, error=?, updated_at=? WHERE id=?",
                           (bump, error, now(), row["id"]))
            else:
                db.execute(
                    "INSERT INTO sources (source, url, sha256, status, attempts, error, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (source, url, sha256, status, bump if status == "failed" else 0, error, now(), now()),
                )

    def release_orphan_sources(self) -> int:
        """Sources left 'taken' by a crash before their dream was saved become 'failed' (retryable)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE sources SET status='failed', attempts=attempts+1, "
                "error='interrupted before the dream was saved', updated_at=? "
                "WHERE status='taken' AND id NOT IN (SELECT source_id FROM dreams WHERE source_id IS NOT NULL)",
                (now(),),
            )
            return cur.rowcount

    def source_counts(self) -> dict[str, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM sources GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # --- dreams and posts ----------------------------------------------------------------
    @staticmethod
    def new_post_key() -> str:
        # Random, not the row id: an idempotency key must not collide with one from a
        # previous database (Mastodon remembers keys for an hour).
        return uuid.uuid4().hex

    def add_dream(
        self,
        *,
        post_key: str,
        source_id: int | None,
        recipe: dict[str, Any],
        seed: int | None,
        classes: list[list[Any]],
        combo_key: str,
        file_path: Path,
        caption: str,
        alt_text: str,
        tags: Iterable[str],
        source_url: str | None,
        title: str | None,
        publishers: Iterable[str],
    ) -> int:
        """Save a finished dream and one pending post per publisher, in one transaction,
        marking its source dreamt."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO dreams (post_key, source_id, recipe_json, seed, classes_json, combo_key, file_path, "
                "caption, alt_text, tags_json, source_url, title, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (post_key, source_id, json.dumps(recipe, sort_keys=True), seed, json.dumps(classes), combo_key,
                 str(file_path), caption, alt_text, json.dumps(list(tags)), source_url, title, now()),
            )
            dream_id = int(cur.lastrowid)
            for name in publishers:
                db.execute(
                    "INSERT INTO posts (dream_id, publisher, state, updated_at) VALUES (?, ?, 'pending', ?)",
                    (dream_id, name, now()),
                )
            if source_id is not None:
                db.execute("UPDATE sources SET status='dreamt', error=NULL, updated_at=? WHERE id=?", (now(), source_id))
            return dream_id

    def dream(self, dream_id: int) -> DreamRow:
        rows = self._query("SELECT * FROM dreams WHERE id = ?", (dream_id,))
        if not rows:
            raise StoreError(f"no dream {dream_id}")
        r = rows[0]
        return DreamRow(
            id=r["id"], post_key=r["post_key"], file_path=Path(r["file_path"]), caption=r["caption"],
            alt_text=r["alt_text"], tags=tuple(json.loads(r["tags_json"])), source_url=r["source_url"],
            title=r["title"], classes=json.loads(r["classes_json"]), seed=r["seed"], created_at=r["created_at"],
        )

    def recent_combos(self, n: int) -> list[str]:
        if n <= 0:
            return []
        return [r["combo_key"] for r in self._query("SELECT combo_key FROM dreams ORDER BY id DESC LIMIT ?", (n,))]

    def posts_for(self, dream_id: int) -> list[PostRow]:
        return [_post(r) for r in self._query("SELECT * FROM posts WHERE dream_id = ? ORDER BY id", (dream_id,))]

    def post(self, dream_id: int, publisher: str) -> PostRow:
        rows = self._query("SELECT * FROM posts WHERE dream_id = ? AND publisher = ?", (dream_id, publisher))
        if not rows:
            raise StoreError(f"no post of dream {dream_id} for {publisher}")
        return _post(rows[0])

    def unfinished_posts(self, publishers: Iterable[str], max_attempts: int) -> list[PostRow]:
        """Posts still to (re)try on these publishers, oldest first."""
        names = list(publishers)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        rows = self._query(
            f"SELECT * FROM posts WHERE publisher IN ({marks}) AND state != 'confirmed' "
            f"AND NOT (state = 'failed' AND (attempts >= ? OR transient = 0)) "
            f"AND (retry_at IS NULL OR retry_at <= ?) ORDER BY dream_id, id",
            (*names, max_attempts, now()),
        )
        return [_post(r) for r in rows]

    def mark_intended(self, post_id: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE posts SET state='intended', attempts=attempts+1, updated_at=? WHERE id=?", (now(), post_id)
            )

    def mark_confirmed(self, post_id: int, remote_id: str, url: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE posts SET state='confirmed', remote_id=?, url=?, error=NULL, retry_at=NULL, updated_at=? "
                "WHERE id=?",
                (remote_id, url, now(), post_id),
            )

    def mark_failed(self, post_id: int, error: str, *, transient: bool, retry_at: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE posts SET state='failed', error=?, transient=?, retry_at=?, updated_at=? WHERE id=?",
                (error, int(transient), retry_at, now(), post_id),
            )

    def confirmed_today(self, publisher: str) -> int:
        """Posts confirmed on a publisher since 00:00 UTC (for daily platform limits, so a
        restart does not forget how many were made)."""
        midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = self._query(
            "SELECT COUNT(*) AS n FROM posts WHERE publisher = ? AND state = 'confirmed' AND updated_at >= ?",
            (publisher, midnight.isoformat(timespec="seconds")),
        )
        return int(rows[0]["n"])

    def publisher_summary(self) -> dict[str, dict[str, Any]]:
        """Per publisher: counts by state and the last confirmed post."""
        out: dict[str, dict[str, Any]] = {}
        for r in self._query("SELECT publisher, state, COUNT(*) AS n FROM posts GROUP BY publisher, state"):
            out.setdefault(r["publisher"], {"counts": {}, "last": None})["counts"][r["state"]] = r["n"]
        for name in out:
            last = self._query(
                "SELECT p.url, p.remote_id, p.updated_at, d.title FROM posts p JOIN dreams d ON d.id = p.dream_id "
                "WHERE p.publisher = ? AND p.state = 'confirmed' ORDER BY p.updated_at DESC, p.id DESC LIMIT 1",
                (name,),
            )
            out[name]["last"] = dict(last[0]) if last else None
        return out

    def recent_failures(self, limit: int = 5) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT publisher, attempts, error, updated_at FROM posts WHERE state = 'failed' "
            "ORDER BY updated_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    # --- cycles --------------------------------------------------------------------------
    def start_cycle(self) -> int:
        with self._tx() as db:
            return int(db.execute("INSERT INTO cycles (started_at) VALUES (?)", (now(),)).lastrowid)

    def finish_cycle(self, cycle_id: int, outcome: str, error: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE cycles SET finished_at=?, outcome=?, error=? WHERE id=?", (now(), outcome, error, cycle_id)
            )

    def consecutive_failures(self) -> tuple[int, bool]:
        """(failed cycles since the last good one, whether the admin was told in this streak)."""
        rows = self._query(
            "SELECT outcome, admin_notified FROM cycles WHERE outcome IS NOT NULL ORDER BY id DESC LIMIT 1000"
        )
        count, notified = 0, False
        for r in rows:
            if r["outcome"] != "failed":
                break
            count += 1
            notified = notified or bool(r["admin_notified"])
        return count, notified

    def mark_admin_notified(self, cycle_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE cycles SET admin_notified = 1 WHERE id = ?", (cycle_id,))

    def last_cycle(self) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM cycles WHERE outcome IS NOT NULL ORDER BY id DESC LIMIT 1")
        return dict(rows[0]) if rows else None


    # --- dream requests (bot/requests) ------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        rows = self._query("SELECT min_id FROM cursors WHERE name = ?", (name,))
        return rows[0]["min_id"] if rows else None

    def set_cursor(self, name: str, min_id: str) -> None:
        with self._tx() as db:
            _set_cursor(db, name, min_id)

    def add_request(self, cursor: tuple[str, str] | None, **fields: Any) -> int | None:
        """Store a new request and move the notifications cursor past it in ONE transaction,
        so a crash can neither lose the mention nor handle it twice. Returns the row id, or
        None when this status was already stored (seen twice: by a poll and the stream, or
        edited)."""
        fields.setdefault("created_at", now())
        fields["updated_at"] = now()
        cols = ",".join(fields)
        with self._tx() as db:
            cur = db.execute(
                f"INSERT INTO requests ({cols}) VALUES ({','.join('?' * len(fields))}) "
                "ON CONFLICT(status_id) DO NOTHING",
                tuple(fields.values()),
            )
            if cursor is not None:
                _set_cursor(db, *cursor)
            return int(cur.lastrowid) if cur.rowcount else None

    def request(self, request_id: int) -> dict[str, Any]:
        rows = self._query("SELECT * FROM requests WHERE id = ?", (request_id,))
        if not rows:
            raise StoreError(f"no request {request_id}")
        return dict(rows[0])

    def update_request(self, request_id: int, **fields: Any) -> None:
        fields["updated_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE requests SET {sets} WHERE id = ?", (*fields.values(), request_id))

    def open_requests(self, *, due_only: bool = True) -> list[dict[str, Any]]:
        """Requests not finished yet, oldest first (optionally only those not waiting to retry)."""
        sql = "SELECT * FROM requests WHERE state IN ('accepted', 'rendering', 'rendered', 'refusing')"
        args: tuple[Any, ...] = ()
        if due_only:
            sql += " AND (retry_at IS NULL OR retry_at <= ?)"
            args = (now(),)
        return [dict(r) for r in self._query(sql + " ORDER BY id", args)]

    def requests_today(self, account_id: str, refusal: str | None = None) -> int:
        """Requests the account made since 00:00 UTC that count towards its daily limit, or
        (with `refusal`) how often it was told that today (e.g. 'limit')."""
        midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        if refusal is None:
            cond = "state != 'ignored' AND COALESCE(refusal, '') NOT IN ('limit', 'queue_full')"
            args: tuple[Any, ...] = ()
        else:
            cond = "state != 'ignored' AND refusal = ?"
            args = (refusal,)
        rows = self._query(
            f"SELECT COUNT(*) AS n FROM requests WHERE account_id = ? AND created_at >= ? AND {cond}",
            (account_id, midnight.isoformat(timespec="seconds"), *args),
        )
        return int(rows[0]["n"])

    def queue_length(self) -> int:
        rows = self._query("SELECT COUNT(*) AS n FROM requests WHERE state IN ('accepted', 'rendering', 'rendered')")
        return int(rows[0]["n"])

    def thread_of_reply(self, reply_id: str) -> str | None:
        """The thread key of the request the bot answered with status `reply_id`."""
        rows = self._query("SELECT thread_key FROM requests WHERE reply_id = ?", (reply_id,))
        return rows[0]["thread_key"] if rows else None

    def thread_replies(self, thread_key: str) -> int:
        rows = self._query(
            "SELECT COUNT(*) AS n FROM requests WHERE thread_key = ? AND state NOT IN ('ignored')",
            (thread_key,),
        )
        return int(rows[0]["n"])

    def request_counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self._query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")}

    # --- small state shared with `status` (e.g. the running scheduler's next run) ----------
    def set_meta(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (key, json.dumps(value)))

    def get_meta(self, key: str) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else None


def _set_cursor(db: sqlite3.Connection, name: str, min_id: str) -> None:
    db.execute(
        "INSERT INTO cursors (name, min_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET min_id = excluded.min_id, updated_at = excluded.updated_at",
        (name, min_id, now()),
    )


def _post(r: sqlite3.Row) -> PostRow:
    return PostRow(
        id=r["id"], dream_id=r["dream_id"], publisher=r["publisher"], state=r["state"], attempts=r["attempts"],
        remote_id=r["remote_id"], url=r["url"], error=r["error"],
        transient=None if r["transient"] is None else bool(r["transient"]), retry_at=r["retry_at"],
        updated_at=r["updated_at"],
    )


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; split on ';' instead (no ';' inside strings here).
    out = []
    for chunk in script.split(";"):
        lines = [ln.split("--", 1)[0] for ln in chunk.splitlines()]
        stmt = "\n".join(lines).strip()
        if stmt:
            out.append(stmt)
    return out
