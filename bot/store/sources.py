"""Photos the bot has seen: taken, dreamt, failed, duplicate or interrupted, so none is
dreamt twice and none is lost.

A crash is not a failure: a photo left `taken` by a process that died is `interrupted` (tried
again, `crashes` + 1, `attempts` untouched). Only when the same photo dies the process
`crash_limit` times in a row is it set aside, with that reason. A dreamt photo is `filed`
once its source has moved it out of the way (folder -> done/); a crash in between leaves it
unfiled, and the source files it as done instead of taking it for a duplicate.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .base import Base, now
from .ended import photo_name, record_ended

PERMANENT = 1_000_000  # attempts recorded for a source that can never work
MAX_FAILURES = 3  # dreams of one photo that may fail with an error before it is given up


class SourceStatus(StrEnum):
    """Where a photo is (the `sources.status` column's text, as the schema's CHECK lists it;
    the SQL here names them as written)."""

    TAKEN = "taken"  # being dreamt
    DREAMT = "dreamt"
    FAILED = "failed"  # tried again until it failed MAX_FAILURES times
    DUPLICATE = "duplicate"  # seen before (by content, or by URL)
    INTERRUPTED = "interrupted"  # its process died mid-dream: dreamt again


class Filing(StrEnum):
    """Where a consuming folder source files a photo: the subfolder's name."""

    DONE = "done"  # dreamt
    FAILED = "failed"  # given up, its reason beside it


@dataclass(frozen=True)
class Block:
    """Why a source item is not to be dreamt: `folder` is where a consuming folder source
    files it (FAILED with `why` beside it, or DONE: dreamt, the bot died before filing)."""

    folder: Filing
    why: str
    duplicate: bool = False
    source_id: int | None = None


@dataclass(frozen=True)
class Released:
    resumed: int          # interrupted photos that will be dreamt again
    given_up: list[str]   # crash loops: what and why, for the log


