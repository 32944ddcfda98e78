"""The one interface every publisher implements: take a finished post, put it somewhere."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


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
