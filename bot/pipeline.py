"""One cycle of the bot: source -> picker -> render -> caption -> publish, recorded in the store.

A cycle first finishes what earlier cycles left (posts pending, failed with a transient
error, or "intended" when the bot died mid-publish: those are looked up with
`find_existing` before anything is posted again), then makes one new dream and posts it on
every enabled publisher. Only one cycle runs at a time: a thread lock within the process and
a lock file in the data dir across processes (`--once` beside a running bot).
A failure is logged and stored; it never stops the next cycle. After `admin.after_failures`
failed cycles in a row the admin gets one direct message for that streak.
"""
from __future__ import annotations

import logging
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from bot import logs
from bot.caption import make_caption
from bot.picker import Picker
from bot.publishers.base import Post, Publisher, PublishError
from bot.sources.base import Source, SourceError, SourceItem, build_sources

if TYPE_CHECKING:
    from PIL import Image

    from bot.config import Config
    from bot.store import PostRow, Store

log = logging.getLogger("bot.pipeline")

RenderFn = Callable[..., "Image.Image"]


class BuildError(Exception):
    """The config is valid but a part cannot be built (e.g. a publisher library is missing)."""


@dataclass
class Parts:
    """Everything a cycle needs that comes from the config; swapped whole on hot reload."""

    cfg: "Config"
    sources: list[Source]
    picker: Picker
    recipe: Any  # dreamer.Recipe without classes
    publishers: dict[str, Publisher]


@dataclass
class CycleResult:
    outcome: str  # posted | idle | failed | skipped
    message: str
    dream_id: int | None = None
    posts: dict[str, str] = field(default_factory=dict)  # publisher -> state
    errors: list[str] = field(default_factory=list)


def build_publishers(cfg: "Config", store: "Store | None" = None) -> dict[str, Publisher]:
    pubs: dict[str, Publisher] = {}
    p = cfg.publishers
    if p.outbox.enabled:
        from bot.publishers.outbox import OutboxPublisher

        pubs["outbox"] = OutboxPublisher(cfg.outbox_dir, title=cfg.bot.name)
    try:
        if p.mastodon.enabled:
            # Imported only when enabled, so a demo needs none of the platform libraries.
            from bot.publishers.mastodon import MastodonPublisher

            m = p.mastodon
            pubs["mastodon"] = MastodonPublisher(
                m.api_base_url, cfg.secret("mastodon.access_token"), visibility=m.visibility,
                language=m.language, spoiler_text=m.spoiler_text, timeout=m.timeout,
                processing_wait=m.processing_wait,
            )
        if p.tumblr.enabled:
            from bot.publishers.tumblr import TumblrPublisher

            t = p.tumblr
            extra: dict[str, Any] = {}
            if store is not None:
                extra["posts_today"] = lambda: store.confirmed_today("tumblr")
            pubs["tumblr"] = TumblrPublisher(
                t.blog, cfg.secret("tumblr.consumer_key"), cfg.secret("tumblr.consumer_secret"),
                cfg.secret("tumblr.oauth_token"), cfg.secret("tumblr.oauth_secret"),
                state=t.state, timeout=t.timeout, **extra,
            )
    except ImportError as exc:
        raise BuildError(f"a publisher cannot be loaded: {exc}") from None
    except KeyError as exc:
        raise BuildError(f"secret {exc} was not loaded (was the config read with need_secrets=False?)") from None
    return pubs


def build_parts(cfg: "Config", store: "Store | None" = None) -> Parts:
    try:
        return Parts(
            cfg=cfg,
            sources=build_sources(cfg),
            picker=Picker(cfg.picker),
            recipe=cfg.base_recipe(),
            publishers=build_publishers(cfg, store),
        )
    except BuildError:
        raise
    except Exception as exc:  # a bug or environment problem; reported, never half-applied
        raise BuildError(logs.redact(f"{type(exc).__name__}: {exc}")) from None


