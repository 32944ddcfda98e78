"""Dream requests (bot/requests) and the notifications cursor.

`busy` names the step in progress (a `Busy`); a worker starting up finds the rows a dead
process left busy and counts a crash there (`crashes`), not a failure. `refusal` holds a
`Refusal`, free words why a mention was ignored, or both (`refusal_column`).
"""
from __future__ import annotations

import dataclasses
import logging
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from .base import Base, StoreError, now, now_ms, today_start
from .ended import record_ended

log = logging.getLogger("bot.store")
E = TypeVar("E", bound=StrEnum)

class RequestState(StrEnum):
    """Where a request is (see bot/requests/worker.py for the moves between them)."""

    ACCEPTED = "accepted"
    RENDERING = "rendering"
    RENDERED = "rendered"
    REFUSING = "refusing"
    REPLIED = "replied"
    REFUSED = "refused"
    IGNORED = "ignored"


class RequestKind(StrEnum):
    """What a request asks for. The values are what the `requests.kind` column holds (as
    `RequestState`'s, the SQL here names them as written)."""

    DREAM = "dream"  # a picture
    DIVE = "dive"  # a short video of the photo ("@bot dive goldfish")


class Busy(StrEnum):
    """The step a request is in while a worker works on it (the `requests.busy` column's text,
    as written before it was typed); NULL between steps. Where a dead process left it decides
    what a crash loop ends in (bot/requests/worker.py)."""

    DREAM = "dream"  # dreaming: nothing was sent yet, an apology is safe
    REPLY = "reply"  # replying: the reply may have gone out, so none is sent again


class Refusal(StrEnum):
    """Why a request gets no dream (RequestError's and Refuse's kinds, the queue's and the
    worker's; each has its reply in bot/requests/replies.py). The values are the `refusal`
    column's text, as written before it was typed (see `refusal_column`)."""

    UNKNOWN = "unknown"
    AMBIGUOUS = "ambiguous"
    DENIED = "denied"
    TOO_MANY = "too_many"
    BAD_WEIGHT = "bad_weight"
    NO_CLASSES = "no_classes"
    NO_IMAGE = "no_image"
    BAD_IMAGE = "bad_image"
    TOO_BIG = "too_big"
    LIMIT = "limit"
    DIVE_LIMIT = "dive_limit"
    REMIX_LIMIT = "remix_limit"
    REMIX_GONE = "remix_gone"
    REMIX_HELP = "remix_help"
    REMIX_TWEAK = "remix_tweak"
    QUEUE_FULL = "queue_full"
    FAILED = "failed"
    CRASHED = "crashed"
    TOO_LATE = "too_late"


def _sql_text(value: str) -> str:
    """`value` as an SQL string literal (for fragments built once from enums, like COUNTS)."""
    return "'" + value.replace("'", "''") + "'"


OPEN = (RequestState.ACCEPTED, RequestState.RENDERING, RequestState.RENDERED, RequestState.REFUSING)
# Refusals for being over a limit or the queue being full: a request refused so is not itself
# counted towards a limit.
UNCOUNTED = (Refusal.LIMIT, Refusal.QUEUE_FULL, Refusal.DIVE_LIMIT, Refusal.REMIX_LIMIT)
# A request that counts towards a daily limit: answered or to be, and not refused for a limit.
COUNTS = (f"state != {_sql_text(RequestState.IGNORED)} AND COALESCE(refusal, '') NOT IN "
          f"({', '.join(_sql_text(k) for k in UNCOUNTED)})")


def refusal_column(kind: Refusal | None, why: str | None) -> str | None:
    """The `refusal` column's text for a request refused as `kind` and/or ignored for `why`
    (free words): the kind's value, the words, or both as "limit (already told today)", as
    the column held them before they were typed."""
    if kind is None:
        return why
    kind = Refusal(kind)  # a str that is no kind is a bug here, not something to store
    return kind.value if why is None else f"{kind.value} ({why})"


