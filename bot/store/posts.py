"""Dreams, their posts per publisher, and cycles.

A post moves pending -> intended -> confirmed | failed. "intended" is written (and committed)
before the publisher is called and "confirmed" after it answers, so after a crash an
"intended" row means "maybe posted": the pipeline asks the publisher (`find_existing`) before
trying again. Such a row, found by the next cycle, is a crash (`crashes` + 1), not a failure;
`failures` counts attempts in a row that ended with an error (the backoff grows with it). Only
a permanent error, or the same post killing the process `crash_limit` times in a row, ends a
post, and then it is listed in `ended`.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable, Sequence

from .base import Base, StoreError, now, now_ms, today_start
from .ended import record_ended


class PostState(StrEnum):
    """Where a post is (the module's docstring says how it moves). The values are what the
    `posts.state` column holds; the SQL here names them as written."""

    PENDING = "pending"
    INTENDED = "intended"  # the publisher was called: maybe posted
    CONFIRMED = "confirmed"
    FAILED = "failed"  # transient: retried after its backoff; permanent: ended


class CycleOutcome(StrEnum):
    """What a cycle came to. The values are what the `cycles.outcome` column holds (as
    `PostState`'s, the SQL here names them as written); a skipped cycle has no row."""

    POSTED = "posted"  # a new dream, or an earlier one, went out somewhere
    WAITING = "waiting"  # its posts wait for the platforms' rate limits
    IDLE = "idle"
    FAILED = "failed"
    SKIPPED = "skipped"  # another cycle held the lock
    INTERRUPTED = "interrupted"  # its process died; the next cycle says so


@dataclass(frozen=True)
class NewDream:
    """A finished dream as `add_dream` saves it, with one post to make per publisher."""

    post_key: str
    source_id: int | None  # None: not from a source (a request also published)
    recipe: dict[str, object]  # as it ran (Recipe.to_dict()); {} when there is none
    seed: int | None
    classes: Sequence[tuple[int | None, str, float]]  # (class id, name, weight)
    combo_key: str
    file_path: Path  # the picture, or a dive's poster frame
    caption: str
    alt_text: str
    tags: Sequence[str]
    source_url: str | None
    title: str | None
    publishers: Sequence[str]
    video_path: Path | None = None  # a dive's video
    source_photo: Path | None = None  # the photo, kept for remixes
    poll_id: int | None = None  # the poll it won, used up with it


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
    video_path: Path | None = None  # a dive's video (file_path is then its poster frame)
    source_photo: Path | None = None  # the photo it was dreamt from, while kept for remixes


@dataclass(frozen=True)
class PostRow:
    id: int
    dream_id: int
    publisher: str
    state: PostState
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    transient: bool | None
    retry_at: str | None
    updated_at: str
    crashes: int = 0
    failures: int = 0


class PostsMixin(Base):
    # --- dreams and posts ----------------------------------------------------------------
    @staticmethod
    def new_post_key() -> str:
        # Random, not the row id: an idempotency key must not collide with one from a
        # previous database (Mastodon remembers keys for an hour).
        return uuid.uuid4().hex

    def add_dream(self, new: NewDream) -> int:
        """Save a finished dream and one pending post per publisher, in one transaction,
        marking its source dreamt (and its dive made, for a dive; and the poll it won used)."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO dreams (post_key, source_id, recipe_json, seed, classes_json, combo_key, file_path, "
                "caption, alt_text, tags_json, source_url, title, created_at, video_path, source_photo) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (new.post_key, new.source_id, json.dumps(new.recipe, sort_keys=True), new.seed,
                 json.dumps([list(c) for c in new.classes]), new.combo_key, str(new.file_path), new.caption,
                 new.alt_text, json.dumps(list(new.tags)), new.source_url, new.title, now(),
                 None if new.video_path is None else str(new.video_path),
                 None if new.source_photo is None else str(new.source_photo)),
            )
            dream_id = int(cur.lastrowid)
            db.execute("UPDATE dives SET state='made', updated_at=? WHERE post_key=?", (now(), new.post_key))
            if new.poll_id is not None and db.execute(
                    "UPDATE polls SET state='used', dream_id=?, updated_at=? WHERE id=? AND state='closed'",
                    (dream_id, now(), new.poll_id)).rowcount != 1:
                raise StoreError(f"poll {new.poll_id} is not closed: its winner cannot be dreamt")
            for name in new.publishers:
                db.execute(
                    "INSERT INTO posts (dream_id, publisher, state, updated_at) VALUES (?, ?, 'pending', ?)",
                    (dream_id, name, now()),
                )
            if new.source_id is not None:  # filed once the source has moved the photo (settle_source)
                db.execute("UPDATE sources SET status='dreamt', error=NULL, crashes=0, filed=0, updated_at=? "
                           "WHERE id=?", (now(), new.source_id))
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
            video_path=Path(r["video_path"]) if r["video_path"] else None,
            source_photo=Path(r["source_photo"]) if r["source_photo"] else None,
        )

    def dream_files(self) -> set[str]:
        return {r["file_path"] for r in self._query("SELECT file_path FROM dreams")}

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

    def unfinished_posts(self, publishers: Iterable[str]) -> list[PostRow]:
        """Posts due to be (re)tried on these publishers, oldest first: everything not
        confirmed and not ended by a permanent error, once its retry time has come."""
        names = list(publishers)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        rows = self._query(
            f"SELECT * FROM posts WHERE publisher IN ({marks}) AND state != 'confirmed' "
            f"AND NOT (state = 'failed' AND transient = 0) "
            f"AND (retry_at IS NULL OR retry_at <= ?) ORDER BY dream_id, id",
            (*names, now_ms()),
        )
        return [_post(r) for r in rows]

    def open_posts(self) -> dict[str, int]:
        """Posts not finished yet, by state (pending, intended, failed: waiting to retry)."""
        rows = self._query("SELECT state, COUNT(*) AS n FROM posts WHERE state != 'confirmed' "
                           "AND NOT (state = 'failed' AND transient = 0) GROUP BY state")
        return {PostState(r["state"]): r["n"] for r in rows}

    def mark_intended(self, post_id: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE posts SET state='intended', attempts=attempts+1, updated_at=? WHERE id=?", (now(), post_id)
            )

    def mark_confirmed(self, post_id: int, remote_id: str, url: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE posts SET state='confirmed', remote_id=?, url=?, error=NULL, retry_at=NULL, failures=0, "
                "crashes=0, updated_at=? WHERE id=?",
                (remote_id, url, now(), post_id),
            )

    def mark_failed(self, post_id: int, error: str, *, transient: bool, retry_at: str | None = None) -> None:
        """An attempt ended with an error. A permanent one ends the post (listed in `ended`)."""
        with self._tx() as db:
            db.execute(
                "UPDATE posts SET state='failed', error=?, transient=?, retry_at=?, failures=failures+1, crashes=0, "
                "updated_at=? WHERE id=?",
                (error, int(transient), retry_at, now(), post_id),
            )
            if not transient:
                record_ended(db, "post", _post_name(db, post_id), error)

    def defer_post(self, post_id: int, retry_at: str) -> None:
        """Not tried now (the platform's rate limit is used up): wait, without counting an attempt."""
        with self._tx() as db:
            db.execute("UPDATE posts SET retry_at=?, updated_at=? WHERE id=?", (retry_at, now(), post_id))

    def release_interrupted_posts(self, crash_limit: int) -> list[str]:
        """Posts left 'intended' by a process that died mid-publish: a crash, not a failure
        (they stay 'intended', so the next attempt looks for the post first). Returns what
        was given up as a crash loop. Call it only where no publish can be in progress."""
        given_up = []
        with self._tx() as db:
            for r in db.execute("SELECT id, publisher, crashes FROM posts WHERE state = 'intended'").fetchall():
                crashes = r["crashes"] + 1
                if crashes < crash_limit:
                    db.execute("UPDATE posts SET crashes=?, updated_at=? WHERE id=?", (crashes, now(), r["id"]))
                    continue
                why = f"killed while posting to {r['publisher']} {crashes} times in a row"
                db.execute("UPDATE posts SET state='failed', transient=0, crashes=?, error=?, updated_at=? "
                           "WHERE id=?", (crashes, why, now(), r["id"]))
                what = _post_name(db, r["id"])
                record_ended(db, "post", what, why)
                given_up.append(f"{what}: {why}")
        return given_up

    def confirmed_today(self, publisher: str) -> int:
        """Posts confirmed on a publisher since 00:00 UTC (for daily platform limits, so a
        restart does not forget how many were made)."""
        rows = self._query(
            "SELECT COUNT(*) AS n FROM posts WHERE publisher = ? AND state = 'confirmed' AND updated_at >= ?",
            (publisher, today_start()),
        )
        return int(rows[0]["n"])

    def confirmed_videos_today(self, publisher: str) -> int:
        """Dives confirmed on a publisher since 00:00 UTC (platforms limit videos apart)."""
        rows = self._query(
            "SELECT COUNT(*) AS n FROM posts JOIN dreams ON dreams.id = posts.dream_id WHERE publisher = ? "
            "AND state = 'confirmed' AND dreams.video_path IS NOT NULL AND updated_at >= ?",
            (publisher, today_start()),
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
            "SELECT publisher, attempts, error, transient, retry_at, updated_at FROM posts WHERE state = 'failed' "
            "ORDER BY updated_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    # --- cycles --------------------------------------------------------------------------
    def start_cycle(self) -> int:
        with self._tx() as db:
            return int(db.execute("INSERT INTO cycles (started_at) VALUES (?)", (now(),)).lastrowid)

    def finish_cycle(self, cycle_id: int, outcome: CycleOutcome, error: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE cycles SET finished_at=?, outcome=?, error=? WHERE id=?", (now(), outcome, error, cycle_id)
            )

    def has_unfinished_cycle(self) -> bool:
        """Whether a cycle was started and never finished (its process died)."""
        return bool(self._query("SELECT 1 FROM cycles WHERE finished_at IS NULL LIMIT 1"))

    def release_interrupted_cycles(self) -> int:
        """Cycles a dead process left unfinished (outcome 'interrupted'); returns how many.
        Call it only where no cycle can be running (the pipeline holds the cycle lock)."""
        with self._tx() as db:
            return db.execute("UPDATE cycles SET finished_at=?, outcome='interrupted' WHERE finished_at IS NULL",
                              (now(),)).rowcount

    def consecutive_failures(self) -> tuple[int, bool]:
        """(failed cycles since the last good one, whether the admin was told in this streak);
        an interrupted cycle neither adds to a streak nor ends it."""
        rows = self._query(
            "SELECT outcome, admin_notified FROM cycles WHERE outcome IS NOT NULL ORDER BY id DESC LIMIT 1000"
        )
        count, notified = 0, False
        for r in rows:
            if r["outcome"] == CycleOutcome.INTERRUPTED:
                continue
            if r["outcome"] != CycleOutcome.FAILED:
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


def _post(r: sqlite3.Row) -> PostRow:
    return PostRow(
        id=r["id"], dream_id=r["dream_id"], publisher=r["publisher"], state=PostState(r["state"]),
        attempts=r["attempts"], remote_id=r["remote_id"], url=r["url"], error=r["error"],
        transient=None if r["transient"] is None else bool(r["transient"]), retry_at=r["retry_at"],
        updated_at=r["updated_at"], crashes=r["crashes"], failures=r["failures"],
    )


def _post_name(db: sqlite3.Connection, post_id: int) -> str:
    r = db.execute("SELECT p.dream_id, p.publisher, d.title FROM posts p JOIN dreams d ON d.id = p.dream_id "
                   "WHERE p.id = ?", (post_id,)).fetchone()
    title = f" (“{r['title']}”)" if r["title"] else ""
    return f"dream {r['dream_id']}{title} on {r['publisher']}"
