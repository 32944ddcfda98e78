"""One cycle of the bot: source -> picker -> render -> caption -> publish, recorded in the store.

A cycle first picks up what a dead process left (`_resume`: a photo taken but not dreamt is
dreamt again, a post "intended" is looked up with `find_existing` before anything is posted
again; neither counts as a failure, but the same item killing the bot `bot.crash_limit`
times in a row is set aside), then finishes what earlier cycles left (posts pending, or
failed with a transient error once their backoff is over), then makes one new dream and
posts it on every enabled publisher. `retry_due` does the middle part alone, between cycles.
Only one of them runs at a time: a thread lock within the process and a lock file in the
data dir across processes (`--once` beside a running bot).
A failure is logged and stored; it never stops the next cycle. See bot/notify.py for what
the admin is told, and bot/parts.py for the parts a cycle is built from.
"""
from __future__ import annotations

import logging
import random
import re
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from filelock import FileLock, Timeout

from bot import failpoints, kept_photos, logs, notify
from bot.caption import dive_alt, dreamt, inert, make_caption
from bot.parts import Parts
from bot.picker import Combo, PickError
from bot.posting import PostOutcome, Unstored, publish_row
from bot.publishers.base import PublishError
from bot.publishers.outbox import save_source_photo
from bot.render import DiveSpec, Renderer, RenderFn, Work, as_renderer, is_engine_error, make
from bot.sources import SourceError, SourceItem
from bot.sources.backoff import SourceBackoff
from bot.store import CycleOutcome, NewDream, PostState, StoreError

if TYPE_CHECKING:
    from bot.store import PostRow, Store

log = logging.getLogger("bot.pipeline")

_DREAM_NAME = re.compile(r"\d{8}-\d{6}-[0-9a-f]{8}\.(png|json)")  # what _new_dream writes
_DIVE_PARTS = re.compile(r"\d{8}-\d{6}-[0-9a-f]{8}\.mp4\.parts")  # a dive's keyframes while it is made


class Run(Enum):  # what holds a pipeline's lock: a cycle waits for a retry run, never the reverse
    CYCLE = "a cycle"
    RETRY = "a retry"


@dataclass
class CycleResult:
    outcome: CycleOutcome
    message: str
    dream_id: int | None = None
    posts: dict[str, PostOutcome] = field(default_factory=dict)  # publisher -> what became of its post
    errors: list[str] = field(default_factory=list)


