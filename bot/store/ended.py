"""What ended without being posted (a photo that cannot be dreamt, a post a platform refused,
a request given up), each with its reason, for `status` and the admin's direct message; and
the platforms' rate limits, shared by every process on this database."""
from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from .base import Base, now


def record_ended(db: sqlite3.Connection, kind: str, what: str, reason: str) -> None:
    """Called inside the transaction that ends the item, so the two cannot come apart."""
    db.execute("INSERT INTO ended (kind, what, reason, created_at) VALUES (?, ?, ?, ?)",
               (kind, what, reason[:1000], now()))


def photo_name(credit_json: str | None, url: str | None, source: str) -> str:
    try:
        title = json.loads(credit_json or "{}").get("title")
    except ValueError:
        title = None
    return f"photo “{title or url or '?'}” from {source}"


class EndedMixin(Base):
    def ended_items(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest items that ended without being posted, newest first."""
        rows = self._query("SELECT * FROM ended ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def ended_count(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM ended")[0]["n"])

    def unnotified_ended(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM ended WHERE notified_at IS NULL ORDER BY id")]

    def mark_ended_notified(self, ids: list[int]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE ended SET notified_at = ? WHERE id = ?", [(now(), i) for i in ids])

    # --- rate limits (publishers.base.LimitStore) ------------------------------------------
    def rate_limit(self, key: str) -> tuple[float, str] | None:
        """(until, why) while `key` is blocked, as time.time() seconds; None when free."""
        value = self.get_meta("limit:" + key)
        if not value or value[0] <= time.time():
            return None
        return float(value[0]), str(value[1])

    def set_rate_limit(self, key: str, until: float | None, why: str = "") -> None:
        """Block `key` until `until`; None frees it."""
        if until is None:
            with self._tx() as db:
                db.execute("DELETE FROM meta WHERE key = ?", ("limit:" + key,))
        else:
            self.set_meta("limit:" + key, [until, why])
