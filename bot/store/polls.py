"""Polls for the next mutant: one row a poll, moving drawn -> open -> closed -> used (or ended).

- drawn: its options are fixed (classes, weights, seed each) and its key too, before anything
  is sent. `attempts` is raised (and committed) before each try at posting it, so a later try
  knows an earlier one may have reached the server and looks for it first.
- open: the status is on the server; `closes_at` is when the server ends the poll.
- closed: the tallies were read once, and the winner chosen by the rule (bot/polls/rule.py);
  nothing read later changes it.
- used: the winner was dreamt; `dream_id` is that dream, recorded in the same transaction
  as the dream itself (`PostsMixin.add_dream`, its `NewDream.poll_id`), so it is dreamt exactly once.
- ended: no winner (the poll was deleted before it closed, or the server refused it).
A unique index allows one poll in drawn, open or closed at a time: never two polls running.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence

from .base import Base, StoreError, now


class PollState(str, Enum):
    DRAWN = "drawn"
    OPEN = "open"
    CLOSED = "closed"
    USED = "used"
    ENDED = "ended"


RUNNING = (PollState.DRAWN, PollState.OPEN, PollState.CLOSED)


@dataclass(frozen=True)
class PollOption:
    """One class combination offered: the picker's draw, dreamt as it is if it wins."""

    classes: tuple[tuple[int, str, float], ...]  # (id, name, weight), ids ascending
    seed: int

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.classes]

    @property
    def key(self) -> str:  # the picker's combo key (the set of classes)
        return "+".join(str(i) for i, _, _ in self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {"classes": [list(c) for c in self.classes], "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PollOption":
        return cls(tuple((int(i), str(n), float(w)) for i, n, w in d["classes"]), int(d["seed"]))


@dataclass(frozen=True)
class PollRow:
    id: int
    poll_key: str
    state: PollState
    options: tuple[PollOption, ...]
    seconds: int
    attempts: int
    failures: int
    retry_at: str | None
    status_id: str | None
    url: str | None
    remote_id: str | None  # the poll's own id on the server (not the status')
    closes_at: str | None
    votes: tuple[int, ...] | None
    winner: int | None
    how: str | None
    dream_id: int | None
    error: str | None


class PollsMixin(Base):
    def draw_poll(self, poll_key: str, options: Sequence[PollOption], seconds: int) -> PollRow:
        """Record a new poll's options before it is posted. StoreError while another runs."""
        try:
            with self._tx() as db:
                cur = db.execute(
                    "INSERT INTO polls (poll_key, state, options_json, seconds, created_at, updated_at) "
                    "VALUES (?, 'drawn', ?, ?, ?, ?)",
                    (poll_key, json.dumps([o.to_dict() for o in options]), int(seconds), now(), now()))
                poll_id = int(cur.lastrowid)
        except sqlite3.IntegrityError as exc:
            if "polls_one_running" not in str(exc):
                raise
            raise StoreError("a poll is already running; it must close and be dreamt first") from None
        return self.poll(poll_id)

    def poll(self, poll_id: int) -> PollRow:
        rows = self._query("SELECT * FROM polls WHERE id = ?", (poll_id,))
        if not rows:
            raise StoreError(f"no poll {poll_id}")
        return _poll(rows[0])

    def running_poll(self) -> PollRow | None:
        """The poll drawn, open or closed (its winner not dreamt yet), if any."""
        marks = ",".join("?" * len(RUNNING))
        rows = self._query(f"SELECT * FROM polls WHERE state IN ({marks})", [s.value for s in RUNNING])
        return _poll(rows[0]) if rows else None

    def latest_polls(self, limit: int = 3) -> list[PollRow]:
        return [_poll(r) for r in self._query("SELECT * FROM polls ORDER BY id DESC LIMIT ?", (limit,))]

    def poll_attempt(self, poll_id: int) -> None:
        """Before each try at posting: a later try knows this one may have reached the server."""
        self._poll_update(poll_id, PollState.DRAWN, "attempts = attempts + 1")

    def poll_failed(self, poll_id: int, error: str, retry_at: str) -> None:
        self._poll_update(poll_id, PollState.DRAWN, "failures = failures + 1, error = ?, retry_at = ?",
                          (error[:2000], retry_at))

    def poll_opened(self, poll_id: int, *, status_id: str, url: str | None, remote_id: str, closes_at: str) -> None:
        self._poll_update(poll_id, PollState.DRAWN, "state = 'open', status_id = ?, url = ?, remote_id = ?, "
                          "closes_at = ?, failures = 0, error = NULL, retry_at = NULL",
                          (status_id, url, remote_id, closes_at))

    def poll_closed(self, poll_id: int, votes: Sequence[int], winner: int, how: str) -> None:
        self._poll_update(poll_id, PollState.OPEN, "state = 'closed', votes_json = ?, winner = ?, how = ?",
                          (json.dumps(list(votes)), winner, how))

    def poll_ended(self, poll_id: int, why: str) -> None:
        """No winner: the poll is gone or was refused; the next poll can be drawn."""
        with self._tx() as db:
            db.execute("UPDATE polls SET state = 'ended', error = ?, updated_at = ? WHERE id = ? "
                       "AND state IN ('drawn', 'open')", (why[:2000], now(), poll_id))

    def _poll_update(self, poll_id: int, state: PollState, sets: str, args: Sequence[Any] = ()) -> None:
        with self._tx() as db:
            cur = db.execute(f"UPDATE polls SET {sets}, updated_at = ? WHERE id = ? AND state = ?",
                             (*args, now(), poll_id, state.value))
            if cur.rowcount != 1:
                raise StoreError(f"poll {poll_id} is not {state.value}")


def _poll(r: Any) -> PollRow:
    return PollRow(
        id=r["id"], poll_key=r["poll_key"], state=PollState(r["state"]),
        options=tuple(PollOption.from_dict(o) for o in json.loads(r["options_json"])), seconds=r["seconds"],
        attempts=r["attempts"], failures=r["failures"], retry_at=r["retry_at"], status_id=r["status_id"],
        url=r["url"], remote_id=r["remote_id"], closes_at=r["closes_at"],
        votes=tuple(json.loads(r["votes_json"])) if r["votes_json"] else None, winner=r["winner"], how=r["how"],
        dream_id=r["dream_id"], error=r["error"],
    )
