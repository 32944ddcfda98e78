"""Running the bot on a schedule (APScheduler 3), with hot reload of the config file.

The cycle job has max_instances=1, the configured coalesce and misfire grace, and a trigger
built from [schedule] (cron or interval, in the configured time zone). A second job polls
the config file (mtime and size, then content); a changed file is validated and, if good,
applied whole: new sources, picker, recipe, caption and publishers for the next cycle (a
running cycle finishes with the parts it started with) and a rescheduled cycle job. A bad
file is logged with its problems and the running config stays. `bot.data_dir` is the one
setting that needs a restart (the store is open on it).

A third job retries posts whose backoff is over between cycles (so a post goes out soon
after its server is back, not at the next cycle), starting at once: what a dead process left
is resumed on start. A cycle that a dead process left unfinished is run again right away.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, EVENT_SCHEDULER_STARTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot import logs
from bot.config.cron import crontab_trigger
from bot.config import Config, ConfigError, ScheduleSection, load_config
from bot.folders import made_line, make_missing
from bot.parts import BuildError, build_parts
from bot.pipeline import Pipeline
from bot.render import Renderer, RenderFn
from bot.store import Store

log = logging.getLogger("bot.scheduler")

_JOB_EVENTS = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
CYCLE_JOB = "cycle"
RELOAD_JOB = "reload"
REQUESTS_JOB = "requests"
RETRY_JOB = "retry"


def next_runs(s: ScheduleSection, n: int = 3, now: datetime | None = None) -> list[datetime]:
    """The next n fire times of a schedule counted from `now` (an interval starts at `now`)."""
    now = now or datetime.now(ZoneInfo(s.timezone))
    if not s.cron:
        step = timedelta(minutes=float(s.interval_minutes))
        return [now + step * (k + 1) for k in range(n)]
    trigger = crontab_trigger(s.cron, ZoneInfo(s.timezone))
    out: list[datetime] = []
    prev = None
    for _ in range(n):
        # From prev itself, not prev + 1 s: that sum is wall-clock time, which on the night the
        # clock goes back lands an hour earlier and gave the same run again and again.
        t = trigger.get_next_fire_time(prev, now if prev is None else prev)
        if t is None:
            break
        out.append(t)
        prev = t
    return out


class BotRunner:
    def __init__(
        self,
        cfg: Config,
        store: Store,
        *,
        dry_run: bool = False,
        blocking: bool = True,
        render: Renderer | RenderFn | None = None,
        pipeline: Pipeline | None = None,
    ):
        self.cfg = cfg
        self.dry_run = dry_run
        self.store = store
        self.pipeline = pipeline or Pipeline(
            build_parts(cfg, store, dry_run=dry_run), store, render=render)
        cls = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler: BaseScheduler = cls(timezone=ZoneInfo(cfg.schedule.timezone))
        self._stamp = _stamp(cfg.path)
        self._cycle_job: Any = None
        self._render = render
        self.requests = None if dry_run else _build_requests(cfg, store, render)
        self._stream: Any = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Add the jobs and start (for BlockingScheduler this returns only on shutdown)."""
        self._add_cycle_job(catch_up=self.store.has_unfinished_cycle())
        self._add_retry_job()
        self._add_reload_job()
        self._add_requests_job()
        self._sync_stream()
        self.scheduler.add_listener(self._on_event, mask=_JOB_EVENTS | EVENT_SCHEDULER_STARTED)
        self.scheduler.start()

    def _on_event(self, event: Any) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            log.info("%s started; schedule %s; next run %s", self.cfg.bot.name, _describe(self.cfg.schedule),
                     self._next_run_text())
        self._save_next_run()

    def shutdown(self, wait: bool = True, timeout: float = 3600) -> None:
        """Stop scheduling; with `wait`, return once the running cycle (if any) is done.
        APScheduler's own shutdown(wait=True) holds its job-store lock while it waits, so a
        job that touches the scheduler at that moment would deadlock it; we wait ourselves."""
        self._stop_stream()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if wait:
            self.pipeline.wait_idle(timeout)
        self.store.set_meta("scheduler", None)

    def _add_cycle_job(self, catch_up: bool = False) -> None:
        s = self.cfg.schedule
        extra = {"next_run_time": datetime.now(ZoneInfo(s.timezone))} if catch_up else {}
        if catch_up:
            log.warning("the last cycle did not finish (the bot was stopped or died); running it again now")
        self._cycle_job = self.scheduler.add_job(
            self._run_cycle, s.trigger(), id=CYCLE_JOB, name="dream cycle", replace_existing=True,
            max_instances=1, coalesce=s.coalesce, misfire_grace_time=s.misfire_grace_seconds, **extra,
        )

    def _add_retry_job(self) -> None:
        every = min(60.0, max(1.0, self.cfg.bot.retry_seconds))
        self.scheduler.add_job(self._run_retries, IntervalTrigger(seconds=every), id=RETRY_JOB, name="retries",
                               replace_existing=True, max_instances=1, coalesce=True,
                               next_run_time=datetime.now(ZoneInfo(self.cfg.schedule.timezone)))

    def _run_retries(self) -> None:
        try:
            self.pipeline.retry_due()
        except Exception:  # retry_due records its own failures; this is the last net
            log.exception("retry job crashed")

    def _add_reload_job(self) -> None:
        secs = self.cfg.bot.reload_check_seconds
        if self.scheduler.get_job(RELOAD_JOB):
            self.scheduler.remove_job(RELOAD_JOB)
        if secs > 0:
            self.scheduler.add_job(self.check_reload, IntervalTrigger(seconds=secs), id=RELOAD_JOB,
                                   name="config watch", max_instances=1, coalesce=True)

    def _add_requests_job(self) -> None:
        if self.scheduler.get_job(REQUESTS_JOB):
            self.scheduler.remove_job(REQUESTS_JOB)
        if self.requests is not None:
            secs = self.cfg.requests.poll_seconds
            # first tick right away: requests that waited through a restart resume at once
            self.scheduler.add_job(self._run_requests, IntervalTrigger(seconds=secs), id=REQUESTS_JOB,
                                   name="dream requests", max_instances=1, coalesce=True,
                                   next_run_time=datetime.now(ZoneInfo(self.cfg.schedule.timezone)))

    def _apply_requests(self, new: Config, old: Config) -> None:
        """One worker for the bot's life (two would answer the same request twice): a
        changed config reaches it between ticks."""
        if not new.requests.enabled:
            self.requests = None
        elif self.requests is None:
            self.requests = _build_requests(new, self.store, self._render)
        else:
            from bot.requests.settings import RequestSettings

            fresh_client = new.publishers.mastodon != old.publishers.mastodon
            self.requests.reconfigure(RequestSettings.from_config(new),
                                      _build_requests(new, self.store, self._render).client if fresh_client else None)
        if self.scheduler.running and (new.requests != old.requests or self.requests is None):
            self._add_requests_job()
        if new.requests != old.requests or new.publishers.mastodon != old.publishers.mastodon:
            self._stop_stream()
            self._sync_stream(new)

    def _sync_stream(self, cfg: Config | None = None) -> None:
        cfg = cfg or self.cfg
        if self.requests is None or not cfg.requests.streaming or self._stream is not None:
            return
        from bot.requests.stream import MentionStream

        self._stream = MentionStream(self.requests.client.streaming, self.wake_requests)
        try:
            self._stream.start()
            log.info("requests: listening on the streaming API too")
        except Exception as exc:  # polling still works; say why streaming does not
            log.warning("requests: cannot open the stream (%s); polling every %gs only",
                        logs.redact(str(exc)), cfg.requests.poll_seconds)
            self._stream = None

    def _stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()

    def wake_requests(self) -> None:
        """Run the request job now (the stream saw a mention or reconnected)."""
        if self.requests is not None and self.scheduler.running:
            self.scheduler.add_job(self._run_requests, id=REQUESTS_JOB + "-now", name="dream requests (woken)",
                                   replace_existing=True, max_instances=1)

    def _run_requests(self) -> None:
        try:
            if self.requests is not None:
                self.requests.tick()
        except Exception:  # tick records its own failures; this is the last net
            log.exception("requests job crashed")

    def _run_cycle(self) -> None:
        try:
            self.pipeline.run_cycle()
        except Exception:  # run_cycle records its own failures; this is the last net
            log.exception("cycle crashed")

    # --- hot reload ------------------------------------------------------------------------
    def check_reload(self) -> bool | None:
        """Apply the config file if it changed: True applied, False invalid (kept the old
        one), None unchanged."""
        stamp = _stamp(self.cfg.path)
        if stamp == self._stamp:
            return None
        old_stamp, self._stamp = self._stamp, stamp  # a bad file is reported once, not every poll
        if stamp is not None and old_stamp is not None and stamp[2] == old_stamp[2]:
            return None  # touched, same content
        try:
            new = load_config(self.cfg.path, need_secrets=not self.dry_run)
        except ConfigError as exc:
            log.error("config %s changed but cannot be used; keeping the running config.\n%s", self.cfg.path, exc)
            return False
        return self.apply(new)

    def apply(self, new: Config) -> bool:
        try:
            parts = build_parts(new, self.store, dry_run=self.dry_run)
        except BuildError as exc:
            log.error("config %s is valid but cannot be applied (%s); keeping the running config", new.path, exc)
            return False
        running = self.pipeline.data_dir  # the store is open there; the parts carry it on
        if new.data_dir != running:
            log.warning("bot.data_dir changed to %s; that needs a restart, still using %s", new.data_dir, running)
            parts = dataclasses.replace(parts, data_dir=running)
        else:  # a source added while running gets its folder (or list) as at start
            try:
                for made in make_missing(new.model_dump(), new.path):
                    log.info("%s", made_line(made))
            except OSError as exc:
                log.warning("cannot make %s: %s", exc.filename, exc.strerror)
        logs.add_secrets(new.secret_values())
        old = self.cfg
        self.pipeline.parts = parts
        if new.schedule != old.schedule:
            s = new.schedule
            self.scheduler.modify_job(CYCLE_JOB, coalesce=s.coalesce, misfire_grace_time=s.misfire_grace_seconds)
            self._cycle_job = self.scheduler.reschedule_job(CYCLE_JOB, trigger=s.trigger())
        self.cfg = new
        if new.bot.reload_check_seconds != old.bot.reload_check_seconds:
            self._add_reload_job()
        if new.bot.retry_seconds != old.bot.retry_seconds:
            self._add_retry_job()
        if not self.dry_run:
            self._apply_requests(new, old)
        if new.bot.log_level != old.bot.log_level:
            logging.getLogger().setLevel(new.bot.log_level)
        changed = [k for k in type(new).model_fields if getattr(new, k) != getattr(old, k)]
        log.info("config reloaded (changed: %s); next run %s", ", ".join(changed) or "nothing", self._next_run_text())
        self._save_next_run()
        return True

    # --- what `status` shows ---------------------------------------------------------------
    def next_run_time(self) -> datetime | None:
        # Read from our own Job object, not get_job(): this runs in job listeners, where taking
        # the scheduler's lock can deadlock against a shutdown (see shutdown()).
        return getattr(self._cycle_job, "next_run_time", None)

    def _next_run_text(self) -> str:
        t = self.next_run_time()
        return t.isoformat(timespec="seconds") if t else "when the scheduler starts"

    def _save_next_run(self) -> None:
        t = self.next_run_time()
        try:
            self.store.set_meta("scheduler", {
                "pid": os.getpid(),
                "next_run": t.isoformat(timespec="seconds") if t else None,
                "schedule": _describe(self.cfg.schedule),
            })
        except Exception as exc:  # status info only; never worth failing a job for
            log.debug("could not save the next run time: %s", exc)


def _build_requests(cfg: Config, store: Store, render: Renderer | RenderFn | None):
    if not cfg.requests.enabled:
        return None
    from bot.requests.worker import build_worker

    return build_worker(cfg, store, render=render)


def _describe(s: ScheduleSection) -> str:
    what = f"cron '{s.cron}'" if s.cron else f"every {s.interval_minutes:g} min"
    return f"{what} ({s.timezone})"


def _stamp(path: Path) -> tuple[int, int, str] | None:
    try:
        st = os.stat(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, digest)

