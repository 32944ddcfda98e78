"""Mastodon's rate limits: the budget per bucket, and how long a server says to wait.

Blocks are kept in a `LimitStore` (the bot's database when the bot gives one), so a block
one process learnt (a 429, X-RateLimit-Remaining: 0) holds for every process on that
database, a fresh `--once` included.
"""
from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import StrEnum

from .base import LimitStore, MemoryLimits, PublishError


class Bucket(StrEnum):
    """A Mastodon rate limit. The value ends the key its block is kept under in the bot's
    database, so every process (an older one too) reads the same block."""

    API = "api"  # every call (300 per 5 minutes on stock servers)
    MEDIA = "media"  # uploads, besides (30 per 30 minutes)


class RateBudget:
    """What the last X-RateLimit-* headers (or a 429) said, per bucket: "media" uploads have
    their own limit (30 per 30 minutes on stock servers), "api" is everything (300 per 5
    minutes). A server reports whichever limit is closest to running out, so an exhausted
    answer to an upload only blocks everything when its X-RateLimit-Limit is the general one.
    The blocks live in `limits` (the bot's database when given), under `key` + bucket."""

    def __init__(self, limits: LimitStore | None = None, key: str = "") -> None:
        self._limits = limits if limits is not None else MemoryLimits()
        self._key = key
        self._api_limit: str | None = None

    def update(self, bucket: Bucket, headers: Mapping[str, str], status: int | None = None) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        limit = headers.get("X-RateLimit-Limit")
        if bucket is Bucket.API and limit:
            self._api_limit = limit
        if status == 429:
            exhausted = True
        elif remaining is None:
            return
        else:
            try:
                exhausted = int(remaining) <= 0
            except ValueError:
                return
        affected = [bucket]
        if bucket is Bucket.MEDIA and (limit is None or limit == self._api_limit):
            affected.append(Bucket.API)
        wait = retry_after_from_headers(headers, default=60.0 if status == 429 else None) if exhausted else None
        for name in affected:
            key = self._key + name
            if wait:
                self._limits.set_rate_limit(key, time.time() + wait, "used up")
            elif name == bucket and self._limits.rate_limit(key) is not None:
                self._limits.set_rate_limit(key, None)

    def left(self, name: Bucket) -> float:
        got = self._limits.rate_limit(self._key + name)
        return max(0.0, got[0] - time.time()) if got else 0.0

    def wait(self, buckets: tuple[Bucket, ...]) -> float:
        return max(self.left(name) for name in buckets)

    def check(self, bucket: Bucket, action: str) -> None:
        for name in (Bucket.API, Bucket.MEDIA) if bucket is Bucket.MEDIA else (Bucket.API,):
            left = self.left(name)
            if left <= 0:
                continue
            what = "media uploads" if name is Bucket.MEDIA else "API calls"
            raise PublishError(
                f"not trying to {action}: the Mastodon rate limit for {what} is used up; "
                f"it resets in {left:.0f}s",
                transient=True,
                retry_after=left,
            )


def retry_after_from_headers(headers: Mapping[str, str], default: float | None = 60.0) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date) or X-RateLimit-Reset (an ISO
    8601 time on Mastodon, epoch seconds on some other servers), measured against the
    server's Date header when present so clock skew does not matter."""
    server_now = _server_now(headers)
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - server_now)
        except (TypeError, ValueError):
            pass
    value = headers.get("X-RateLimit-Reset")
    if value:
        value = value.strip()
        try:
            reset = float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else _parse_iso(value)
            return max(0.0, reset - server_now)
        except ValueError:
            pass
    return default


def _parse_iso(value: str) -> float:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _server_now(headers: Mapping[str, str]) -> float:
    date = headers.get("Date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()
