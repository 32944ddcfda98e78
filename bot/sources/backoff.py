"""Sources that keep failing are asked less often: after a failure a source is skipped until
its backoff is over (the bot's own `retry_seconds`, doubling after each failure in a row up to
`retry_max_minutes`, as a post to a server that is down is retried), and asked every cycle
again once it works.

Without this, a feed that is down or malformed stayed first in line: every cycle fetched it
again and logged the same error with its traceback. Now the first failure is logged in full
(with the traceback of an error no source foresaw), so is an error of another kind later in
the streak, a repeat of the same error in one line, a skip at debug level, and the recovery once.

The state is in memory only: a restart, or a config reload (which builds new sources), asks
every source at once, so an operator who fixed a feed's address does not wait for the backoff.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from bot.retry import Backoff
    from bot.sources.base import Source

log = logging.getLogger("bot.sources")


@dataclass
class _Failing:
    source: "Source"  # the object that failed: a reload's new source of the same name starts afresh
    failures: int  # in a row
    error: str  # the last one, said again while the source is skipped
    until: float  # clock time before which the source is not asked


class SourceBackoff:
    """Which sources to skip this cycle, and for how long after each failure."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock  # monotonic: a wall clock set back must not park a source for hours
        self._failing: dict[str, _Failing] = {}

    def skipped(self, src: "Source") -> str | None:
        """Why `src` is not to be asked now (its last error and when it will be), or None to ask it."""
        f = self._state(src)
        if f is None:
            return None
        left = f.until - self.clock()
        if left <= 0:
            return None
        log.debug("source %s not asked: it failed %d time(s) in a row; next try in %s",
                  src.name, f.failures, _duration(left))
        return f"{f.error} (not asked again for {_duration(left)})"

    def failed(self, src: "Source", error: str, backoff: "Backoff", *, trace: bool = False) -> None:
        """Record a failure of `src` and log it: the first of a streak, or one unlike the last, in
        full (with the traceback when `trace`); a repeat of the same error in one line."""
        f = self._state(src)
        failures = 1 if f is None else f.failures + 1
        wait = backoff.delay(failures)
        self._failing[src.name] = _Failing(src, failures, error, self.clock() + wait)
        if failures == 1:
            log.warning("%s; not asked again for %s (longer after each failure, up to %s)",
                        error, _duration(wait), _duration(backoff.cap), exc_info=trace)
        elif error != f.error:  # another failure than the streak's first: in full, its traceback too
            log.warning("%s; failing (%d times in a row), not asked again for %s",
                        error, failures, _duration(wait), exc_info=trace)
        else:
            log.info("%s; still failing (%d times in a row), not asked again for %s",
                     error, failures, _duration(wait))

    def worked(self, src: "Source") -> None:
        """`src` was asked without an error (a photo or none): asked every cycle again."""
        f = self._state(src)
        self._failing.pop(src.name, None)
        if f is not None:
            log.info("source %s works again after %d failure(s) in a row", src.name, f.failures)

    def keep_only(self, names: set[str]) -> None:
        """Forget the sources no longer configured (a reload took them out)."""
        for name in set(self._failing) - names:
            del self._failing[name]

    def _state(self, src: "Source") -> _Failing | None:
        f = self._failing.get(src.name)
        return f if f is not None and f.source is src else None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"
