"""The bot's side of the render queue (bot/queue.py): render on the workers and wait for the
result, sweep what dead processes left, and what `status` shows.

Waiting, the bot keeps the job's `wait:` key fresh; that key is what makes a job live. A job
whose waiter stopped (the bot was killed: its cleanup never ran) is an orphan: `sweep`
removes its job, pictures (in the queue's storage or the shared dir), output and lease. Dead
workers' records go too: at once for a worker of this machine whose process is gone, after
`dead_after` seconds unseen for others. `status` counts only live jobs.
"""
from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from dreamer import Recipe
from PIL import Image

from bot.queue import (
    QueueError, QueueSettings, RenderFailed, _json, _keys, _pop, _put, drop_picture, get_picture, job_ids, live_jobs,
    process_alive, put_picture,
)

if TYPE_CHECKING:
    from huey import Huey

log = logging.getLogger("bot.queue")


def _settings(h: "Huey") -> QueueSettings:
    return h._ldb_settings  # type: ignore[attr-defined]


def wait_ttl(s: QueueSettings) -> float:
    """How long a `wait:` key stays fresh without being renewed."""
    return max(3 * s.lease_seconds, 10.0)


def sweep_every(s: QueueSettings) -> float:
    return max(4 * s.lease_seconds, 30.0)


class RemoteRender:
    """A `Renderer` (bot/render.py) that renders on the queue's workers and blocks until the
    result is back. Thread-safe: callers render `parallel` at a time.
    Building one sweeps the queue (a restarted bot cleans up after the dead one) and starts
    the periodic sweep."""

    def __init__(self, h: "Huey", *, poll: float = 0.2):
        self.h = h
        self.s: QueueSettings = _settings(h)
        self.parallel = self.s.parallel
        self.poll = poll
        sweep(h, starting=True)
        start_sweeper(h)

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image:
        job_id = uuid.uuid4().hex
        self._beat(job_id)  # first: a sweep must never see this job's pictures without a waiter
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        where = None
        result = None
        try:
            where = put_picture(self.h, self.s, "in-" + job_id, buf.getvalue())
            deadline = time.time() + self.s.render_timeout
            _put(self.h, "job:" + job_id, json.dumps({"recipe": recipe.to_dict(), "input": where,
                                                      "deadline": deadline}))
            self.h._ldb_task(job_id)  # type: ignore[attr-defined]
            result = self._wait(job_id, deadline)
            if result.get("error"):
                raise RenderFailed(result["error"])
            data = get_picture(self.h, self.s, result["output"])
            with Image.open(io.BytesIO(data)) as im:
                return im.convert("RGB")
        finally:
            drop_picture(self.h, self.s, where)
            drop_picture(self.h, self.s, (result or {}).get("output"))
            for k in ("out:", "lease:", "job:", "wait:"):  # the waiter last: see render's first line
                _pop(self.h, k + job_id)

    def _beat(self, job_id: str) -> None:
        _put(self.h, "wait:" + job_id, json.dumps({"owner": f"{socket.gethostname()}:{os.getpid()}",
                                                   "until": time.time() + wait_ttl(self.s)}))

    def _wait(self, job_id: str, deadline: float) -> dict[str, Any]:
        last_beat = progress = time.time()
        while True:
            now = time.time()
            if now - last_beat > wait_ttl(self.s) / 4:
                self._beat(job_id)
                last_beat = now
            out = _json(self.h, "out:" + job_id)
            if out is not None:
                return out
            lease = _json(self.h, "lease:" + job_id)
            if lease is not None:
                progress = now
                if lease["until"] < now:
                    # the worker stopped renewing its lease: it died mid-render and its task
                    # (popped from the queue) is gone; hand the job to another worker
                    log.warning("worker %s died rendering job %s; queued again", lease["worker"], job_id)
                    _pop(self.h, "lease:" + job_id)
                    self.h._ldb_task(job_id)  # type: ignore[attr-defined]
            elif now - progress > self.s.lease_seconds:
                # No lease for a while: is the task still queued (or waiting for a retry)? If
                # not, a worker took it and died before writing its lease.
                progress = now
                if not _queued(self.h, job_id):
                    log.warning("job %s was taken by a worker that died before starting it; queued again", job_id)
                    self.h._ldb_task(job_id)  # type: ignore[attr-defined]
            if now > deadline:
                raise QueueError(f"no worker finished the render within "
                                 f"{self.s.render_timeout / 60:g} min; is `run_bot.py worker` running?")
            time.sleep(self.poll)


def _queued(h: "Huey", job_id: str) -> bool:
    for task in [*h.pending(), *h.scheduled()]:
        if task.args and task.args[0] == job_id:
            return True
    return False