def read_refusal(text: str | None) -> tuple[Refusal | None, str | None]:
    """`refusal_column` read back: (kind, why). Text that starts with no kind (a reason a
    mention was ignored, or a kind a newer bot wrote) is all `why`."""
    if text is None:
        return None, None
    head, paren, rest = text.partition(" (")
    try:
        kind = Refusal(head)
    except ValueError:
        return None, text
    if not paren:
        return kind, None
    return (kind, rest[:-1]) if rest.endswith(")") else (None, text)


@dataclass(frozen=True)
class RequestRow:
    """One row of `requests` (the columns are described in schema.py)."""

    id: int
    status_id: str
    notification_id: str | None
    account_id: str
    acct: str
    visibility: str
    thread_key: str
    state: RequestState
    reply_key: str
    status_json: str
    classes_json: str | None
    refusal: Refusal | None  # the refusal it got (or would have got), with `why_ignored` one column
    reply_text: str | None
    dream_path: str | None
    reply_attempts: int
    reply_id: str | None
    reply_url: str | None
    ack_id: str | None
    failures: int
    error: str | None
    retry_at: str | None
    created_at: str
    updated_at: str
    busy: Busy | None
    crashes: int
    retries: int
    kind: RequestKind = RequestKind.DREAM
    remix_of: str | None = None  # a remix: the bot's status it replies to (bot/requests/remix.py)
    source_key: str | None = None  # a remix: post_key of the dream whose kept photo it dreams
    recipe_json: str | None = None  # a remix: the recipe it was dreamt with
    why_ignored: str | None = None  # free words: why it was ignored ("blocked account")

    @property
    def is_dive(self) -> bool:
        return self.kind is RequestKind.DIVE

    @classmethod
    def from_db(cls, r: sqlite3.Row) -> "RequestRow":
        refusal, why = read_refusal(r["refusal"])
        return cls(**{**dict(r), "state": RequestState(r["state"]), "kind": _kind(r), "busy": _busy(r),
                      "refusal": refusal, "why_ignored": why})


def _kind(r: sqlite3.Row) -> RequestKind:
    """A row's kind. One this bot does not know is dreamt as a picture, as it was before the
    kinds were typed."""
    return _known(RequestKind, r, "kind", RequestKind.DREAM, "has a kind this bot does not know (%r): "
                  "it is dreamt as a picture")


def _busy(r: sqlite3.Row) -> Busy | None:
    """Where a row's worker is. A step this bot does not know is taken for a reply in progress,
    the safe end of a crash loop: given up, never answered twice."""
    if r["busy"] is None:
        return None
    return _known(Busy, r, "busy", Busy.REPLY, "is busy with a step this bot does not know (%r): "
                  "taken for a reply in progress")


def _known(enum: type[E], r: sqlite3.Row, column: str, fallback: E, says: str) -> E:
    """`r[column]` as `enum`. A value this bot does not know (written by a newer bot, or by
    hand) is read as `fallback`, and the log says so: "request <status id> <says>", `says`
    showing the value with its %r."""
    try:
        return enum(r[column])
    except ValueError:
        log.warning("request %s " + says, r["status_id"], r[column])
        return fallback


_COLUMNS = {f.name for f in dataclasses.fields(RequestRow)}  # why_ignored: written with refusal


