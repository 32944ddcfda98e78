"""Dreams, their posts per publisher, and cycles.

A post moves pending -> intended -> confirmed | failed. "intended" is written (and committed)
before the publisher is called and "confirmed" after it answers, so after a crash an
"intended" row means "maybe posted": the pipeline asks the publisher (`find_existing`) before
trying again.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from .base import Base, StoreError, now


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


class PostsMixin(Base):
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


def _post(r: sqlite3.Row) -> PostRow:
    return PostRow(
        id=r["id"], dream_id=r["dream_id"], publisher=r["publisher"], state=r["state"], attempts=r["attempts"],
        remote_id=r["remote_id"], url=r["url"], error=r["error"],
        transient=None if r["transient"] is None else bool(r["transient"]), retry_at=r["retry_at"],
        updated_at=r["updated_at"],
    )