# --- sweeping ---------------------------------------------------------------------------------
def _job_of(key: str) -> str | None:
    kind, _, rest = key.partition(":")
    if kind in ("job", "out", "lease", "wait"):
        return rest
    if kind == "pic" and rest[:3] in ("in-", "out"):
        return rest.split("-", 1)[1]
    return None


def orphans(h: "Huey", *, now: float | None = None, dead_after: float | None = None) -> dict[str, list[str]]:
    """What a sweep would remove: keys of jobs nobody waits for, files of those jobs in the
    shared dir, and dead workers' records."""
    s = _settings(h)
    now = time.time() if now is None else now
    live = live_jobs(h, now, grace=s.lease_seconds)  # grace: another machine's clock may be behind
    out: dict[str, list[str]] = {"keys": [], "files": [], "workers": []}
    for key in _keys(h, ""):
        job_id = _job_of(key)
        if job_id is not None and job_id not in live:
            out["keys"].append(key)
    if s.shared_dir is not None and s.shared_dir.is_dir():
        for f in s.shared_dir.iterdir():
            stem = f.name.split(".", 1)[0]
            if stem[:3] in ("in-", "out") and stem.split("-", 1)[1] not in live:
                out["files"].append(str(f))
    dead_after = max(600.0, 20 * s.lease_seconds) if dead_after is None else dead_after
    host = socket.gethostname()
    for key in _keys(h, "worker:"):
        w = _json(h, key)
        machine, _, pid = key[len("worker:"):].rpartition(":")
        if machine == host and pid.isdigit():
            gone = not process_alive(int(pid))  # a worker of this machine: its process can be asked
        else:
            gone = w is None or now - w["seen"] > dead_after
        if gone:
            out["workers"].append(key)
    return out


def sweep(h: "Huey", *, now: float | None = None, dead_after: float | None = None,
          starting: bool = False) -> dict[str, int]:
    """Remove what `orphans` finds; returns how many of each were removed. `starting`: the
    bot is starting, before any render of its own."""
    found = orphans(h, now=now, dead_after=dead_after)
    removed: Counter[str] = Counter()
    for key in found["keys"]:
        _pop(h, key)
        removed[key.split(":", 1)[0]] += 1
    for f in found["files"]:
        try:
            os.unlink(f)
            removed["file"] += 1
        except FileNotFoundError:
            pass
    for key in found["workers"]:
        _pop(h, key)
        removed["worker"] += 1
    if starting and not _settings(h).url and not live_jobs(h, now):
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


_sweepers: set[int] = set()
_sweepers_lock = threading.Lock()


def start_sweeper(h: "Huey", stop: threading.Event | None = None) -> None:
    """Sweep now, then every few leases, from a daemon thread (one per queue and process)."""
    with _sweepers_lock:
        if id(h) in _sweepers:
            return
        _sweepers.add(id(h))
    every = sweep_every(_settings(h))
    stop = stop or threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep(h)
            except Exception as exc:  # the queue's storage blinked; the next sweep tries again
                log.warning("queue sweep failed: %s", exc)
            if stop.wait(every):
                with _sweepers_lock:
                    _sweepers.discard(id(h))
                return

    threading.Thread(target=loop, name="queue-sweep", daemon=True).start()


# --- status -------------------------------------------------------------------------------------
def queue_status(h: "Huey", *, stale_after: float = 120.0) -> dict[str, Any]:
    """What `status` shows: tasks waiting (for a live job), jobs being rendered, the workers
    seen (with throughput and last error), and orphans a sweep will remove."""
    now = time.time()
    live = live_jobs(h, now)
    workers = []
    for key in _keys(h, "worker:"):
        w = _json(h, key)
        if not w:
            continue
        up = max(1.0, w["seen"] - w["started"])
        w["per_minute"] = 60.0 * w["done"] / up
        w["alive"] = now - w["seen"] < stale_after
        workers.append(w)
    workers.sort(key=lambda w: (not w["alive"], w["name"]))
    leased = {j for j in job_ids(h, "lease") & live if (_json(h, "lease:" + j) or {}).get("until", 0) >= now}

    def count(tasks: list[Any]) -> int:
        return sum(1 for t in tasks if t.args and t.args[0] in live)

    found = orphans(h, now=now)
    return {"pending": count(h.pending()), "scheduled": count(h.scheduled()), "jobs": len(leased),
            "waiting_jobs": len(live & job_ids(h, "job")), "workers": workers,
            "orphans": len(found["keys"]) + len(found["files"])}
