"""When to try again after a transient failure: exponential backoff with a cap, and never
sooner than the server's Retry-After. Shared by posts and dream requests."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Config


@dataclass(frozen=True)
class Backoff:
    first: float  # seconds before the first retry
    cap: float    # the longest wait

    @classmethod
    def from_config(cls, cfg: "Config") -> "Backoff":
        return cls(cfg.bot.retry_seconds, cfg.bot.retry_max_minutes * 60)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `failures` failures in a row (1 = the first)."""
        base = min(self.cap, self.first * 2 ** min(max(failures - 1, 0), 60))
        return max(base, retry_after or 0.0)

    def at(self, failures: int, retry_after: float | None = None) -> str:
        """The time stamp of the next try."""
        return stamp_in(self.delay(failures, retry_after))


def stamp_in(seconds: float) -> str:
    """A time stamp `seconds` from now, to the millisecond (rounded up: never early); the
    store compares these as text with `now_ms()` (ISO 8601 in UTC sorts as time)."""
    when = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    if when.microsecond % 1000:
        when += timedelta(microseconds=1000 - when.microsecond % 1000)
    return when.isoformat(timespec="milliseconds")


def seconds_until(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    left = (datetime.fromisoformat(stamp) - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, math.ceil(left * 10) / 10)
