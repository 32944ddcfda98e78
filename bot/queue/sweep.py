"""Sweeping the render queue (bot/queue/render_queue.py): what dead processes left.

A job whose waiter stopped (the bot was killed: its cleanup never ran) is an orphan: `sweep`
removes its job, pictures (in the queue's storage or the shared dir), output and lease. Dead
workers' records go too: at once for a worker of this machine whose process is gone, after
`dead_after` seconds unseen for others. The bot sweeps at start and periodically, and so does
every worker.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter

from bot.queue.settings import QueueKeys, QueueSettings

log = logging.getLogger("bot.queue")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_ttl(s: QueueSettings) -> float:
    """How long a `wait:` key stays fresh without being renewed."""
    return max(3 * s.lease_seconds, 10.0)


def sweep_every(s: QueueSettings) -> float:
    return max(4 * s.lease_seconds, 30.0)


def _job_of(key: str) -> str | None:
    kind, _, rest = key.partition(":")
    if kind in ("job", "out", "lease", "wait"):
        return rest
    if kind == "pic" and rest[:3] in ("in-", "out"):
        return rest.split("-", 1)[1]
    return None


def orphans(q: QueueKeys, *, now: float | None = None, dead_after: float | None = None) -> dict[str, list[str]]:
    """What a sweep would remove: keys of jobs nobody waits for, files of those jobs in the
    shared dir, and dead workers' records."""
    s = q.settings
    now = time.time() if now is None else now
    # What is there first, who waits second: a bot writes its `wait:` key before anything else
    # of a job, so every job listed here already had its waiter when `live` is read. The other
    # way round, a job started between the two reads was swept while its bot waited for it.
    keys = q.keys("")
    files = list(s.shared_dir.iterdir()) if s.shared_dir is not None and s.shared_dir.is_dir() else []
    live = q.live_jobs(now, grace=s.lease_seconds)  # grace: another machine's clock may be behind
    out: dict[str, list[str]] = {"keys": [], "files": [], "workers": []}
    for key in keys:
        job_id = _job_of(key)
        if job_id is not None and job_id not in live:
            out["keys"].append(key)
    for f in files:
        stem = f.name.split(".", 1)[0]
        if stem[:3] in ("in-", "out") and stem.split("-", 1)[1] not in live:
            out["files"].append(str(f))
    dead_after = max(600.0, 20 * s.lease_seconds) if dead_after is None else dead_after
    host = socket.gethostname()
    for key in (k for k in keys if k.startswith("worker:")):
        w = q.json(key)
        machine, _, pid = key[len("worker:"):].rpartition(":")
        if machine == host and pid.isdigit():
            gone = not process_alive(int(pid))  # a worker of this machine: its process can be asked
        else:
            gone = w is None or now - w["seen"] > dead_after
        if gone:
            out["workers"].append(key)
    return out


def sweep(q: QueueKeys, *, now: float | None = None, dead_after: float | None = None,
          starting: bool = False) -> dict[str, int]:
    """Remove what `orphans` finds; returns how many of each were removed. `starting`: the
    bot is starting, before any render of its own."""
    found = orphans(q, now=now, dead_after=dead_after)
    removed: Counter[str] = Counter()
    for key in found["keys"]:
        q.pop(key)
        removed[key.split(":", 1)[0]] += 1
    for f in found["files"]:
        try:
            os.unlink(f)
            removed["file"] += 1
        except FileNotFoundError:
            pass
    for key in found["workers"]:
        q.pop(key)
        removed["worker"] += 1
    h = q.huey
    if starting and not q.settings.url and not q.live_jobs(now):
        # The embedded queue serves one bot process: tasks left in it are a dead bot's (each
        # would find its job gone and do nothing, but `status` would count them).
        stale = h.pending_count() + h.scheduled_count()
        if stale:
            removed["task"] += stale
        h.storage.flush_queue()
        h.storage.flush_schedule()
    if removed:
        log.info("queue sweep removed %s", ", ".join(f"{n} {k}" for k, n in sorted(removed.items())))
    return dict(removed)


def start_sweeper(q: QueueKeys, stop: threading.Event | None = None) -> None:
    """Sweep now, then every few leases, from a daemon thread (one per queue and process)."""
    if not q.sweeping.acquire(blocking=False):
        return
    every = sweep_every(q.settings)
    stop = stop or threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep(q)
            except Exception as exc:  # the queue's storage blinked; the next sweep tries again
                log.warning("queue sweep failed: %s", exc)
            if stop.wait(every):
                q.sweeping.release()
                return

    threading.Thread(target=loop, name="queue-sweep", daemon=True).start()
