"""What `publish_row` makes of a post: the post's stored state after the attempt, or what that
state does not say (waiting for a rate limit; failed for good). The cycle's retries and its
"(will retry)" rest on telling these apart."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.posting import Unstored, publish_row
from bot.publishers.base import Post, Published, PublishError
from bot.retry import Backoff
from bot.store import NewDream, PostState, Store

BACKOFF = Backoff(first=60.0, cap=600.0)


class Platform:
    """A publisher that answers as told: posts, raises, or says its rate limit is used up."""

    name = "mastodon"

    def __init__(self, error: Exception | None = None, wait: float = 0.0):
        self.error, self.wait, self.calls = error, wait, 0

    def rate_wait(self) -> float:
        return self.wait

    def publish(self, post: Post) -> Published:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Published("r1", "https://example.org/r1")

    def find_existing(self, post: Post) -> Published | None:
        return None


def _post(tmp_path: Path):
    store = Store(tmp_path / "bot.db")
    picture = tmp_path / "x.png"
    picture.write_bytes(b"png")
    dream = store.add_dream(NewDream(post_key=store.new_post_key(), source_id=None, recipe={}, seed=1,
                                     classes=[(1, "goldfish", 1.0)], combo_key="1", file_path=picture, caption="c",
                                     alt_text="a", tags=[], source_url=None, title=None, publishers=["mastodon"]))
    return store, store.post(dream, "mastodon")


def _stored(tmp_path: Path) -> tuple:
    db = sqlite3.connect(tmp_path / "bot.db")
    try:
        return db.execute("SELECT state, attempts, transient, retry_at IS NOT NULL FROM posts").fetchone()
    finally:
        db.close()


@pytest.mark.parametrize("error, outcome, stored", [
    (None, PostState.CONFIRMED, ("confirmed", 1, None, False)),
    (PublishError("503", transient=True), PostState.FAILED, ("failed", 1, 1, True)),  # retried after its backoff
    (PublishError("401", transient=False), Unstored.ENDED, ("failed", 1, 0, False)),  # stored as failed, not retried
    (RuntimeError("bug"), PostState.FAILED, ("failed", 1, 1, True)),  # the first unexpected error: retried
])
def test_an_attempt_comes_to_the_state_it_stored_or_says_it_ended(tmp_path, error, outcome, stored):
    store, row = _post(tmp_path)
    got = publish_row(store, Platform(error), row, BACKOFF, max_attempts=3)
    assert got is outcome and _stored(tmp_path) == stored


def test_unexpected_errors_end_the_post_after_max_attempts(tmp_path):
    store, row = _post(tmp_path)
    outcomes = []
    for _ in range(3):
        outcomes.append(publish_row(store, Platform(RuntimeError("bug")), row, BACKOFF, max_attempts=3))
        row = store.post(row.dream_id, "mastodon")
    assert outcomes == [PostState.FAILED, PostState.FAILED, Unstored.ENDED]
    assert _stored(tmp_path)[:3] == ("failed", 3, 0)


def test_a_used_up_rate_limit_waits_without_an_attempt(tmp_path):
    store, row = _post(tmp_path)
    platform = Platform(wait=30.0)
    assert publish_row(store, platform, row, BACKOFF, max_attempts=3) is Unstored.WAITING
    assert platform.calls == 0 and _stored(tmp_path) == ("pending", 0, None, True)


def test_a_post_whose_publisher_is_switched_off_keeps_its_state(tmp_path):
    store, row = _post(tmp_path)
    assert publish_row(store, None, row, BACKOFF, max_attempts=3) is PostState.PENDING
    assert _stored(tmp_path) == ("pending", 0, None, False)


def test_no_outcome_the_state_does_not_say_reads_as_a_stored_state():
    # A cycle's message and its result show an outcome by its value alone.
    assert not {u.value for u in Unstored} & {s.value for s in PostState}