def _refusal_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with `refusal` and `why_ignored` as the one column they share: setting either
    sets both (the one not given to None)."""
    if "refusal" in fields or "why_ignored" in fields:
        fields["refusal"] = refusal_column(fields.pop("refusal", None), fields.pop("why_ignored", None))
    return fields


class RequestsMixin(Base):
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
        fields = _refusal_fields(fields)
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

    def request(self, request_id: int) -> RequestRow:
        rows = self._query("SELECT * FROM requests WHERE id = ?", (request_id,))
        if not rows:
            raise StoreError(f"no request {request_id}")
        return RequestRow.from_db(rows[0])

    def update_request(self, request_id: int, **fields: Any) -> RequestRow:
        """Set `fields` (columns of `requests`); returns the row as it now is."""
        if unknown := set(fields) - _COLUMNS:
            raise StoreError(f"requests has no column {', '.join(sorted(unknown))}")
        fields = _refusal_fields(fields)
        fields["updated_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE requests SET {sets} WHERE id = ?", (*fields.values(), request_id))
            return _row(db, request_id)

    def give_up_request(self, request_id: int, why: str) -> RequestRow:
        """End a request without an answer, listing it (with `why`) in `ended`; returns the row."""
        with self._tx() as db:
            db.execute("UPDATE requests SET state='ignored', error=?, busy=NULL, updated_at=? WHERE id=?",
                       (why, now(), request_id))
            r = _row(db, request_id)
            record_ended(db, "request", f"@{r.acct}'s request {r.status_id}", why)
        return r

    def release_interrupted_requests(self, crash_limit: int) -> list[RequestRow]:
        """Requests a dead process left busy: crashes + 1, not busy any more. Returns those
        that reached `crash_limit` (with `busy` still telling where they died). Call it only
        where no other worker can be busy with them (a worker's first tick)."""
        with self._tx() as db:
            rows = [RequestRow.from_db(r) for r in db.execute("SELECT * FROM requests WHERE busy IS NOT NULL")]
            rows = [dataclasses.replace(r, crashes=r.crashes + 1) for r in rows]
            for r in rows:
                db.execute("UPDATE requests SET busy=NULL, crashes=?, updated_at=? WHERE id=?",
                           (r.crashes, now(), r.id))
        return [r for r in rows if r.crashes >= crash_limit]

    def open_requests(self, *, due_only: bool = True) -> list[RequestRow]:
        """Requests not finished yet, oldest first (optionally only those not waiting to retry)."""
        sql = f"SELECT * FROM requests WHERE state IN ({','.join('?' * len(OPEN))})"
        args: tuple[Any, ...] = tuple(OPEN)
        if due_only:
            sql += " AND (retry_at IS NULL OR retry_at <= ?)"
            args += (now_ms(),)
        return [RequestRow.from_db(r) for r in self._query(sql + " ORDER BY id", args)]

    def dives_today(self, account_id: str) -> int:
        """Dive requests (remixes too) the account made since 00:00 UTC that count towards its
        dive limit."""
        rows = self._query(
            "SELECT COUNT(*) AS n FROM requests WHERE account_id = ? AND created_at >= ? AND kind = 'dive' "
            f"AND {COUNTS}", (account_id, today_start()),
        )
        return int(rows[0]["n"])

    def remixes_today(self, account_id: str) -> int:
        """Remixes the account asked for since 00:00 UTC that count towards its remix limit."""
        rows = self._query(
            "SELECT COUNT(*) AS n FROM requests WHERE account_id = ? AND created_at >= ? AND remix_of IS NOT NULL "
            f"AND {COUNTS}", (account_id, today_start()),
        )
        return int(rows[0]["n"])

    def requests_today(self, account_id: str, refusal: Refusal | None = None) -> int:
        """Requests with a photo (not remixes: they have a limit of their own) the account made
        since 00:00 UTC that count towards its daily limit, or (with `refusal`) how often it
        was told that today (e.g. 'limit')."""
        if refusal is None:
            cond = f"remix_of IS NULL AND {COUNTS}"
            args: tuple[Any, ...] = ()
        else:
            cond = "state != 'ignored' AND refusal = ?"
            args = (refusal_column(refusal, None),)
        rows = self._query(
            f"SELECT COUNT(*) AS n FROM requests WHERE account_id = ? AND created_at >= ? AND {cond}",
            (account_id, today_start(), *args),
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


def _row(db: sqlite3.Connection, request_id: int) -> RequestRow:
    r = db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
    if r is None:
        raise StoreError(f"no request {request_id}")
    return RequestRow.from_db(r)


def _set_cursor(db: sqlite3.Connection, name: str, min_id: str) -> None:
    db.execute(
        "INSERT INTO cursors (name, min_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET min_id = excluded.min_id, updated_at = excluded.updated_at",
        (name, min_id, now()),
    )
