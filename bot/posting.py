"""Publishing one post row: the state machine the store records, and what counts as what.

- The platform's rate limit is used up (`rate_wait`, persisted by every process): the post
  waits for it; nothing is attempted and nothing is counted.
- An earlier attempt may have reached the platform (the bot died, or the answer was lost):
  `find_existing` looks before posting again.
- A transient error (5xx, 429, timeout): retried after an exponential backoff with a cap,
  for as long as it takes. A permanent error ends the post (listed in `ended`).
- An unexpected error (a bug): retried the same way, but `max_attempts` of them in a row end
  the post, so a bug cannot keep a post in limbo for ever.
A crash (the process dying mid-publish) is counted by the next cycle, not here (see
`Store.release_interrupted_posts`).
"""
from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING

from bot import logs
from bot.publishers.base import Post, Publisher, PublishError
from bot.retry import Backoff, stamp_in
from bot.store import PostState

if TYPE_CHECKING:
    from bot.store import PostRow, Store

log = logging.getLogger("bot.pipeline")


class Unstored(StrEnum):
    """What became of a post that its stored state does not say. Its values are none of
    `PostState`'s, so a `PostOutcome` says what it is by its value alone (a cycle's message shows it)."""

    WAITING = "waiting"  # for the platform's rate limit: nothing attempted, the state as it was
    ENDED = "ended"  # stored as failed, but for good: a permanent error, or too many unexpected ones


# What `publish_row` made of a post: its state after the attempt (FAILED: to be retried; as it
# was when its publisher is switched off), or what that state does not say.
PostOutcome = PostState | Unstored


def publish_row(store: "Store", pub: Publisher | None, row: "PostRow", backoff: Backoff,
                max_attempts: int) -> PostOutcome:
    if pub is None:
        return row.state  # publisher switched off since; the post waits for it
    wait = _rate_wait(pub)
    if wait > 0:
        at = stamp_in(wait)
        store.defer_post(row.id, at)
        log.info("%s: dream %d waits for the rate limit (until %s)", row.publisher, row.dream_id, at)
        return Unstored.WAITING
    dream = store.dream(row.dream_id)
    post = Post(
        post_id=dream.post_key, image_path=dream.file_path, caption=dream.caption, alt_text=dream.alt_text,
        tags=dream.tags, source_url=dream.source_url, title=dream.title, video_path=dream.video_path,
    )
    if row.attempts > 0:
        # An earlier attempt may have reached the platform before the bot died or the
        # answer was lost: look before posting again.
        try:
            found = pub.find_existing(post)
        except Exception as exc:
            return _error(store, row, exc, backoff, max_attempts, "cannot check whether the earlier attempt "
                                                                  "went through: ")
        if found is not None:
            store.mark_confirmed(row.id, found.remote_id, found.url)
            log.info("%s: dream %d was already posted (%s); confirmed", row.publisher, row.dream_id,
                     found.url or found.remote_id)
            return PostState.CONFIRMED
    if not dream.file_path.is_file():
        return _ended(store, row, f"the dream's image {dream.file_path} is gone")
    if dream.video_path is not None and not dream.video_path.is_file():
        return _ended(store, row, f"the dive's video {dream.video_path} is gone")
    store.mark_intended(row.id)
    try:
        published = pub.publish(post)
    except Exception as exc:
        return _error(store, row, exc, backoff, max_attempts)
    store.mark_confirmed(row.id, published.remote_id, published.url)
    log.info("%s: dream %d posted: %s", row.publisher, row.dream_id, published.url or published.remote_id)
    return PostState.CONFIRMED


def _rate_wait(pub: Publisher) -> float:
    fn = getattr(pub, "rate_wait", None)
    try:
        return float(fn()) if fn is not None else 0.0
    except Exception as exc:  # a limit we cannot read must not stop the post; the call will tell
        log.warning("%s: cannot read its rate limits: %s", getattr(pub, "name", "?"), logs.redact(str(exc)))
        return 0.0


def _error(store: "Store", row: "PostRow", exc: Exception, backoff: Backoff, max_attempts: int,
           prefix: str = "") -> PostOutcome:
    if isinstance(exc, PublishError):
        if not exc.transient:
            return _ended(store, row, prefix + str(exc))
        return _failed(store, row, prefix + str(exc), exc.retry_after, backoff)
    why = f"{prefix}{type(exc).__name__}: {exc}"
    log.error("%s: dream %d: unexpected error: %s", row.publisher, row.dream_id, logs.redact(why), exc_info=True)
    if row.failures + 1 >= max_attempts:
        return _ended(store, row, f"gave up after {row.failures + 1} unexpected errors in a row: {why}")
    return _failed(store, row, why, None, backoff)


def _failed(store: "Store", row: "PostRow", why: str, retry_after: float | None, backoff: Backoff) -> PostState:
    why = logs.redact(why)
    at = backoff.at(row.failures + 1, retry_after)
    store.mark_failed(row.id, why, transient=True, retry_at=at)
    log.error("%s: dream %d not posted: %s (retry after %s)", row.publisher, row.dream_id, why, at)
    return PostState.FAILED


def _ended(store: "Store", row: "PostRow", why: str) -> Unstored:
    why = logs.redact(why)
    store.mark_failed(row.id, why, transient=False)
    log.error("%s: dream %d not posted: %s (not retried)", row.publisher, row.dream_id, why)
    return Unstored.ENDED
