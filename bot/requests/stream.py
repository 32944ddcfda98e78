"""The streaming API as a doorbell: a mention on the stream wakes the request job at once.

The stream is never the record of what arrived: it does not replay what happened while it
was down, and an event can be lost between the socket and us. So it only *wakes* the
worker, which then polls with the persisted `min_id` cursor (listen.py) and stores each
mention once. Every (re)connection rings too, so whatever came during a disconnect is
caught up by that poll; the regular poll job keeps running as a safety net.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from mastodon import StreamListener

log = logging.getLogger("bot.requests")

CONNECTED = "stream connected"
RECONNECT_WAIT = 5.0  # seconds between reconnection attempts


class _Doorbell(StreamListener):
    def __init__(self, ring: Callable[[str], None]):
        super().__init__()
        self._ring = ring

    def handle_stream(self, response: Any) -> None:
        # Called once per (re)connection, before any event is read: catch up now.
        self._ring(CONNECTED)
        super().handle_stream(response)

    def on_notification(self, notification: Any) -> None:
        if (notification or {}).get("type") == "mention":
            self._ring("mention on the stream")

    def on_abort(self, err: Exception) -> None:
        log.info("requests: stream interrupted (%s); reconnecting, then catching up by polling", err)

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        pass  # new event kinds must not kill the stream


class MentionStream:
    """Keeps a user-notification stream open (reconnecting by itself) and calls `wake`."""

    def __init__(self, api: Any, wake: Callable[[], None], reconnect_wait: float | None = None):
        self._api = api
        self._wake = wake
        self._wait = RECONNECT_WAIT if reconnect_wait is None else reconnect_wait
        self._handle: Any = None
        self._lock = threading.Lock()
        self.rings = 0
        self.connections = 0

    def _ring(self, why: str) -> None:
        self.rings += 1
        if why == CONNECTED:
            self.connections += 1
        log.debug("requests: %s; polling now", why)
        try:
            self._wake()
        except Exception as exc:  # the stream thread must survive a scheduler hiccup
            log.warning("requests: could not wake the request job: %s", exc)

    def start(self) -> None:
        with self._lock:
            if self._handle is None:
                self._handle = self._api.stream_user_notifications(
                    _Doorbell(self._ring), run_async=True, reconnect_async=True,
                    reconnect_async_wait_sec=self._wait)

    def stop(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # closing a dead socket may complain; it is closed either way
                pass