class Pipeline:
    def __init__(
        self,
        parts: Parts,
        store: "Store",
        *,
        data_dir: Path | None = None,
        render: RenderFn | None = None,
        rng: random.Random | None = None,
    ):
        self.parts = parts
        self.store = store
        self.data_dir = Path(data_dir or parts.cfg.data_dir)
        self._render = render
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._next_source = 0

    @property
    def render(self) -> RenderFn:
        if self._render is None:
            import dreamer

            self._render = dreamer.dream
        return self._render

    def wait_idle(self, timeout: float) -> bool:
        """Block until no cycle is running (False if still running after `timeout` s)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False

    # --- one cycle -------------------------------------------------------------------------
    def run_cycle(self) -> CycleResult:
        if not self._lock.acquire(blocking=False):
            log.warning("a cycle is still running; this one is skipped")
            return CycleResult("skipped", "a cycle is still running")
        try:
            with _file_lock(self.data_dir / "bot.lock") as locked:
                if not locked:
                    log.warning("another bot process is running a cycle on %s; skipped", self.data_dir)
                    return CycleResult("skipped", "another bot process holds the lock")
                return self._cycle(self.parts)
        finally:
            self._lock.release()

    def _cycle(self, parts: Parts) -> CycleResult:
        store = self.store
        cycle_id = store.start_cycle()
        result = CycleResult("idle", "")
        try:
            orphans = store.release_orphan_sources()
            if orphans:
                log.warning("%d photo(s) were interrupted mid-dream by a crash; they will be tried again", orphans)
            self._retry_unfinished(parts, result)
            self._new_dream(parts, result)
        except Exception as exc:  # the next cycle must still run, whatever broke
            expected = _expected(exc)
            msg = logs.redact(str(exc) if expected else f"{type(exc).__name__}: {exc}")
            log.error("cycle failed: %s", msg, exc_info=not expected)
            result.errors.append(msg)
        if result.errors:
            result.outcome = "failed"
        if not result.message:
            result.message = "; ".join(result.errors) or "nothing to do"
        store.finish_cycle(cycle_id, result.outcome, "; ".join(result.errors)[:2000] or None)
        log.info("cycle %s: %s", result.outcome, result.message)
        self._alert_admin(parts, cycle_id, result)
        return result

    def _retry_unfinished(self, parts: Parts, result: CycleResult) -> None:
        rows = self.store.unfinished_posts(parts.publishers, parts.cfg.bot.max_attempts)
        done = []
        for row in rows:
            log.info("retrying post of dream %d on %s (state %s, %d attempt(s) so far)",
                     row.dream_id, row.publisher, row.state, row.attempts)
            state = self._publish_row(row, parts)
            if state == "confirmed":
                done.append(f"{row.publisher} dream {row.dream_id}")
            else:
                result.errors.append(f"{row.publisher}: dream {row.dream_id} still not posted")
        if done:
            result.outcome = "posted"
            result.message = "finished earlier posts: " + ", ".join(done)

    def _new_dream(self, parts: Parts, result: CycleResult) -> None:
        item, source_errors = self._next_item(parts)
        if item is None:
            if source_errors:
                result.errors.extend(source_errors)
            elif not result.message:
                result.message = "no new photo in any source"
            return
        cfg = parts.cfg
        store = self.store
        source_id = store.take_source(item.source, item.url, item.sha256, item.credit.to_dict())
        try:
            combo = parts.picker.pick(store.recent_combos(cfg.picker.no_repeat), self.rng)
            labels = parts.picker.labels
            recipe = parts.recipe.replace(classes=combo.recipe_classes(labels), seed=combo.seed)
            names = combo.names(labels)
            log.info("dreaming %s into %s from %s", " × ".join(names), item.credit.title or item.url or "a photo", item.source)
            image = self.render(item.image, recipe)
            post_key = store.new_post_key()
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            path = self.data_dir / "dreams" / f"{stamp}-{post_key[:8]}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            from dreamer import save_image

            save_image(image, path, recipe.to_dict())
            from bot.publishers.outbox import save_source_photo

            save_source_photo(item.image, path)  # the gallery's "before"
            caption = make_caption(
                cfg.caption, bot=cfg.bot.name, class_names=names, credit=item.credit,
                description=item.description, model=recipe.model, seed=combo.seed,
            )
        except Exception as exc:
            why = logs.redact(f"{type(exc).__name__}: {exc}")
            store.finish_source(source_id, ok=False, error=why)
            item.failed(why)
            raise
        dream_id = store.add_dream(
            post_key=post_key, source_id=source_id, recipe=recipe.to_dict(), seed=combo.seed,
            classes=[[i, n, w] for i, n, w in zip(combo.class_ids, names, combo.weights)],
            combo_key=combo.key, file_path=path, caption=caption.text, alt_text=caption.alt_text,
            tags=caption.tags, source_url=item.public_url, title=item.credit.title,
            publishers=list(parts.publishers),
        )
        item.done()
        result.dream_id = dream_id
        for name in parts.publishers:
            state = self._publish_row(store.post(dream_id, name), parts)
            result.posts[name] = state
            if state != "confirmed":
                result.errors.append(f"{name}: not posted yet (will retry)")
        result.outcome = "posted"
        made = f"dream {dream_id}: {' × '.join(names)}; " + ", ".join(f"{k} {v}" for k, v in result.posts.items())
        result.message = f"{result.message}; {made}" if result.message else made

    def _next_item(self, parts: Parts) -> tuple[SourceItem | None, list[str]]:
        """Sources take turns (round robin), so one busy feed cannot starve a folder."""
        errors = []
        n = len(parts.sources)
        for k in range(n):
            i = (self._next_source + k) % n
            src = parts.sources[i]
            try:
                item = src.take(self.store)
            except SourceError as exc:
                log.warning("%s", exc)
                errors.append(logs.redact(str(exc)))
                continue
            if item is not None:
                self._next_source = (i + 1) % n
                return item, errors
        return None, errors

    # --- publishing ------------------------------------------------------------------------
    def _publish_row(self, row: "PostRow", parts: Parts) -> str:
        pub = parts.publishers.get(row.publisher)
        if pub is None:
            return row.state  # publisher switched off since; the post waits for it
        store = self.store
        dream = store.dream(row.dream_id)
        post = Post(
            post_id=dream.post_key, image_path=dream.file_path, caption=dream.caption, alt_text=dream.alt_text,
            tags=dream.tags, source_url=dream.source_url, title=dream.title,
        )
        if row.attempts > 0:
            # An earlier attempt may have reached the platform before the bot died or the
            # answer was lost: look before posting again.
            try:
                found = pub.find_existing(post)
            except Exception as exc:
                why = logs.redact(f"cannot check whether the earlier attempt went through: {exc}")
                log.warning("%s: dream %d: %s", row.publisher, row.dream_id, why)
                store.mark_failed(row.id, why, transient=True)
                return "failed"
            if found is not None:
                store.mark_confirmed(row.id, found.remote_id, found.url)
                log.info("%s: dream %d was already posted (%s); confirmed", row.publisher, row.dream_id,
                         found.url or found.remote_id)
                return "confirmed"
        if not dream.file_path.is_file():
            store.mark_failed(row.id, f"the dream's image {dream.file_path} is gone", transient=False)
            return "failed"
        store.mark_intended(row.id)
        try:
            published = pub.publish(post)
        except PublishError as exc:
            why = logs.redact(str(exc))
            retry_at = None
            if exc.retry_after:
                retry_at = (datetime.now(timezone.utc) + timedelta(seconds=exc.retry_after)).isoformat(timespec="seconds")
            store.mark_failed(row.id, why, transient=exc.transient, retry_at=retry_at)
            log.error("%s: dream %d not posted: %s%s", row.publisher, row.dream_id, why,
                      " (will retry)" if exc.transient else " (not retried)")
            return "failed"
        except Exception as exc:
            why = logs.redact(f"{type(exc).__name__}: {exc}")
            store.mark_failed(row.id, why, transient=True)
            log.error("%s: dream %d not posted: %s", row.publisher, row.dream_id, why, exc_info=True)
            return "failed"
        store.mark_confirmed(row.id, published.remote_id, published.url)
        log.info("%s: dream %d posted: %s", row.publisher, row.dream_id, published.url or published.remote_id)
        return "confirmed"

    # --- the admin -------------------------------------------------------------------------
    def _alert_admin(self, parts: Parts, cycle_id: int, result: CycleResult) -> None:
        admin = parts.cfg.admin
        if not admin.account or result.outcome != "failed":
            return
        count, notified = self.store.consecutive_failures()
        if count < admin.after_failures or notified:
            return
        sender = parts.publishers.get("mastodon")
        if sender is None or not hasattr(sender, "send_direct"):
            log.warning("%d cycles failed in a row, but no Mastodon publisher is running to tell %s",
                        count, admin.account)
            return
        text = logs.redact(
            f"{parts.cfg.bot.name}: {count} cycles in a row have failed. Last error: "
            f"{'; '.join(result.errors)[:300]}"
        )
        try:
            sender.send_direct(admin.account, text)  # type: ignore[attr-defined]
        except Exception as exc:
            log.error("could not message the admin %s: %s", admin.account, logs.redact(str(exc)))
            return
        self.store.mark_admin_notified(cycle_id)
        log.info("told the admin %s about %d failed cycles", admin.account, count)


def _expected(exc: BaseException) -> bool:
    """Errors with a message that says it all (no traceback needed in the log)."""
    import sys

    from bot.picker import PickError
    from dreamer import ImageError, RecipeError

    known: list[type[BaseException]] = [SourceError, PickError, ImageError, RecipeError, PublishError]
    models_base = sys.modules.get("models.base")  # loaded by the render if it got that far
    if models_base is not None:
        known.append(models_base.ModelError)
    return isinstance(exc, tuple(known))


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    # filelock: flock on POSIX, msvcrt on Windows, so the bot runs on every desktop system.
    from filelock import FileLock, Timeout

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
