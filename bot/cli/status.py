"""`run_bot.py status`: what the bot has done and what waits, read from the data folder.

It only reads (it must work on a data folder it cannot write), and says plainly what is not
there yet: a source folder the bot makes when it starts is "not made yet", never an error.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, TextIO

from bot.store.posts import PostState

if TYPE_CHECKING:
    from bot.config import Config


def open_store(cfg: "Config", dry_run: bool = False):
    """The bot's store (a dry run's own with `dry_run`)."""
    from bot.config.dryrun import store_path
    from bot.store import Store

    return Store(store_path(cfg, dry_run))


def show_status(cfg: "Config", out: TextIO) -> int:
    """`status`: next runs, last cycle and posts, requests, recovery, the render queue, sources."""
    from bot.scheduler import _describe, next_runs
    from bot.sources import SourceError, SourceKind, build_sources

    db = cfg.data_dir / "bot.db"
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"{cfg.bot.name}: config {cfg.path}")
    p(f"data dir: {cfg.data_dir}")
    store = open_store(cfg) if db.exists() else None
    running, how = _running(cfg, store)
    if running:
        p(f"running: yes (pid {running['pid']}){how}, {running.get('schedule')}; "
          f"next run {running.get('next_run') or '?'}")
    else:
        p(f"running: no; schedule {_describe(cfg.schedule)}")
        if cfg.schedule.cron:
            p("next runs once started: " + ", ".join(t.isoformat(timespec="minutes") for t in next_runs(cfg.schedule)))
        else:
            p(f"next run once started: {cfg.schedule.interval_minutes:g} min after start")
    if store is None:
        p("no cycles yet (no database)")
    else:
        last = store.last_cycle()
        if last:
            p(f"last cycle: {last['finished_at']} {last['outcome']}" + (f": {last['error']}" if last["error"] else ""))
        fails, notified = store.consecutive_failures()
        p(f"failed cycles in a row: {fails}" + (" (admin told)" if notified else ""))
        p("posts:")
        summary = store.publisher_summary()
        for name in sorted(set(summary) | set(cfg.enabled_publishers())):
            info = summary.get(name, {"counts": {}, "last": None})
            counts = info["counts"]
            text = ", ".join(f"{counts.get(s, 0)} {s}" for s in (PostState.CONFIRMED, PostState.PENDING,
                                                                 PostState.INTENDED, PostState.FAILED))
            enabled = "" if name in cfg.enabled_publishers() else " (disabled)"
            p(f"  {name}{enabled}: {text}")
            if info["last"]:
                p(f"    last: {info['last']['updated_at']} {info['last']['url'] or info['last']['remote_id']}")
        fails_list = store.recent_failures()
        if fails_list:
            p("recent post failures:")
            for f in fails_list:
                p(f"  {f['updated_at']} {f['publisher']} (attempt {f['attempts']}): {f['error']}")
        counts = store.source_counts()
        p("sources seen: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none"))
        _request_status(cfg, store, p)
        _poll_status(cfg, store, p)
        from bot.cli.report import print_recovery

        print_recovery(store, p)
    _render_queue_status(cfg, p)
    p("queue:")
    try:
        sources = build_sources(cfg)
    except Exception as exc:
        p(f"  cannot list sources: {exc}")
        sources = []
    for src in sources:
        size = None
        feed = src.kind is SourceKind.FEED  # remote: nothing on disk, its queue not counted without a store
        if store is not None or not feed:
            try:
                size = src.queue_size(store or _EmptyStore())
            except SourceError as exc:
                p(f"  {src.name} ({src.kind}): {exc}")
                continue
        if not feed and not os.path.lexists(src.path):
            made = src.kind is SourceKind.URLS or src.consume  # a URL list or a consumed folder: the bot makes it
            size_text = (f"{src.path} not made yet (the bot makes it when it starts)" if made
                         else f"{src.path} does not exist (see check-config)")
        elif size is None:
            size_text = "not counted (remote feed)" if feed else "cannot be read (see check-config)"
        else:
            size_text = f"{size} waiting"
        p(f"  {src.name} ({src.kind}): {size_text}")
    if store:
        store.close()
    return 0


def _running(cfg, store) -> tuple[dict | None, str]:
    """The scheduler's record if a bot is running on this data dir (a dry run keeps its own)."""
    from bot.config.dryrun import store_path
    from bot.queue.sweep import process_alive

    for dry in (False, True):
        if dry:
            if not store_path(cfg, True).exists():
                break
            other = open_store(cfg, True)
            info = other.get_meta("scheduler")
            other.close()
        else:
            info = store.get_meta("scheduler") if store else None
        if info and info.get("pid") and process_alive(int(info["pid"])):
            return info, " as a dry run" if dry else ""
    return None, ""


