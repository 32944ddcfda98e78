"""The poll for the next mutant, step by step, each step recorded before the next (bot/store/polls.py).

The pipeline calls `step` under its cycle locks: before a cycle's dream (to close a poll whose
time is up: its winner is this dream), after it (to draw and post the next poll once the last
was dreamt), and from the retry job between cycles (to post a poll that failed, and close one
on time). `winner` and `chosen` read the store only, so a dream never waits on the server.

Exactly once, whatever kills the bot:
- a poll is drawn and recorded before it is sent; each try at sending it is counted first,
  and a try after one that may have reached the server looks for the poll's reference line
  among the bot's statuses before posting (within the hour the idempotency key also covers);
- the tallies are read once, after the poll closed, and the winner recorded; a kill before
  that reads them again, a kill after it keeps the recorded winner;
- the winner's dream marks the poll used in the transaction that records the dream, so it
  is dreamt once and then posted by the ordinary post machinery (bot/posting.py).
"""
from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from bot import failpoints, logs
from bot.picker import Combo, Picker, PickError
from bot.publishers.base import PollBoard, PollDraft, PostedPoll, PublishError
from bot.publishers.media import split_trailing_hashtags
from bot.retry import Backoff
from bot.store import PollOption, PollRow, PollState, StoreError
from bot.store.base import now_ms

from .rule import Outcome, decide, option_title, poll_text, result_line

if TYPE_CHECKING:
    from bot.config.polls import PollsSection
    from bot.store import Store

log = logging.getLogger("bot.polls")


@dataclass(frozen=True)
class Chosen:
    """The poll a dream answers: its winner, and the line the dream's post says about it."""

    poll_id: int
    combo: Combo
    line: str

    def captioned(self, caption: str) -> str:
        """The caption with the poll's result before its hashtag line (Mastodon's tag bar)."""
        body, tags = split_trailing_hashtags(caption)
        return "\n\n".join(filter(None, [body, self.line, " ".join(tags)]))


