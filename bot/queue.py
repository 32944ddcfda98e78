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
image, bad recipe) are reported back at once and never retried.

The waiting bot keeps a `wait:` key alive for each job; a job whose waiter is gone (the bot
was killed) is an orphan, and `sweep` (at start and periodically, in the bot and in every
worker, for SQLite and Redis alike) removes it with its pictures, output and lease, along
with the records of dead workers. This module is the worker's side; the bot's side (waiting,
sweeping, what `status` shows) is bot/queue_bot.py.
"""
from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dreamer

from bot import failpoints
from bot.render import INPUT_ERRORS, Renderer, RenderFn, as_renderer

if TYPE_CHECKING:
    from huey import Huey

    from bot.config import Config

log = logging.getLogger("bot.queue")

NAME = "lucid-dream-bot"
P = "ldb:"  # prefix of our keys in the queue's storage
SLEEP_ENV = "LUCID_TEST_RENDER_SLEEP"  # tests: seconds added to each render (to kill mid-render)


class QueueError(Exception):
    """The queue cannot do this (unreachable, picture too big, no worker answered)."""


class PictureTooBig(QueueError):
    """Over `[queue] picture_cap_mb` with no shared dir: no retry changes that."""


class RenderFailed(Exception):
    """A worker reported a permanent failure for this render (not retried)."""


@dataclass(frozen=True)
class QueueSettings:
    url: str | None
    sqlite_path: Path
    shared_dir: Path | None
    picture_cap: int
    lease_seconds: float
    max_retries: int
    retry_delay: float
    render_timeout: float
    parallel: int

    @classmethod
    def from_config(cls, cfg: "Config") -> "QueueSettings":
        q = cfg.queue
        return cls(
            url=q.url, sqlite_path=cfg.data_dir / "queue.db",
            shared_dir=cfg.resolve(q.shared_dir) if q.shared_dir else None,
            picture_cap=int(q.picture_cap_mb * 1_000_000), lease_seconds=q.lease_seconds,
            max_retries=q.max_retries, retry_delay=q.retry_delay_seconds,
            render_timeout=q.render_timeout_minutes * 60, parallel=q.parallel,
        )


# --- the huey instance and its one task ------------------------------------------------------
def make_huey(s: QueueSettings) -> "Huey":
    from huey import RedisHuey, SqliteHuey

    if s.url:
        try:
            import redis  # noqa: F401  (RedisHuey needs the client; say so plainly)
        except ImportError:
            raise QueueError("[queue] url is a Redis URL but the 'redis' package is not installed "
                             "(pip install redis)") from None
        h: Huey = RedisHuey(NAME, url=s.url, results=False)
    else:
        s.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        h = SqliteHuey(NAME, filename=str(s.sqlite_path), results=False)
    h._ldb_settings = s  # type: ignore[attr-defined]
    h._ldb_task = _register(h, s)  # type: ignore[attr-defined]
    return h


def job_ids(h: "Huey", kind: str) -> set[str]:
    """Job ids with a `kind` key (job, wait, lease, out)."""
    return {k[len(kind) + 1:] for k in _keys(h, kind + ":")}


def live_jobs(h: "Huey", now: float | None = None, grace: float = 0.0) -> set[str]:
    """Jobs whose bot is still waiting for them: its `wait:` key is fresh, and when the bot
    is a process of this machine, that process is alive."""
    now = time.time() if now is None else now
    here = socket.gethostname()
    out = set()
    for job_id in job_ids(h, "wait"):
        w = _json(h, "wait:" + job_id)
        if not w or w["until"] + grace < now:
            continue
        host, _, pid = str(w.get("owner", "")).rpartition(":")
        if host == here and pid.isdigit() and not process_alive(int(pid)):
            continue
        out.add(job_id)
    return out


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _register(h: "Huey", s: QueueSettings):
    # huey's own retries: retry_delay, then x2 each time (retry_backoff)
    @h.task(name="render_job", retries=s.max_retries, retry_delay=s.retry_delay, retry_backoff=2.0, context=True)
    def render_job(job_id: str, task=None) -> None:
        try:
            run_job(h, job_id)
        except _Transient as exc:
            if task is None or task.retries <= 0:  # huey would drop it silently: tell the bot
                _finish(h, job_id, error=f"gave up after {s.max_retries + 1} attempts: {exc}", permanent=True)
                return
            log.warning("render %s failed (%s); %d retr%s left", job_id, exc, task.retries,
                        "y" if task.retries == 1 else "ies")
            raise

    return render_job


class _Transient(Exception):
    pass


# --- storage helpers ------------------------------------------------------------------------
def _get(h: "Huey", key: str) -> bytes | None:
    from huey.constants import EmptyData

    v = h.storage.peek_data(P + key)
    return None if v is EmptyData else v


def _put(h: "Huey", key: str, value: bytes | str) -> None:
    h.storage.put_data(P + key, value.encode() if isinstance(value, str) else value)


def _pop(h: "Huey", key: str) -> None:
    h.storage.delete_data(P + key) if hasattr(h.storage, "delete_data") else h.storage.pop_data(P + key)


def _json(h: "Huey", key: str) -> Any:
    v = _get(h, key)
    return None if v is None else json.loads(v)


def _keys(h: "Huey", prefix: str) -> list[str]:
    """Our keys starting with `prefix` (huey has no listing API; both backends are known)."""
    st = h.storage
    full = P + prefix
    if hasattr(st, "result_key"):  # Redis: one hash per queue
        keys = [k.decode() for k in st.conn.hkeys(st.result_key)]
    else:  # SQLite: the kv table
        keys = [r[0] for r in st.sql("select key from kv where queue=?", (st.name,), results=True)]
    return [k[len(P):] for k in keys if k.startswith(full)]


def put_picture(h: "Huey", s: QueueSettings, key: str, data: bytes) -> dict[str, str]:
    if s.shared_dir is not None:
        path = s.shared_dir / f"{key}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a reader never sees half a picture
        return {"file": path.name}
    if len(data) > s.picture_cap:
        raise PictureTooBig(f"a {len(data) / 1e6:.2f} MB picture is over [queue] picture_cap_mb "
                         f"({s.picture_cap / 1e6:g} MB); raise it or set [queue] shared_dir")
    _put(h, "pic:" + key, data)
    return {"kv": key}


def get_picture(h: "Huey", s: QueueSettings, where: dict[str, str]) -> bytes:
    if "file" in where:
        if s.shared_dir is None:
            raise QueueError("the job's picture is in a shared dir but this worker has no [queue] shared_dir")
        return (s.shared_dir / where["file"]).read_bytes()
    data = _get(h, "pic:" + where["kv"])
    if data is None:
        raise QueueError(f"picture {where['kv']} is gone from the queue's storage")
    return data


def drop_picture(h: "Huey", s: QueueSettings, where: dict[str, str] | None) -> None:
    if not where:
        return
    if "file" in where and s.shared_dir is not None:
        (s.shared_dir / where["file"]).unlink(missing_ok=True)
    elif "kv" in where:
        _pop(h, "pic:" + where["kv"])


# --- the worker side ------------------------------------------------------------------------
class WorkerState:
    """This process's identity and counters, written to the queue's storage (`status` reads it)."""

    def __init__(self, h: "Huey", name: str | None = None):
        self.h = h
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lock = threading.Lock()
        self.stats: dict[str, Any] = {"name": self.name, "pid": os.getpid(), "started": time.time(), "seen": time.time(),
                                      "done": 0, "failed": 0, "render_seconds": 0.0, "last_error": None,
                                      "busy": None}
        self.leases: dict[str, float] = {}
        self._stop = threading.Event()

    def beat(self) -> None:
        s: QueueSettings = self.h._ldb_settings  # type: ignore[attr-defined]
        with self.lock:
            self.stats["seen"] = time.time()
            for job_id in list(self.leases):
                until = time.time() + s.lease_seconds
                self.leases[job_id] = until
                _put(self.h, "lease:" + job_id, json.dumps({"worker": self.name, "until": until}))
            if not self._stop.is_set():  # a stopped worker is off the list for good (see stop)
                _put(self.h, "worker:" + self.name, json.dumps(self.stats))

    def start_heartbeat(self) -> None:
        s: QueueSettings = self.h._ldb_settings  # type: ignore[attr-defined]

        def loop() -> None:
            while not self._stop.wait(max(0.2, s.lease_seconds / 4)):
                try:
                    self.beat()
                except Exception as exc:  # the queue's storage blinked; the next beat tries again
                    log.warning("worker heartbeat failed: %s", exc)

        threading.Thread(target=loop, name="queue-heartbeat", daemon=True).start()
        self.beat()
        from bot.queue_bot import start_sweeper

        start_sweeper(self.h, self._stop)

    def stop(self) -> None:
        """Stop beating and take this worker off the list (`status`): it stopped, it is not lost."""
        with self.lock:
            self._stop.set()
            try:
                _pop(self.h, "worker:" + self.name)
            except Exception as exc:  # the queue's storage is gone already; the sweep will do it
                log.debug("could not remove worker %s: %s", self.name, exc)


_state: WorkerState | None = None
_render_fn: Renderer | None = None


def serve_here(h: "Huey", *, render: Renderer | RenderFn | None = None, name: str | None = None) -> WorkerState:
    """Make this process a worker: jobs run with `render` (default: the engine) and are
    recorded under `name`."""
    global _state, _render_fn
    _render_fn = as_renderer(render)
    _state = WorkerState(h, name)
    _state.start_heartbeat()
    return _state


def run_job(h: "Huey", job_id: str) -> None:
    s: QueueSettings = h._ldb_settings  # type: ignore[attr-defined]
    st = _state or serve_here(h)
    failpoints.hit("taken")  # tests: a worker that dies after taking the task, before its lease
    job = _json(h, "job:" + job_id)
    if job is None or _get(h, "out:" + job_id) is not None:
        return  # abandoned by the bot, or already rendered by another worker: nothing to do
    with st.lock:
        st.leases[job_id] = time.time() + s.lease_seconds
        st.stats["busy"] = job_id
    st.beat()
    started = time.monotonic()
    try:
        try:
            image = dreamer.load_image(get_picture(h, s, job["input"]))
            recipe = dreamer.Recipe.from_dict(job["recipe"])
        except INPUT_ERRORS as exc:
            _finish(h, job_id, error=str(exc), permanent=True)
            _count(st, ok=False, error=str(exc), seconds=0.0)
            return
        if os.environ.get(SLEEP_ENV):
            time.sleep(float(os.environ[SLEEP_ENV]))
        failpoints.hit("render")
        try:
            out = (_render_fn or as_renderer(None)).render(image, recipe)
        except INPUT_ERRORS as exc:
            _finish(h, job_id, error=str(exc), permanent=True)
            _count(st, ok=False, error=str(exc), seconds=time.monotonic() - started)
            return
        except Exception as exc:  # out of memory, a CUDA hiccup: worth another try
            why = f"{type(exc).__name__}: {exc}"
            _count(st, ok=False, error=why, seconds=time.monotonic() - started)
            raise _Transient(why) from None
        if _get(h, "job:" + job_id) is None or _get(h, "out:" + job_id) is not None:
            return  # the bot gave up on it, or a twin finished first: leave nothing behind
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        where = put_picture(h, s, "out-" + job_id, buf.getvalue())
        took = time.monotonic() - started
        _finish(h, job_id, output=where, worker=st.name, seconds=took)
        _count(st, ok=True, error=None, seconds=took)
    except _Transient:
        raise
    except PictureTooBig as exc:
        _finish(h, job_id, error=f"the dream is too big to send back: {exc}", permanent=True)
        _count(st, ok=False, error=str(exc), seconds=time.monotonic() - started)
    except QueueError as exc:
        _count(st, ok=False, error=str(exc), seconds=0.0)
        raise _Transient(str(exc)) from None
    finally:
        with st.lock:
            st.leases.pop(job_id, None)
            st.stats["busy"] = None
        _pop(h, "lease:" + job_id)
        st.beat()


def _finish(h: "Huey", job_id: str, **result: Any) -> None:
    # first result wins: a second render of the same job (after a lease expired on a worker
    # that was only slow) leaves the first one in place; a job the bot gave up gets nothing
    if _get(h, "out:" + job_id) is None and _get(h, "job:" + job_id) is not None:
        _put(h, "out:" + job_id, json.dumps(result))


def _count(st: WorkerState, *, ok: bool, error: str | None, seconds: float) -> None:
    with st.lock:
        st.stats["done" if ok else "failed"] += 1
        st.stats["render_seconds"] += seconds
        if error:
            st.stats["last_error"] = {"at": time.time(), "error": error[:300]}


# --- running consumers ----------------------------------------------------------------------
def consumer(h: "Huey", workers: int = 1, *, in_process: bool = False):
    """A huey consumer with `workers` threads; `in_process` leaves the host's signal handlers alone."""
    from huey.consumer import Consumer

    class _Quiet(Consumer):
        def _set_signal_handlers(self) -> None:
            if not in_process:
                super()._set_signal_handlers()

        def stop(self, graceful: bool = False) -> None:
            super().stop(graceful)
            if _state is not None and _state.h is h:
                _state.stop()

    # SIGTERM (docker stop) finishes the render in progress; a second one, or SIGINT, stops now
    return _Quiet(h, workers=workers, worker_type="thread", periodic=False, initial_delay=0.05,
                  max_delay=0.5, check_worker_health=not in_process, graceful_signal="TERM")


def __getattr__(name: str) -> Any:
    # The bot's side lives in bot/queue_bot.py; these names stay reachable from here.
    if name in ("RemoteRender", "queue_status", "sweep", "orphans"):
        from bot import queue_bot

        return getattr(queue_bot, name)
    raise AttributeError(f"module 'bot.queue' has no attribute {name!r}")
