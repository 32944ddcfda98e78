"""The one interface every publisher implements: take a finished post, put it somewhere."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Post:
    """A dream ready to publish. `post_id` is the store's id, stable across retries and
    restarts, so publishers derive idempotency keys from it."""

    post_id: str
    image_path: Path
    caption: str  # plain text; each publisher escapes/format it for its platform
    alt_text: str
    tags: tuple[str, ...] = ()
    source_url: str | None = None
    title: str | None = None
    # A dive: the video, with `image_path` its poster frame (what a publisher without video
    # support, or a preview, shows).
    video_path: Path | None = None


@dataclass(frozen=True)
class Published:
    remote_id: str
    url: str | None = None


class PublishError(Exception):
    """A publish attempt failed. `transient` says whether retrying later can help
    (rate limit, 5xx, timeout) or not (bad credentials, rejected content)."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class Publisher(Protocol):
    name: str

    def publish(self, post: Post) -> Published:
        """Publish once. Must be safe to call again with the same post_id after a crash:
        either the platform dedupes on an idempotency key derived from post_id, or
        `find_existing` is consulted first by the caller."""
        ...

    def find_existing(self, post: Post) -> Published | None:
        """Look for an already-made post for post.post_id (used after a crash between
        'intended' and 'confirmed'); None when the platform has none or cannot tell."""
        ...


@dataclass(frozen=True)
class PollDraft:
    """A poll ready to post. `key` is the store's poll key, stable across retries and restarts
    (its idempotency key and reference line derive from it, as a post's from its post_id)."""

    key: str
    text: str  # plain text; the platform adds its reference line and the hashtags
    options: tuple[str, ...]
    seconds: int  # how long it stays open
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PostedPoll:
    remote_id: str  # the status
    url: str | None
    poll_id: str  # the poll's own id (for its tallies)
    closes_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class PollLimits:
    max_options: int
    max_characters_per_option: int
    min_seconds: int
    max_seconds: int


@runtime_checkable
class PollBoard(Protocol):
    """Where polls for the next mutant are held (Mastodon): one method per action."""

    def poll_limits(self) -> PollLimits:
        ...

    def rate_wait(self, media: bool = True) -> float:
        """Seconds before the rate limits allow a post; 0 = now."""
        ...

    def post_poll(self, draft: PollDraft) -> PostedPoll:
        """Post once; safe to call again with the same key within the server's window."""
        ...

    def find_poll(self, key: str) -> PostedPoll | None:
        """The poll already posted for `key` (after a crash), or None. Raises PublishError when
        it cannot look, never answers "not there" instead."""
        ...

    def read_votes(self, poll_id: str) -> tuple[int, ...] | None:
        """Each option's votes, in order; None when the poll is gone (its status deleted)."""
        ...


class LimitStore(Protocol):
    """Where a publisher keeps "do not ask before" times (the store: shared by every process
    on the bot's database, so a fresh `--once` honours a Retry-After another process got)."""

    def rate_limit(self, key: str) -> tuple[float, str] | None:
        """(until as time.time(), why) while blocked, else None."""
        ...

    def set_rate_limit(self, key: str, until: float | None, why: str = "") -> None:
        ...


class MemoryLimits:
    """A LimitStore for one process (publishers built without a store)."""

    def __init__(self) -> None:
        self._d: dict[str, tuple[float, str]] = {}

    def rate_limit(self, key: str) -> tuple[float, str] | None:
        got = self._d.get(key)
        return got if got and got[0] > time.time() else None

    def set_rate_limit(self, key: str, until: float | None, why: str = "") -> None:
        if until is None:
            self._d.pop(key, None)
        else:
            self._d[key] = (until, why)