class Pipeline:
    def __init__(
        self,
        parts: Parts,
        store: "Store",
        *,
        render: Renderer | RenderFn | None = None,
        rng: random.Random | None = None,
    ):
        self.parts = parts
        self.store = store
        self.renderer = as_renderer(render)
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._doing: Run | None = None  # what holds _lock
        self._next_source = 0
        self.source_backoff = SourceBackoff()  # sources that failed lately, skipped for a while

    @property
    def data_dir(self) -> Path:
        """The data folder: the parts' (a reload keeps the one the bot started with, scheduler.py)."""
        return self.parts.data_dir

    def wait_idle(self, timeout: float) -> bool:
        """Block until no cycle is running (False if still running after `timeout` s)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False

    # --- one cycle -------------------------------------------------------------------------
    def run_cycle(self) -> CycleResult:
        return self._locked(self._cycle, Run.CYCLE)  # waits for a retry run, never for a cycle

    def retry_due(self) -> CycleResult:
        """Between cycles: pick up what a dead process left and retry the posts whose backoff
        is over (no new dream). Skipped while a cycle runs."""
        return self._locked(self._retries, Run.RETRY, quiet=True)

    def _locked(self, fn: Callable[[Parts], CycleResult], run: Run, quiet: bool = False) -> CycleResult:
        level, what = logging.DEBUG if quiet else logging.WARNING, run.value
        got = self._lock.acquire(blocking=False)
        if not got and run is Run.CYCLE and self._doing is Run.RETRY:
            got = self._lock.acquire(timeout=3600)  # retries are short; a cycle must not be lost to one
        if not got:
            log.log(level, "%s was skipped: a cycle is still running", what)
            return CycleResult(CycleOutcome.SKIPPED, "a cycle is still running")
        self._doing = run
        parts = self.parts  # one set for the whole run, even if a reload swaps them meanwhile
        try:
            with _file_lock(parts.data_dir / "bot.lock") as locked:
                if not locked:
                    log.log(level, "another bot process is running a cycle on %s; %s was skipped", parts.data_dir, what)
                    return CycleResult(CycleOutcome.SKIPPED, "another bot process holds the lock")
                return fn(parts)
        finally:
            self._doing = None
            self._lock.release()

    def _cycle(self, parts: Parts) -> CycleResult:
        store = self.store
        self._resume(parts)  # before this cycle's row: an unfinished one is a dead process's
        cycle_id = store.start_cycle()
        result = CycleResult(CycleOutcome.IDLE, "")
        try:
            self._retry_unfinished(parts, result)
            result.errors += parts.polls.step(draw=False) if parts.polls else []  # its winner: this dream
            self._new_dream(parts, result)
            result.errors += parts.polls.step(draw=True) if parts.polls else []  # the next poll
        except Exception as exc:  # the next cycle must still run, whatever broke
            expected = _expected(exc)
            msg = logs.redact(str(exc) if expected else f"{type(exc).__name__}: {exc}")
            log.error("cycle failed: %s", msg, exc_info=not expected)
            result.errors.append(msg)
        if result.errors:
            result.outcome = CycleOutcome.FAILED
        if not result.message:
            result.message = "; ".join(result.errors) or "nothing to do"
        store.finish_cycle(cycle_id, result.outcome, "; ".join(result.errors)[:2000] or None)
        log.info("cycle %s: %s", result.outcome, result.message)
        notify.failed_cycles(store, parts, cycle_id, result.outcome, result.errors)
        notify.ended_items(store, parts.admin, parts.bot.name, parts.publishers.get("mastodon"))
        return result

    def _retries(self, parts: Parts) -> CycleResult:
        self._resume(parts)
        result = CycleResult(CycleOutcome.IDLE, "")
        self._retry_unfinished(parts, result)
        result.errors += parts.polls.step(draw=False) if parts.polls else []
        if result.errors or result.message:
            log.info("retries: %s", "; ".join(filter(None, [result.message, *result.errors])))
        notify.ended_items(self.store, parts.admin, parts.bot.name, parts.publishers.get("mastodon"))
        return result

    def _resume(self, parts: Parts) -> None:
        """What a dead process left. Only called under the cycle locks, so nothing found
        here can still be in progress."""
        store, limit = self.store, parts.bot.crash_limit
        if store.release_interrupted_cycles():
            log.warning("the last cycle was interrupted (the bot was stopped or died); resuming")
        released = store.release_orphan_sources(limit)
        if released.resumed:
            log.warning("%d photo(s) were interrupted mid-dream; they will be dreamt again", released.resumed)
        for what in released.given_up + store.release_interrupted_posts(limit):
            log.error("crash loop: %s", what)
        _drop_stray_dreams(store, parts.data_dir / "dreams")
        kept_photos.sweep(store, parts.keep, parts.data_dir)  # the operator's remix_keep_days, and strays

    def _retry_unfinished(self, parts: Parts, result: CycleResult) -> None:
        done, waiting = [], []
        for row in self.store.unfinished_posts(parts.publishers):
            log.info("retrying post of dream %d on %s (state %s; %d attempt(s), %d failure(s) in a row)",
                     row.dream_id, row.publisher, row.state, row.attempts, row.failures)
            state = self._publish(row, parts)
            if state == PostState.CONFIRMED:
                done.append(f"{row.publisher} dream {row.dream_id}")
            elif state == Unstored.WAITING:
                waiting.append(f"{row.publisher} dream {row.dream_id}")
            else:
                result.errors.append(f"{row.publisher}: dream {row.dream_id} still not posted")
        if done:
            result.outcome = CycleOutcome.POSTED
            result.message = "finished earlier posts: " + ", ".join(done)
        if waiting:
            result.message = "; ".join(filter(None, [result.message, "waiting for rate limits: " + ", ".join(waiting)]))

    def _publish(self, row: "PostRow", parts: Parts) -> PostOutcome:
        return publish_row(self.store, parts.publishers.get(row.publisher), row, parts.backoff,
                           parts.bot.max_attempts)

    def _new_dream(self, parts: Parts, result: CycleResult) -> None:
        item, source_errors = self._next_item(parts)
        if item is None:
            if source_errors:
                result.errors.extend(source_errors)
            elif not result.message:
                result.message = "no new photo in any source"
            return
        store = self.store
        source_id = store.take_source(item.source, item.url, item.sha256, item.credit.to_dict())
        dive_row = None
        try:
            # A dive a dead process was making of this photo is resumed (same classes, seed and
            # video path: the engine picks up its keyframes), never started again afresh.
            dive_row = store.dive_in_progress(item.sha256)
            if dive_row is not None:
                combo = Combo(tuple(int(c[0]) for c in dive_row.classes),
                              tuple(float(c[2]) for c in dive_row.classes), dive_row.seed)
                log.warning("resuming the dive %s that was interrupted", dive_row.video_path.name)
            else:  # the winner of a poll that closed, else the picker's own draw
                combo = (parts.polls and parts.polls.winner()) or parts.picker.pick(
                    store.recent_combos(parts.picker.cfg.no_repeat), self.rng)
            chosen = parts.polls.chosen(combo) if parts.polls else None
            if dive_row is None and parts.recipe.mode != "lucid":
                # randomise, deepdream and guide dream no class: of the draw only its seed is
                # used. Its classes went into the store, the recipe and a dive's class_names as
                # the post's (a dive resumed keeps what it began with: its keyframes' recipe).
                combo = Combo((), (), combo.seed)
            labels = parts.picker.labels
            names = combo.names(labels)
            # what the operator reads: the picker's classes only where the mode dreams them
            what = dreamt(names, parts.recipe.mode, parts.recipe.guide)[0]
            failpoints.hit("dream")  # tests: die with the photo taken and no dream yet
            if dive_row is None:  # a new dream: a dive when one is due, else a still
                post_key = store.new_post_key()
                stem = parts.data_dir / "dreams" / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{post_key[:8]}"
                if parts.dive.is_due(store.count_dreams()) and item.sha256:
                    dive_row = store.start_dive(
                        sha256=item.sha256, post_key=post_key, seed=combo.seed, combo_key=combo.key,
                        classes=[[i, n, w] for i, n, w in zip(combo.class_ids, names, combo.weights)],
                        video_path=stem.with_suffix(".mp4"))
            else:
                post_key, stem = dive_row.post_key, dive_row.video_path.with_suffix("")
            dive = None if dive_row is None else DiveSpec(parts.dive.settings(), {"class_names": names})
            log.info("diving into %s with %s from %s" if dive else "dreaming %s into %s from %s", what,
                     item.credit.title or item.url or "a photo", item.source)
            made = make(self.renderer, Work(item.image, combo.recipe_classes(labels), combo.seed,
                                            parts.dive.recipe(parts.recipe) if dive else parts.recipe, stem, dive))
            if made.dive is not None:
                d = made.dive
                log.info("dive %s made: %d frames at %d fps, %dx%d%s", d.video.name, d.frames, d.fps, *d.size,
                         f" (resumed at frame {d.resumed_at})" if d.resumed_at else "")
            recipe, path, places = made.recipe, made.picture, made.places  # a dive's creatures move: no places
            save_source_photo(item.image, path)  # the gallery's "before"
            kept = kept_photos.keep(parts.keep, item.image, post_key, parts.data_dir)  # for remixes by reply
            caption = make_caption(
                parts.caption, bot=parts.bot.name, class_names=names, credit=item.credit,
                description=item.description, model=recipe.model, seed=combo.seed,
                places=places, names=dict(zip(combo.class_ids, names)), language=parts.language,
                mode=recipe.mode, guide=recipe.guide,
            )
            alt_text = caption.alt_text if made.dive is None else dive_alt(caption.alt_text, made.dive.duration)
        except Exception as exc:
            why = logs.redact(f"{type(exc).__name__}: {exc}")
            if dive_row is not None:
                store.drop_dive(dive_row.id)  # an error, not a crash: a later try starts afresh
            store.finish_source(source_id, ok=False, error=why)
            item.failed(why)
            raise
        dream_id = store.add_dream(NewDream(
            post_key=post_key, source_id=source_id, recipe=recipe.to_dict(), seed=combo.seed,
            classes=tuple(zip(combo.class_ids, names, combo.weights)),
            combo_key=combo.key, file_path=path, caption=chosen.captioned(caption.text) if chosen else caption.text,
            alt_text=alt_text, tags=caption.tags, source_url=item.public_url, title=inert(item.credit.title) or None,
            publishers=tuple(parts.publishers), video_path=made.video, source_photo=kept,
            poll_id=chosen.poll_id if chosen else None,
        ))
        failpoints.hit("recorded")  # tests: die with the dream saved and the photo still in the inbox
        item.done()
        store.settle_source(source_id)
        result.dream_id = dream_id
        for name in parts.publishers:
            state = self._publish(store.post(dream_id, name), parts)
            result.posts[name] = state
            if state not in (PostState.CONFIRMED, Unstored.WAITING):
                result.errors.append(f"{name}: not posted" + (" (will retry)" if state == PostState.FAILED else ""))
        if result.outcome != CycleOutcome.POSTED:
            posted = PostState.CONFIRMED in result.posts.values() or not result.posts
            result.outcome = CycleOutcome.POSTED if posted else CycleOutcome.WAITING
        made = f"dream {dream_id}: {what}; " + ", ".join(f"{k} {v}" for k, v in result.posts.items())
        result.message = f"{result.message}; {made}" if result.message else made

    def _next_item(self, parts: Parts) -> tuple[SourceItem | None, list[str]]:
        """Sources take turns (round robin), so one busy feed cannot starve a folder; one that
        failed lately is skipped until its backoff is over (sources/backoff.py)."""
        errors = []
        n = len(parts.sources)
        self.source_backoff.keep_only({src.name for src in parts.sources})
        for k in range(n):
            i = (self._next_source + k) % n
            src = parts.sources[i]
            skipped = self.source_backoff.skipped(src)
            if skipped is not None:  # failed lately: its error stands for this cycle's too
                errors.append(skipped)
                continue
            try:
                item = src.take(self.store)
            except SourceError as exc:
                errors.append(logs.redact(str(exc)))
                self.source_backoff.failed(src, errors[-1], parts.backoff)
                continue
            except (sqlite3.Error, StoreError):
                # the bot's own database (locked, full), not the source: the cycle's error, and no
                # backoff that would park a healthy folder or feed
                raise
            except Exception as exc:  # noqa: BLE001
                # A bug or an input no source foresaw (a feed's malformed item): this source's
                # error for this cycle, never the cycle's, so the other sources are still asked.
                errors.append(logs.redact(f"source {src.name}: {type(exc).__name__}: {exc}"))
                self.source_backoff.failed(src, errors[-1], parts.backoff, trace=True)
                continue
            self.source_backoff.worked(src)
            if item is not None:
                self._next_source = (i + 1) % n
                return item, errors
        return None, errors


def _drop_stray_dreams(store: "Store", folder: Path) -> None:
    """Dream pictures a dead process saved but never recorded (it died between the two)."""
    if not folder.is_dir():
        return
    making = store.dive_files()
    known = {Path(f).stem for f in store.dream_files() | making}
    for p in folder.iterdir():
        if _DIVE_PARTS.fullmatch(p.name) and p.name[:-len(".parts")] not in {Path(f).name for f in making} \
                and p.is_dir():
            log.info("removing %s: no dive in progress owns these keyframes", p.name)
            shutil.rmtree(p, ignore_errors=True)
            continue
        if _DREAM_NAME.fullmatch(p.name) and p.stem not in known and p.is_file():
            log.info("removing %s: its dream was never recorded (the bot died first)", p.name)
            p.unlink(missing_ok=True)


def _expected(exc: BaseException) -> bool:
    """Errors with a message that says it all (no traceback needed in the log)."""
    return isinstance(exc, (SourceError, PickError, PublishError)) or is_engine_error(exc)


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    # filelock: flock on POSIX, msvcrt on Windows, so the bot runs on every desktop system.
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
