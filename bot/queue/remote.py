"""The bot's side of the render queue (bot/queue/render_queue.py): render on the workers and wait for the
result, and what `status` shows.

Waiting, the bot keeps the job's `wait:` key fresh; that key is what makes a job live. A job
whose waiter stopped is an orphan, which a sweep (bot/queue/sweep.py) removes. `status`
counts only live jobs.
"""
from __future__ import annotations

import io
import json
import logging
import os
import socket
import time
import uuid
from typing import Any

from dreamer import Recipe
from dreamer.recipe import with_stop
from dreamer.places import Places, PlacesError
from PIL import Image

from bot.queue.render_queue import QueueError, RenderFailed, RenderQueue
from bot.queue.sweep import orphans, start_sweeper, sweep, wait_ttl
from bot.queue.wire import queued_job_ids

log = logging.getLogger("bot.queue")


class RemoteRender:
    """A `Renderer` (bot/render/renderer.py) that renders on the queue's workers and blocks until the
    result is back. Thread-safe: callers render `parallel` at a time.
    Building one sweeps the queue (a restarted bot cleans up after the dead one) and starts
    the periodic sweep."""

    def __init__(self, queue: RenderQueue, *, poll: float = 0.2):
        self.queue = queue
        self.s = queue.settings
        self.parallel = self.s.parallel
        self.poll = poll
        sweep(queue, starting=True)
        start_sweeper(queue)

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image:
        return self._render(image, recipe)[0]

    def render_places(self, image: Image.Image, recipe: Recipe) -> tuple[Image.Image, Places | None]:
        """The picture and where each class grew, as the worker measured it (None if it did
        not: a worker of an older version, or a render that is not the engine's)."""
        out, result = self._render(image, recipe)
        return out, _places(result.get("places"), job=result.get("worker"))

    def _render(self, image: Image.Image, recipe: Recipe) -> tuple[Image.Image, dict[str, Any]]:
        q = self.queue
        job_id = uuid.uuid4().hex
        self._beat(job_id)  # first: a sweep must never see this job's pictures without a waiter
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        where = None
        result = None
        deadline = time.time() + self.s.render_timeout

        def submit() -> dict[str, str]:
            where = q.put_picture("in", job_id, buf.getvalue())
            q.put("job:" + job_id, json.dumps({"recipe": recipe.to_dict(), "input": where, "deadline": deadline}))
            q.task(job_id)
            return where

        try:
            where = submit()
            while (result := self._wait(job_id, deadline)) is None:
                # A sweep took this job for an orphan (a waiter key seen stale: this process
                # stalled past its lifetime, or a clock is off): the bot still holds the
                # picture, so the job goes again rather than waiting out the render timeout.
                log.warning("job %s was swept from the queue while this bot waited for it; queued again", job_id)
                self._beat(job_id)
                where = submit()
            if result.get("error"):
                raise RenderFailed(result["error"])
            data = q.get_picture("out", job_id, result.get("output"))
            with Image.open(io.BytesIO(data)) as im:
                return with_stop(im.convert("RGB"), _stopped_at(result.get("stopped_at"))), result
        finally:
            q.drop_picture("in", job_id, where)
            q.drop_picture("out", job_id, (result or {}).get("output"))
            for k in ("out:", "lease:", "job:", "wait:"):  # the waiter last: see render's first line
                q.pop(k + job_id)

    def _beat(self, job_id: str) -> None:
        self.queue.put("wait:" + job_id, json.dumps({"owner": f"{socket.gethostname()}:{os.getpid()}",
                                                     "until": time.time() + wait_ttl(self.s)}))

    def _wait(self, job_id: str, deadline: float) -> dict[str, Any] | None:
        """The job's result, or None once the job is gone from the queue (swept) unfinished."""
        q = self.queue
        last_beat = progress = time.time()
        while True:
            now = time.time()
            if now - last_beat > wait_ttl(self.s) / 4:
                self._beat(job_id)
                last_beat = now
            out = q.json("out:" + job_id)
            if out is not None:
                return out
            lease = q.json("lease:" + job_id)
            if lease is not None:
                progress = now
                if lease["until"] < now:
                    # the worker stopped renewing its lease: it died mid-render and its task
                    # (popped from the queue) is gone; hand the job to another worker
                    log.warning("worker %s died rendering job %s; queued again", lease["worker"], job_id)
                    q.pop("lease:" + job_id)
                    q.task(job_id)
            elif now - progress > self.s.lease_seconds:
                # No lease for a while: is the task still queued (or waiting for a retry)? If
                # not, a worker took it and died before writing its lease.
                progress = now
                if q.get("job:" + job_id) is None and q.get("out:" + job_id) is None:
                    return None
                if not _queued(q, job_id):
                    log.warning("job %s was taken by a worker that died before starting it; queued again", job_id)
                    q.task(job_id)
            if now > deadline:
                raise QueueError(f"no worker finished the render within "
                                 f"{self.s.render_timeout / 60:g} min; is `run_bot.py worker` running?")
            time.sleep(self.poll)


def _stopped_at(value: Any) -> int | None:
    """The step a worker's dream stopped at before its cap, if it says one that can be (queue
    data: anything else is dropped, and the recorded recipe then checks again on a replay)."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10_000:
        return value
    return None


def _places(data: Any, job: Any) -> Places | None:
    """A worker's places, read as queue data that may be hostile: anything not as the engine
    writes it is dropped (the alt text then says less), never used."""
    if data is None:
        return None
    try:
        return Places.from_dict(data)
    except PlacesError as exc:
        log.warning("ignored the places a worker (%.80s) sent back: %s", str(job), exc)
        return None


def _queued(q: RenderQueue, job_id: str) -> bool:
    st = q.huey.storage
    return job_id in queued_job_ids([*st.enqueued_items(), *st.scheduled_items()])


# --- status -------------------------------------------------------------------------------------
def queue_status(q: RenderQueue, *, stale_after: float = 120.0) -> dict[str, Any]:
    """What `status` shows: tasks waiting (for a live job), jobs being rendered, the workers
    seen (with throughput and last error), and orphans a sweep will remove."""
    now = time.time()
    live = q.live_jobs(now)
    workers = []
    for key in q.keys("worker:"):
        w = q.json(key)
        if not w:
            continue
        up = max(1.0, w["seen"] - w["started"])
        w["per_minute"] = 60.0 * w["done"] / up
        w["alive"] = now - w["seen"] < stale_after
        workers.append(w)
    workers.sort(key=lambda w: (not w["alive"], w["name"]))
    leased = {j for j in q.job_ids("lease") & live if (q.json("lease:" + j) or {}).get("until", 0) >= now}

    def count(raw: list[bytes]) -> int:  # read as JSON by us, never through huey's serializer
        return sum(1 for j in queued_job_ids(raw) if j in live)

    found = orphans(q, now=now)
    st = q.huey.storage
    return {"pending": count(st.enqueued_items()), "scheduled": count(st.scheduled_items()), "jobs": len(leased),
            "waiting_jobs": len(live & q.job_ids("job")), "workers": workers,
            "orphans": len(found["keys"]) + len(found["files"])}
