"""A render worker's identity, counters and leases (bot/queue/render_queue.py), written to the queue's
storage: `status` reads the record, the waiting bot reads the leases. A heartbeat thread
renews both; a lease not renewed means the worker died and its job goes to another."""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from bot.queue.settings import QueueKeys
from bot.queue.sweep import start_sweeper

log = logging.getLogger("bot.queue")


class WorkerState:
    """This process's identity and counters, written to the queue's storage (`status` reads it)."""

    def __init__(self, queue: QueueKeys, name: str | None = None):
        self.queue = queue
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lock = threading.Lock()
        self.stats: dict[str, Any] = {"name": self.name, "pid": os.getpid(), "started": time.time(), "seen": time.time(),
                                      "done": 0, "failed": 0, "render_seconds": 0.0, "last_error": None,
                                      "busy": None}
        self.leases: dict[str, float] = {}
        self._stop = threading.Event()

    def beat(self) -> None:
        q = self.queue
        with self.lock:
            self.stats["seen"] = time.time()
            for job_id in list(self.leases):
                until = time.time() + q.settings.lease_seconds
                self.leases[job_id] = until
                q.put("lease:" + job_id, json.dumps({"worker": self.name, "until": until}))
            if not self._stop.is_set():  # a stopped worker is off the list for good (see stop)
                q.put("worker:" + self.name, json.dumps(self.stats))

    def start_heartbeat(self) -> None:
        every = max(0.2, self.queue.settings.lease_seconds / 4)

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.beat()
                except Exception as exc:  # the queue's storage blinked; the next beat tries again
                    log.warning("worker heartbeat failed: %s", exc)

        threading.Thread(target=loop, name="queue-heartbeat", daemon=True).start()
        self.beat()
        start_sweeper(self.queue, self._stop)

    def lease(self, job_id: str) -> None:
        with self.lock:
            self.leases[job_id] = time.time() + self.queue.settings.lease_seconds
            self._show_busy()
        self.beat()

    def release(self, job_id: str) -> None:
        with self.lock:
            self.leases.pop(job_id, None)
            self._show_busy()

    def _show_busy(self) -> None:
        # From the leases, not the last call: with several consumer threads (a batch) one job
        # ending leaves the others running (lock held)
        self.stats["busy"] = next(iter(self.leases), None)
        self.stats["jobs"] = len(self.leases)

    def count(self, *, ok: bool, error: str | None, seconds: float) -> None:
        with self.lock:
            self.stats["done" if ok else "failed"] += 1
            self.stats["render_seconds"] += seconds
            if error:
                self.stats["last_error"] = {"at": time.time(), "error": error[:300]}

    def stop(self) -> None:
        """Stop beating and take this worker off the list (`status`): it stopped, it is not lost."""
        with self.lock:
            self._stop.set()
            try:
                self.queue.pop("worker:" + self.name)
            except Exception as exc:  # the queue's storage is gone already; the sweep will do it
                log.debug("could not remove worker %s: %s", self.name, exc)
