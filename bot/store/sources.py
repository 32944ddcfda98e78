"""Photos the bot has seen: taken, dreamt, failed or duplicate, so none is dreamt twice."""
from __future__ import annotations

import json
from typing import Any

from .base import Base, now

PERMANENT = 1_000_000  # attempts recorded for a source that can never work


class SourcesMixin(Base):
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
