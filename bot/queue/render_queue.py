"""Rendering on a task queue (huey): embedded SQLite by default, Redis across machines.

What travels on the queue is a job id; the job (recipe, where the picture is) and its result
live in the queue's key-value storage, and pictures either there too (under
`[queue] picture_cap_mb`) or in `[queue] shared_dir` when every machine mounts one. A render is
a pure function of (picture, recipe), so running one twice is harmless: the first result wins,
and publishing stays with the bot process, whose store and idempotency keys decide what was
posted. The queue never decides "published once".

A worker holds a *lease* on the job it renders and renews it from a heartbeat thread. huey
pops a task before running it, so a worker killed mid-render loses it: the bot, waiting for
the result, sees the lease expire and enqueues the job again; a worker killed after taking
the task but before writing its lease is seen too (the task is in neither the queue nor a
lease). Transient errors are retried by huey with exponential backoff; permanent ones (bad
image, bad recipe) are reported back at once and never retried. With `[queue] batch` above 1
the jobs a worker's threads hold at once meet in bot/render/batcher.py and are dreamt in one
net batch; each thread keeps its own job, lease and errors all the same.

The waiting bot keeps a `wait:` key alive for each job; a job whose waiter is gone (the bot
was killed) is an orphan, and `sweep` (at start and periodically, in the bot and in every
worker, for SQLite and Redis alike) removes it with its pictures, output and lease, along
with the records of dead workers.

Here: `RenderQueue(settings)`, the queue of one config (its huey, task, storage and pictures)
and the worker's side. The bot's side (waiting, what `status` shows) is bot/queue/remote.py;
sweeping is bot/queue/sweep.py.
"""
from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dreamer
from dreamer.recipe import STOPPED_AT
from huey import Huey, RedisHuey, SqliteHuey
from huey.api import Task, TaskWrapper
from huey.constants import EmptyData
from huey.consumer import Consumer

from bot import failpoints
from bot.folders import private_dir, private_file
from bot.queue.settings import QueueSettings
from bot.queue.sweep import process_alive
from bot.queue.worker import WorkerState
from bot.queue.wire import JsonSerializer, job_id_ok, picture_key
from bot.render import INPUT_ERRORS, PlacesRenderer, Renderer, RenderFn, as_renderer
from bot.render.batcher import worker_renderer

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger("bot.queue")

NAME = "lucid-dream-bot"
P = "ldb:"  # prefix of our keys in the queue's storage
# Tests: each render waits (up to 10 minutes) until this file exists, so a test can kill a worker
# mid-render whatever the machine's speed, then open the gate for the others.
GATE_ENV = "LUCID_TEST_RENDER_GATE"
TASK_MODULE = "bot.queue"  # the module huey names the render task by (see `_register`)
__all__ = ["NAME", "P", "GATE_ENV", "PictureTooBig", "QueueError", "QueueSettings", "RenderFailed", "RenderQueue",
           "WorkerState", "process_alive"]


class QueueError(Exception):
    """The queue cannot do this (unreachable, picture too big, no worker answered)."""


class PictureTooBig(QueueError):
    """Over `[queue] picture_cap_mb` with no shared dir: no retry changes that."""


class RenderFailed(Exception):
    """A worker reported a permanent failure for this render (not retried)."""


class _Transient(Exception):
    pass