class SourcesMixin(Base):
    def source_block(self, *, url: str | None = None, sha256: str | None = None,
                     max_failures: int = MAX_FAILURES) -> Block | None:
        """Why this URL or content must not be dreamt now, or None."""
        for col, val in (("url", url), ("sha256", sha256)):
            if val is None:
                continue
            for r in self._query(f"SELECT * FROM sources WHERE {col} = ? ORDER BY id", (val,)):
                status = SourceStatus(r["status"])  # the schema's CHECK allows no other
                if status is SourceStatus.DREAMT and not r["filed"] and col == "sha256":
                    return Block(Filing.DONE, "dreamt already; the bot stopped before filing it", source_id=r["id"])
                seen = status in (SourceStatus.TAKEN, SourceStatus.DREAMT)
                if seen or (status is SourceStatus.DUPLICATE and col == "url"):
                    return Block(Filing.FAILED, "the same picture was dreamt before", duplicate=True)
                if status is SourceStatus.FAILED and r["attempts"] >= max_failures:
                    return Block(Filing.FAILED, r["error"] or f"failed {r['attempts']} times", source_id=r["id"])
        return None

    def source_blocked(self, *, url: str | None = None, sha256: str | None = None,
                       max_failures: int = MAX_FAILURES) -> bool:
        """True when this URL or content was dreamt, is being dreamt, was a duplicate, or
        failed too often to try again."""
        return self.source_block(url=url, sha256=sha256, max_failures=max_failures) is not None

    def skipped_source(self, block: Block, source: str, url: str | None, sha256: str | None) -> None:
        """A source skipped an item for `block`: remember a duplicate, or that an unfiled
        dream is filed now."""
        if block.duplicate:
            self.note_source(source, url, sha256, status=SourceStatus.DUPLICATE)
        elif block.folder is Filing.DONE and block.source_id is not None:
            self.settle_source(block.source_id)

    def take_source(self, source: str, url: str | None, sha256: str | None, credit: dict[str, Any]) -> int:
        """Record that a source item is being dreamt; reuses a failed or interrupted row so
        attempts and crashes add up."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM sources WHERE status IN ('failed', 'interrupted') AND (url = ? OR sha256 = ?) "
                "ORDER BY id LIMIT 1",
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
        """After the dream: dreamt, or failed with an error (a real failure: it counts). A
        photo that will not be tried again (its folder moves it to failed/, or it failed
        MAX_FAILURES times) is listed as ended."""
        with self._tx() as db:
            if ok:
                db.execute("UPDATE sources SET status='dreamt', error=NULL, crashes=0, updated_at=? WHERE id=?",
                           (now(), source_id))
                return
            db.execute("UPDATE sources SET status='failed', attempts=attempts+1, crashes=0, error=?, updated_at=? "
                       "WHERE id=?", (error, now(), source_id))
            r = db.execute("SELECT * FROM sources WHERE id=?", (source_id,)).fetchone()
            if r["url"] is None or r["attempts"] >= MAX_FAILURES:
                record_ended(db, "photo", photo_name(r["credit_json"], r["url"], r["source"]),
                             f"could not be dreamt: {error}")

    def settle_source(self, source_id: int) -> None:
        """The source has filed the dreamt photo (e.g. moved it to done/)."""
        with self._tx() as db:
            db.execute("UPDATE sources SET filed=1, updated_at=? WHERE id=?", (now(), source_id))

    def note_source(
        self, source: str, url: str | None, sha256: str | None, *, status: SourceStatus, error: str | None = None,
        permanent: bool = False, ended: bool = True,
    ) -> None:
        """Record a duplicate or a failed fetch without taking it, so it is skipped next time
        (a failure only after `max_failures` of them, unless `permanent`). `ended=False`: a
        photo set aside on purpose (marked adult), not listed among what ended unposted."""
        status = SourceStatus(status)  # the text too, as before it was typed
        if status not in (SourceStatus.DUPLICATE, SourceStatus.FAILED):
            raise ValueError(f"a source is noted as a duplicate or a failure, not as {status!r}")
        failed = status is SourceStatus.FAILED
        bump = PERMANENT if permanent else 1
        with self._tx() as db:
            row = None
            if failed and url:
                row = db.execute("SELECT id, attempts FROM sources WHERE url=? AND status='failed'", (url,)).fetchone()
            before = row["attempts"] if row else 0
            if row:
                db.execute("UPDATE sources SET attempts=attempts+?, error=?, updated_at=? WHERE id=?",
                           (bump, error, now(), row["id"]))
            else:
                db.execute(
                    "INSERT INTO sources (source, url, sha256, status, attempts, error, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (source, url, sha256, status, bump if failed else 0, error, now(), now()),
                )
            if failed and ended and before < MAX_FAILURES <= before + bump:
                record_ended(db, "photo", photo_name(None, url, source), f"cannot be used: {error}")

    def release_orphan_sources(self, crash_limit: int) -> Released:
        """Sources left 'taken' by a process that died before their dream was saved. Call it
        only where no dream can be in progress (the pipeline holds the cycle lock)."""
        given_up = []
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM sources WHERE status='taken' "
                "AND id NOT IN (SELECT source_id FROM dreams WHERE source_id IS NOT NULL)"
            ).fetchall()
            for r in rows:
                crashes = r["crashes"] + 1
                if crashes < crash_limit:
                    db.execute("UPDATE sources SET status='interrupted', crashes=?, updated_at=? WHERE id=?",
                               (crashes, now(), r["id"]))
                    continue
                why = f"killed during the dream {crashes} times in a row: too big for this machine?"
                db.execute("UPDATE sources SET status='failed', crashes=?, attempts=?, error=?, updated_at=? "
                           "WHERE id=?", (crashes, PERMANENT, why, now(), r["id"]))
                what = photo_name(r["credit_json"], r["url"], r["source"])
                record_ended(db, "photo", what, why)
                given_up.append(f"{what}: {why}")
                # a dive of it that keeps killing the bot is not resumed either (its keyframes
                # are cleared away as strays by the pipeline)
                db.execute("DELETE FROM dives WHERE sha256 = ? AND state = 'making'", (r["sha256"],))
        return Released(len(rows) - len(given_up), given_up)

    def source_counts(self) -> dict[SourceStatus, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM sources GROUP BY status")
        return {SourceStatus(r["status"]): r["n"] for r in rows}