def _request_status(cfg, store, p) -> None:
    """The dream-request queue: counts by state, then what is waiting (oldest first)."""
    on = "on" if cfg.requests.enabled else "off"
    counts = store.request_counts()
    p(f"dream requests ({on}): " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none yet"))
    waiting = store.open_requests(due_only=False)
    for i, r in enumerate(waiting[:10], 1):
        extra = f"; retry after {r.retry_at}" if r.retry_at else ""
        extra += f"; last error: {r.error[:120]}" if r.error else ""
        p(f"  {i}. @{r.acct} status {r.status_id} {r.state} since {r.created_at}{extra}")
    if len(waiting) > 10:
        p(f"  ... and {len(waiting) - 10} more")


def _poll_status(cfg, store, p) -> None:
    """The polls for the next mutant: the latest few, newest first, and where each stands."""
    rows = store.latest_polls(3)
    if not cfg.polls.enabled and not rows:
        return
    p(f"polls ({'on' if cfg.polls.enabled else 'off'}): " + ("" if rows else "none yet"))
    for r in rows:
        what = {"drawn": f"drawn, not posted yet ({r.attempts} tries)", "open": f"open until {r.closes_at}",
                "closed": "closed, its winner waits for the next dream", "used": f"dreamt as dream {r.dream_id}",
                "ended": "ended without a winner"}[r.state.value]
        won = f"; {'ABCD'[r.winner]} won ({r.how}: {list(r.votes or ())})" if r.winner is not None else ""
        p(f"  poll {r.id}: {what}{won}" + (f"; {r.url}" if r.url else "") + (f"; {r.error[:160]}" if r.error else ""))


def _render_queue_status(cfg, p) -> None:
    """The render queue: tasks waiting, and each worker seen with its throughput and last error."""
    import time as _time

    from bot.queue import QueueSettings, RenderQueue
    from bot.queue.remote import queue_status

    s = QueueSettings.from_config(cfg)
    from bot.config.config_warnings import shown_url

    where = shown_url(cfg.queue.url) if cfg.queue.url else f"embedded ({s.sqlite_path})"
    if not cfg.queue.url and not s.sqlite_path.exists():
        p(f"render queue: {where}: not started yet")
        return
    try:
        info = queue_status(RenderQueue(s), stale_after=3 * s.lease_seconds)
    except Exception as exc:
        p(f"render queue: {where}: cannot read it: {exc}")
        return
    p(f"render queue: {where}: {info['pending']} waiting, {info['scheduled']} waiting to retry, "
      f"{info['jobs']} in progress" + (f"; {info['orphans']} orphaned entries (swept soon)" if info["orphans"] else ""))
    if not info["workers"]:
        p("  workers: none seen")
    for w in info["workers"]:
        ago = _time.time() - w["seen"]
        jobs = w.get("jobs") or 1  # a worker from before this field rendered one job at a time
        busy = w["busy"] and (f"busy ({w['busy'][:8]})" if jobs == 1 else f"busy ({jobs} jobs: {w['busy'][:8]}, ...)")
        state = busy if busy and w["alive"] else ("idle" if w["alive"] else "gone")
        p(f"  worker {w['name']}: {state}, seen {ago:.0f} s ago; {w['done']} done, {w['failed']} failed, "
          f"{w['per_minute']:.2f}/min, " + (f"{w['render_seconds'] / w['done']:.1f} s per render"
                                             if w["done"] else "no render yet"))
        if w["last_error"]:
            p(f"    last error: {w['last_error']['error']}")


class _EmptyStore:
    """Stands in for a store before the first run: nothing has been seen."""

    def source_blocked(self, **_kw) -> bool:
        return False