class RenderQueue:
    """The queue of one config: its huey instance, its one task (`render_job`), our keys in
    huey's storage, and, once `serve_here` made this process a worker, the worker."""

    def __init__(self, settings: QueueSettings):
        self.settings = s = settings
        if s.url:
            try:
                import redis  # noqa: F401  (RedisHuey needs the client; say so plainly)
            except ImportError:
                raise QueueError("[queue] url is a Redis URL but the 'redis' package is not installed "
                                 "(pip install redis)") from None
            # JSON, never pickle: whoever can write to Redis must not run code here (wire.py)
            self.huey: Huey = RedisHuey(NAME, url=s.url, results=False, serializer=JsonSerializer())
        else:
            # 0600 before huey opens it: its storage holds requesters' photos (bot/folders.py)
            private_file(private_dir(s.sqlite_path.parent) / s.sqlite_path.name)
            # SQLite's lock is waited for 30 s, not huey's 5: the bot, its consumer threads and
            # their heartbeats share one file, and on a busy machine a writer can hold it past 5 s
            # ("database is locked" would fail an enqueue or a result).
            self.huey = SqliteHuey(NAME, filename=str(s.sqlite_path), results=False, timeout=30,
                                   serializer=JsonSerializer())
        self.task: TaskWrapper = self._register()
        self.worker: WorkerState | None = None
        self.renderer: Renderer = as_renderer(None)
        self.sweeping = threading.Lock()  # held while this process sweeps it periodically

    @classmethod
    def from_config(cls, cfg: "Config") -> "RenderQueue":
        return cls(QueueSettings.from_config(cfg))

    def _register(self) -> TaskWrapper:
        s = self.settings

        def render_job(job_id: str, task: Task | None = None) -> None:
            try:
                self.run_job(job_id)
            except _Transient as exc:
                if task is None or task.retries <= 0:  # huey would drop it silently: tell the bot
                    self.finish(job_id, error=f"gave up after {s.max_retries + 1} attempts: {exc}", permanent=True)
                    return
                log.warning("render %s failed (%s); %d retr%s left", job_id, exc, task.retries,
                            "y" if task.retries == 1 else "ies")
                raise

        # A queued message names its task "<function's module>.<name>", and huey runs only a task
        # registered under that name. This code was bot/queue.py: keeping "bot.queue.render_job"
        # lets tasks queued by an older bot (in queue.db, or on a Redis shared with older workers)
        # run after an upgrade instead of being dropped as unknown.
        render_job.__module__ = TASK_MODULE
        # huey's own retries: retry_delay, then x2 each time (retry_backoff)
        return self.huey.task(name="render_job", retries=s.max_retries, retry_delay=s.retry_delay,
                              retry_backoff=2.0, context=True)(render_job)

    # --- our keys in huey's storage -------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        v = self.huey.storage.peek_data(P + key)
        return None if v is EmptyData else v

    def put(self, key: str, value: bytes | str) -> None:
        self.huey.storage.put_data(P + key, value.encode() if isinstance(value, str) else value)

    def pop(self, key: str) -> None:
        st = self.huey.storage
        st.delete_data(P + key) if hasattr(st, "delete_data") else st.pop_data(P + key)

    def json(self, key: str) -> Any:
        v = self.get(key)
        return None if v is None else json.loads(v)

    def keys(self, prefix: str) -> list[str]:
        """Our keys starting with `prefix` (huey has no listing API; both backends are known)."""
        st = self.huey.storage
        full = P + prefix
        if isinstance(self.huey, RedisHuey):  # one hash per queue
            keys = [k.decode() for k in st.conn.hkeys(st.result_key)]
        else:  # SQLite: the kv table
            keys = [r[0] for r in st.sql("select key from kv where queue=?", (st.name,), results=True)]
        return [k[len(P):] for k in keys if k.startswith(full)]

    def job_ids(self, kind: str) -> set[str]:
        """Job ids with a `kind` key (job, wait, lease, out)."""
        return {k[len(kind) + 1:] for k in self.keys(kind + ":")}

    def live_jobs(self, now: float | None = None, grace: float = 0.0) -> set[str]:
        """Jobs whose bot is still waiting for them: its `wait:` key is fresh, and when the bot
        is a process of this machine, that process is alive."""
        now = time.time() if now is None else now
        here = socket.gethostname()
        out = set()
        for job_id in self.job_ids("wait"):
            w = self.json("wait:" + job_id)
            if not w or w["until"] + grace < now:
                continue
            host, _, pid = str(w.get("owner", "")).rpartition(":")
            if host == here and pid.isdigit() and not process_alive(int(pid)):
                continue
            out.add(job_id)
        return out

    # --- pictures: in the shared dir, or in the storage under the cap ---------------------
    # A picture's name is made here from its job id ("in-<id>", "out-<id>", wire.py); the
    # `where` a job or result carries only says shared dir or storage. A name taken from queue
    # data would let whoever writes to Redis have the bot read, then delete, any file it can.
    def _picture_file(self, key: str) -> Path:
        shared = self.settings.shared_dir
        if shared is None:
            raise QueueError("the job's picture is in a shared dir but this worker has no [queue] shared_dir")
        return shared / f"{key}.png"

    def put_picture(self, kind: str, job_id: str, data: bytes) -> dict[str, str]:
        s = self.settings
        key = picture_key(kind, job_id)
        if s.shared_dir is not None:
            path = self._picture_file(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # a reader never sees half a picture
            return {"file": path.name}  # for a reader of older code; we never read it back
        if len(data) > s.picture_cap:
            raise PictureTooBig(f"a {len(data) / 1e6:.2f} MB picture is over [queue] picture_cap_mb "
                                f"({s.picture_cap / 1e6:g} MB); raise it or set [queue] shared_dir")
        self.put("pic:" + key, data)
        return {"kv": key}

    def get_picture(self, kind: str, job_id: str, where: Any) -> bytes:
        key = picture_key(kind, job_id)
        if isinstance(where, dict) and "file" in where:
            try:  # never through a link: one planted in the shared dir would name any file
                with os.fdopen(os.open(self._picture_file(key), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
                    return f.read()
            except FileNotFoundError:  # not there (yet, on a slow shared filesystem): retried
                raise QueueError(f"picture {key} is not in the shared dir {self.settings.shared_dir}") from None
            except OSError as exc:  # ELOOP: a link where the picture should be
                raise QueueError(f"picture {key} in the shared dir is not a plain file: {exc.strerror}") from None
        data = self.get("pic:" + key)
        if data is None:
            raise QueueError(f"picture {key} is gone from the queue's storage")
        return data

    def drop_picture(self, kind: str, job_id: str, where: Any) -> None:
        if not isinstance(where, dict):
            return
        key = picture_key(kind, job_id)
        if "file" in where and self.settings.shared_dir is not None:
            self._picture_file(key).unlink(missing_ok=True)
        elif "kv" in where:
            self.pop("pic:" + key)

    # --- the worker side --------------------------------------------------------------------
    def serve_here(self, *, render: Renderer | RenderFn | None = None, name: str | None = None) -> "WorkerState":
        """Make this process a worker: jobs run with `render` (default: the engine, in batches
        of `[queue] batch` jobs) and are recorded under `name`."""
        self.renderer = worker_renderer(render, self.settings.batch, self.settings.batch_wait)
        self.worker = WorkerState(self, name)
        self.worker.start_heartbeat()
        return self.worker

    def run_job(self, job_id: str) -> None:
        if not job_id_ok(job_id):  # not one the bot made: planted in the queue (wire.py)
            log.warning("refused a render task with a job id the bot does not make: %.80r", job_id)
            return
        st = self.worker or self.serve_here()
        failpoints.hit("taken")  # tests: a worker that dies after taking the task, before its lease
        job = self.json("job:" + job_id)
        if job is None or self.get("out:" + job_id) is not None:
            return  # abandoned by the bot, or already rendered by another worker: nothing to do
        st.lease(job_id)
        started = time.monotonic()
        try:
            self._render(job_id, job, st, started)
        except PictureTooBig as exc:
            self.finish(job_id, error=f"the dream is too big to send back: {exc}", permanent=True)
            st.count(ok=False, error=str(exc), seconds=time.monotonic() - started)
        except QueueError as exc:
            st.count(ok=False, error=str(exc), seconds=0.0)
            raise _Transient(str(exc)) from None
        finally:
            st.release(job_id)
            self.pop("lease:" + job_id)
            st.beat()

    def _render(self, job_id: str, job: dict[str, Any], st: "WorkerState", started: float) -> None:
        try:
            image = dreamer.load_image(self.get_picture("in", job_id, job["input"]))
            recipe = dreamer.Recipe.from_dict(job["recipe"])
        except INPUT_ERRORS as exc:
            return self._refuse(job_id, st, str(exc), 0.0)
        if os.environ.get(GATE_ENV):
            _wait_for_gate(Path(os.environ[GATE_ENV]))
        failpoints.hit("render")
        places = None
        try:
            if isinstance(self.renderer, PlacesRenderer):  # the engine: where each class grew, too
                out, places = self.renderer.render_places(image, recipe)
            else:
                out = self.renderer.render(image, recipe)
        except INPUT_ERRORS as exc:
            return self._refuse(job_id, st, str(exc), time.monotonic() - started)
        except Exception as exc:  # out of memory, a CUDA hiccup: worth another try
            why = f"{type(exc).__name__}: {exc}"
            st.count(ok=False, error=why, seconds=time.monotonic() - started)
            raise _Transient(why) from None
        if self.get("job:" + job_id) is None or self.get("out:" + job_id) is not None:
            return  # the bot gave up on it, or a twin finished first: leave nothing behind
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        where = self.put_picture("out", job_id, buf.getvalue())
        took = time.monotonic() - started
        self.finish(job_id, output=where, worker=st.name, seconds=took, stopped_at=out.info.get(STOPPED_AT),
                    places=None if places is None else places.to_dict())
        st.count(ok=True, error=None, seconds=took)

    def _refuse(self, job_id: str, st: "WorkerState", why: str, seconds: float) -> None:
        """A bad picture or recipe: no retry can help; the bot hears at once."""
        self.finish(job_id, error=why, permanent=True)
        st.count(ok=False, error=why, seconds=seconds)

    def finish(self, job_id: str, **result: Any) -> None:
        # first result wins: a second render of the same job (after a lease expired on a worker
        # that was only slow) leaves the first one in place; a job the bot gave up gets nothing
        if self.get("out:" + job_id) is None and self.get("job:" + job_id) is not None:
            self.put("out:" + job_id, json.dumps(result))

    def consumer(self, workers: int = 1, *, in_process: bool = False) -> Consumer:
        """A huey consumer with `workers` threads; `in_process` leaves the host's signal handlers alone."""
        queue = self

        class _Quiet(Consumer):
            def _set_signal_handlers(self) -> None:
                if not in_process:
                    super()._set_signal_handlers()

            def stop(self, graceful: bool = False) -> None:
                super().stop(graceful)
                if queue.worker is not None:
                    queue.worker.stop()

        # SIGTERM (docker stop) finishes the render in progress; a second one, or SIGINT, stops now
        return _Quiet(self.huey, workers=workers, worker_type="thread", periodic=False, initial_delay=0.05,
                      max_delay=0.5, check_worker_health=not in_process, graceful_signal="TERM")


def _wait_for_gate(gate: Path, limit: float = 600.0) -> None:
    end = time.monotonic() + limit
    while not gate.exists() and time.monotonic() < end:
        time.sleep(0.05)