class PollRunner:
    def __init__(self, section: "PollsSection", store: "Store", board: PollBoard, picker: Picker, *,
                 backoff: Backoff, tags: tuple[str, ...] = (), rng: random.Random | None = None):
        self.section = section
        self.store = store
        self.board = board
        self.picker = picker
        self.backoff = backoff
        self.tags = tags
        self.rng = rng or random.Random()

    # --- what the dream asks (the store only) ------------------------------------------------
    def winner(self) -> Combo | None:
        """The closed poll's winning combination, waiting to be dreamt; else None."""
        row = self._closed()
        return None if row is None else _combo(row.options[row.winner])

    def chosen(self, combo: Combo) -> Chosen | None:
        """The closed poll whose winner `combo` is (a dive resumed for another photo is not)."""
        row = self._closed()
        if row is None or row.votes is None:
            return None
        won = _combo(row.options[row.winner])
        if (won.key, won.seed) != (combo.key, combo.seed):
            return None
        outcome = Outcome(row.winner, row.how or "votes", row.votes)
        return Chosen(row.id, combo, result_line(outcome, [o.names for o in row.options], row.url))

    def _closed(self) -> PollRow | None:
        row = self.store.running_poll()
        return row if row is not None and row.state is PollState.CLOSED and row.winner is not None else None

    # --- the steps ------------------------------------------------------------------------
    def step(self, *, draw: bool) -> list[str]:
        """Post the running poll if it is not yet on the server, close it once its time is up,
        and with `draw`, draw (and post) the next when none runs. Problems are logged and
        returned, one line each; nothing is raised, so a poll never stops a cycle."""
        try:
            row = self.store.running_poll()
            if row is None and draw:
                row = self._draw()
            if row is not None and row.state is PollState.DRAWN:
                row = self._post(row)
            if row is not None and row.state is PollState.OPEN and _due(row.closes_at):
                self._close(row)
        except Exception as exc:  # the dream and the posts go on whatever happens here
            expected = isinstance(exc, (PublishError, PickError, StoreError))
            why = logs.redact(str(exc) if expected else f"{type(exc).__name__}: {exc}")
            log.error("poll: %s", why, exc_info=not expected)
            return [f"poll: {why}"]
        return []

    def _draw(self) -> PollRow:
        recent = self.store.recent_combos(self.picker.cfg.no_repeat)
        options: list[PollOption] = []
        try:
            while len(options) < self.section.options:
                combo = self.picker.pick(recent + [o.key for o in options], self.rng)
                names = combo.names(self.picker.labels)
                options.append(PollOption(tuple(zip(combo.class_ids, names, combo.weights)), combo.seed))
        except PickError as exc:
            raise PickError(f"cannot draw {self.section.options} different combinations for the poll: {exc} "
                            "(or lower polls.options)") from None
        row = self.store.draw_poll(uuid.uuid4().hex, options, self.section.seconds)
        log.info("poll %d drawn: %s", row.id, "; ".join(" × ".join(o.names) for o in options))
        failpoints.hit("poll")  # tests: die with the poll drawn, nothing sent
        return row

    def _post(self, row: PollRow) -> PollRow:
        wait = self.board.rate_wait(media=False)
        if wait > 0 or (row.retry_at and now_ms() < row.retry_at):
            log.info("poll %d waits (rate limit or backoff) before it is posted", row.id)
            return row
        if row.attempts > 0:  # an earlier try may have reached the server before the bot died
            found = self.board.find_poll(row.poll_key)
            if found is not None:
                log.info("poll %d was already posted (%s)", row.id, found.url or found.remote_id)
                return self._opened(row, found)
        draft = self._draft(row)
        self.store.poll_attempt(row.id)
        try:
            posted = self.board.post_poll(draft)
        except PublishError as exc:
            if exc.transient:
                self.store.poll_failed(row.id, str(exc), self.backoff.at(row.failures + 1, exc.retry_after))
            else:
                self.store.poll_ended(row.id, str(exc))
            raise
        failpoints.hit("polled")  # tests: die with the poll on the server, not recorded
        log.info("poll %d posted: %s; closes at %s", row.id, posted.url or posted.remote_id, posted.closes_at)
        return self._opened(row, posted)

    def _draft(self, row: PollRow) -> PollDraft:
        limits = self.board.poll_limits()
        if limits.max_options < 2:
            raise PublishError("the server allows no polls of two options or more; set [polls] enabled = false",
                               transient=False)
        options = row.options[: limits.max_options]
        seconds = min(max(row.seconds, limits.min_seconds), limits.max_seconds)
        titles = tuple(option_title(i, o.names, limits.max_characters_per_option) for i, o in enumerate(options))
        return PollDraft(row.poll_key, poll_text([o.names for o in options], seconds), titles, seconds, self.tags)

    def _opened(self, row: PollRow, posted: PostedPoll) -> PollRow:
        self.store.poll_opened(row.id, status_id=posted.remote_id, url=posted.url, remote_id=posted.poll_id,
                               closes_at=posted.closes_at)
        return self.store.poll(row.id)

    def _close(self, row: PollRow) -> None:
        votes = self.board.read_votes(row.remote_id or "")
        if votes is None:
            self.store.poll_ended(row.id, "the poll was deleted before it closed")
            log.warning("poll %d was deleted before it closed: no winner; the picker chooses the next dream",
                        row.id)
            return
        if not votes or len(votes) > len(row.options):
            raise PublishError(f"the server's poll {row.remote_id} has {len(votes)} options where the bot posted "
                               f"{len(row.options)}; will read it again", transient=True)
        outcome = decide(votes, row.poll_key)
        self.store.poll_closed(row.id, outcome.votes, outcome.winner, outcome.how)
        log.info("poll %d closed with votes %s: %s wins (%s)", row.id, list(outcome.votes),
                 " × ".join(row.options[outcome.winner].names), outcome.how)
        failpoints.hit("closed")  # tests: die with the winner recorded, not dreamt


def _combo(option: PollOption) -> Combo:
    return Combo(tuple(i for i, _, _ in option.classes), tuple(w for _, _, w in option.classes), option.seed)


# The tallies are read once, when the server's closing time has passed by this machine's clock:
# this long after it, so that a server whose clock runs a little behind has closed the poll too
# (read while still open, a winner could differ from the final count).
CLOSING_GRACE = timedelta(minutes=2)


def _due(closes_at: str | None) -> bool:
    return closes_at is not None and datetime.fromisoformat(closes_at) + CLOSING_GRACE <= datetime.now(timezone.utc)
