"""The life of a dream request: accepted -> rendering -> rendered -> replied, or
accepted -> refusing -> refused (a reply saying why), or ignored (no reply at all).

Every step is written to the store before the next begins, so the bot can die anywhere:
- `accepted`/`rendering`: (re)start from the request status (read again, so a deleted
  request is dropped);
- `rendered`/`refusing`: the reply text (and image) is fixed; before posting, the request is
  read again (a deleted status never gets a reply), and from the second attempt on the
  bot first looks for its own reply carrying the request's `ref-` marker (Mastodon keeps
  idempotency keys only about an hour, so after a long outage the key alone is not enough).
A transient failure (5xx, 429, timeout, malformed answer) leaves the state as it is with a
`retry_at` after an exponential backoff (bot.retry_seconds doubling up to
bot.retry_max_minutes); the next tick carries on, for as long as the request is younger than
`requests.max_age_hours`. A reply that waited that long gives way to an apology (the dream
would come out of the blue); one that cannot go out in twice that time is given up and
listed (`status`, the admin's message). A used-up rate limit (persisted, shared with the
cycle) defers a reply without counting an attempt.
Crashes: `busy` marks the step in progress; the first tick of a worker counts a crash for
each request a dead process left busy, and resumes it. The same request killing the bot
`bot.crash_limit` times in a row gets an apology (while dreaming) or is given up (while
replying). The worker holds no tensor code: it dreams through dreaming.py (bot/render/renderer.py).
A remix (a reply to one of the bot's posts, remix.py) is a request like any other, with
`remix_of` set: its photo is the one the bot kept for that post, its classes from the reply.
"""
from __future__ import annotations

import json
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import logs, notify
from bot.caption import join_classes
from bot.publishers.base import Published, PublishError
from bot.publishers.marker import post_ref
from bot.queue import RenderFailed
from bot.render import Renderer, RenderFn, as_renderer
from bot.retry import stamp_in
from bot.store import Busy, NewDream, RequestRow, RequestState

from . import dreaming, inputs, remix, replies
from .inputs import Refuse
from .listen import poll
from .outcome import Handled, TickResult
from .parse import RequestError, dive_request, parse_request, request_text
from .replies import Refusal
from .settings import RequestSettings

if TYPE_CHECKING:
    from bot.config import Config
    from bot.store import Store

    from .client import RequestsClient

log = logging.getLogger("bot.requests")
S = RequestState
FINAL = (S.REPLIED, S.REFUSED, S.IGNORED)  # answered, or never to be
LATE_HOURS = 1.0  # a dream reply later than this says sorry for the wait


class Drop(Exception):
    """This request gets no reply (e.g. it was deleted)."""


class RequestWorker:
    def __init__(self, settings: RequestSettings, store: "Store", client: "RequestsClient", *,
                 render: Renderer | RenderFn | None = None, rng: random.Random | None = None):
        self.settings = settings
        self.store = store
        self.client = client
        self.renderer = as_renderer(render)
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._me: str | None = None
        self._policy_checked = False
        self._pending: tuple[RequestSettings, RequestsClient | None] | None = None
        self._again = False
        self._resumed = False

    def reconfigure(self, settings: RequestSettings, client: "RequestsClient | None" = None) -> None:
        """Take a reloaded config's settings (and a new client when the Mastodon settings
        changed) at the start of the next tick, never in the middle of one."""
        self._pending = (settings, client)

    # --- the scheduler's job ---------------------------------------------------------------
    def tick(self) -> TickResult:
        """Poll for new mentions, then work through every due request, one at a time. A
        tick asked for while one runs (the stream's doorbell) makes the running one go
        round once more instead of being lost."""
        if not self._lock.acquire(blocking=False):
            self._again = True
            return TickResult()
        try:
            while True:
                self._again = False
                result = self._tick_once()
                if not self._again:
                    return result
        finally:
            self._lock.release()

    def _tick_once(self) -> TickResult:
        result = TickResult()
        if self._pending is not None:
            settings, client = self._pending
            self._pending = None
            self.settings = settings
            if client is not None:
                self.client, self._me, self._policy_checked = client, None, False
        if not self._resumed:  # the first tick of this process: nothing of ours can be busy yet
            self._resume()
            self._resumed = True
        self._listen(result)
        if self.settings.requests.acknowledge:
            self._acknowledge()
        rows = self.store.open_requests()
        # A queue with several workers renders that many requests at once; each request is
        # still handled by one thread, start to end.
        parallel = min(self.renderer.parallel, len(rows))
        if parallel > 1:
            with ThreadPoolExecutor(parallel, thread_name_prefix="request") as pool:
                outcomes = list(pool.map(self._handle_one, rows))
        else:
            outcomes = [self._handle_one(row) for row in rows]
        for outcome in outcomes:
            result.count(outcome)
        notify.ended_items(self.store, self.settings.admin, self.settings.bot.name, self.client)
        return result

    def _resume(self) -> None:
        """Requests a dead process left busy: a crash each, resumed; a crash loop ends."""
        for row in self.store.release_interrupted_requests(self.settings.bot.crash_limit):
            if row.busy is Busy.DREAM:
                log.error("request %s killed the bot %d times while dreaming; it gets an apology",
                          row.status_id, row.crashes)
                self._refuse(row, Refusal.CRASHED)
            else:
                why = f"killed while replying {row.crashes} times in a row"
                log.error("request %s: %s; given up", row.status_id, why)
                self.store.give_up_request(row.id, why)

    def _handle_one(self, row: RequestRow) -> Handled:
        try:
            return Handled.ANSWERED if self.handle(row) in FINAL else Handled.WAITING
        except Exception as exc:  # one broken request must not stop the others
            why = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, RenderFailed):  # a worker said no retry can help (bad image or recipe)
                log.error("request %s: the render failed for good: %s", row.status_id, logs.redact(str(exc)))
                self._refuse(self.store.request(row.id), Refusal.FAILED)  # as it was when the error came
                return Handled.ERROR
            log.error("request %s: %s", row.status_id, logs.redact(why), exc_info=True)
            self._failed(row, why)
            return Handled.ERROR

    def _listen(self, result: TickResult) -> None:
        try:
            if self._me is None:
                self._me = self.client.own_account_id()
            if self.settings.requests.accept_strangers and not self._policy_checked:
                log.info("requests: %s", self.client.accept_strangers())
                self._policy_checked = True
            result.stored = poll(self.client, self.store, self.settings.requests, self._me).stored
        except PublishError as exc:
            result.errors += 1
            log.warning("requests: could not read mentions: %s", logs.redact(str(exc)))

    # --- one request -----------------------------------------------------------------------
    def handle(self, row: RequestRow) -> RequestState:
        """Move one request as far as it can go now; returns its new state."""
        try:
            if row.state in (S.ACCEPTED, S.RENDERING):
                row = self._prepare(row)
            if row.state in (S.RENDERED, S.REFUSING):
                row = self._answer(row)
        except PublishError as exc:
            # A permanent error while answering (the server refuses a reply to that status)
            # ends the request; while preparing it is more likely ours (token, config): retry.
            row = self.store.request(row.id)  # as the step that failed left it
            if row.state in (S.RENDERED, S.REFUSING) and not exc.transient:
                why = logs.redact(str(exc))[:500]
                log.error("request %s cannot be answered: %s", row.status_id, why)
                return self.store.give_up_request(row.id, why).state
            return self._retry_later(row, str(exc), exc.retry_after).state
        return row.state

    def _prepare(self, row: RequestRow) -> RequestRow:
        s = self.settings
        rq = s.requests
        try:
            if _age_hours(row) > rq.max_age_hours:
                raise Refuse(Refusal.TOO_LATE, hours=rq.max_age_hours)
            status = self.client.status(row.status_id)
            if status is None:
                raise Drop("the request was deleted")
            _, text = dive_request(request_text(status).text)
            dive = row.is_dive  # read once here; past it the Work, then what make() made, tells a dive
            mix = None if row.remix_of is None else remix.plan(
                rq, s.recipe, self.store, row.remix_of, text, dive=dive, labels=inputs.labels(), rng=self.rng)
            parsed = mix.parsed if mix else parse_request(text, inputs.labels(), max_classes=rq.max_classes)
            if dive and row.state == S.RENDERING and row.classes_json:
                # a dive killed midway resumes from its keyframes: the same classes, not a new pick
                kept = json.loads(row.classes_json)
                names, terms = [c[1] for c in kept], ([c[0] for c in kept], [c[2] for c in kept])
            else:
                names, terms = inputs.classes(s.picker, parsed, self.rng)
            attached = None if mix else inputs.image_url(rq, self.client, status)
            self.store.update_request(row.id, state=S.RENDERING, busy=Busy.DREAM, source_key=mix and mix.source.key,
                                      classes_json=json.dumps([list(c) for c in zip(terms[0], names, terms[1])]))
            image = mix.photo(rq.remix_keep_days) if mix else inputs.load(s.fetch, rq.max_image_pixels, attached.url)
            base = mix.recipe(s.recipe) if mix else None
            made = dreaming.dream(self.store, self.renderer, dreaming.work(
                s, image, terms, row.reply_key, dive=dive, base=base,  # a dive's seed is the request's
                seed=None if dive else mix.seed if mix else self.rng.randrange(2**31)))
        except Drop as exc:
            row = self.store.update_request(row.id, state=S.IGNORED, why_ignored=str(exc), busy=None)
            log.info("request %s dropped: %s", row.status_id, exc)
            return row
        except RequestError as exc:
            return self._refuse(row, exc.kind, **exc.reply_details())
        except Refuse as exc:
            return self._refuse(row, exc.kind, **exc.details)
        text = replies.reply_text(row.acct, names, post_ref(row.reply_key), dive=made.dive is not None,
                                  form=mix.form if mix else None, tweaks=mix.tweaks if mix else (),
                                  left_out=parsed.left_out)
        if attached is not None and (frame := inputs.dreamt_frame(attached, image)) is not None:
            text = replies.animation_note(text, frame)
        row = self.store.update_request(row.id, state=S.RENDERED, dream_path=str(made.video or made.picture), reply_text=text,
                                        error=None, busy=None, crashes=0,
                                        recipe_json=json.dumps(made.recipe.to_dict()) if mix else None)
        log.info("request %s dreamt: %s", row.status_id, " × ".join(names))
        return row

    def _refuse(self, row: RequestRow, kind: Refusal, **details: Any) -> RequestRow:
        text = replies.refusal_text(row.acct, kind, post_ref(row.reply_key), remix=row.remix_of is not None,
                                    max_classes=self.settings.requests.max_classes, **details)
        row = self.store.update_request(row.id, state=S.REFUSING, refusal=kind, reply_text=text, error=None, busy=None)
        log.info("request %s refused: %s", row.status_id, kind)
        return row

    def _answer(self, row: RequestRow) -> RequestRow:
        final = S.REPLIED if row.state == S.RENDERED else S.REFUSED
        if row.reply_text is None:  # refused at intake (limit, queue full): the text is made now
            limits = (Refusal.LIMIT, Refusal.DIVE_LIMIT, Refusal.REMIX_LIMIT)
            retry = replies.next_day() if row.refusal in limits else None
            row = self._refuse(row, row.refusal or Refusal.FAILED, retry_at=retry)
        wait = self.client.rate_wait(media=final == S.REPLIED)
        if wait > 0:  # nothing is asked of the server, nothing is counted
            row = self.store.update_request(row.id, retry_at=stamp_in(wait))
            log.info("request %s waits for the rate limit (%.0f s)", row.status_id, wait)
            return row
        if self.client.status(row.status_id) is None:
            row = self.store.update_request(row.id, state=S.IGNORED, error="the request was deleted before the reply")
            log.info("request %s was deleted; no reply", row.status_id)
            return row
        if row.reply_attempts > 0:
            found = self.client.find_reply(row.status_id, row.reply_key)
            if found is not None:
                return self._answered(row, final, found)
        age, max_age = _age_hours(row), self.settings.requests.max_age_hours
        if age > 2 * max_age:
            why = f"could not be answered within {2 * max_age:g} h; last error: {row.error or 'none'}"
            log.error("request %s: %s", row.status_id, why)
            return self.store.give_up_request(row.id, why)
        if final == S.REPLIED and age > max_age:  # too late for the dream: say sorry instead
            return self._answer(self._refuse(row, Refusal.TOO_LATE, hours=max_age))
        text = row.reply_text
        if final == S.REPLIED and age > LATE_HOURS:
            text = replies.late(text, age)
        row = self.store.update_request(row.id, reply_attempts=row.reply_attempts + 1, busy=Busy.REPLY)  # "intended"
        names = [n for _, n, _ in json.loads(row.classes_json or "[]")]
        image = Path(row.dream_path) if final == S.REPLIED and row.dream_path else None
        video = None
        if image is not None and row.is_dive:  # the video, its poster frame beside it
            video, image = image, image.with_suffix(".png")
        seconds = None if video is None else self.settings.dive_seconds
        alt = "" if image is None else replies.alt_text(names, seconds, remix=row.remix_of is not None)
        published = self.client.reply(
            in_reply_to_id=row.status_id, text=text, key=row.reply_key, image_path=image, video_path=video,
            visibility=replies.reply_visibility(row.visibility, self.settings.requests.reply_visibility), alt_text=alt,
        )
        row = self._answered(row, final, published)
        # A remix's photo is a credited post's, and this caption carries no credit: remixes stay replies.
        if final == S.REPLIED and video is None and row.visibility == "public" and self.settings.requests.also_publish \
                and row.remix_of is None:
            self._also_publish(row, names, image)
        return row

    def _answered(self, row: RequestRow, final: RequestState, published: Published) -> RequestRow:
        row = self.store.update_request(row.id, state=final, reply_id=published.remote_id, reply_url=published.url,
                                        error=None, retry_at=None, busy=None, retries=0, crashes=0)
        log.info("request %s %s: %s", row.status_id, final, published.url or published.remote_id)
        return row

    def _acknowledge(self) -> None:
        """Tell each newly accepted requester where they are in the queue (once: the reply
        has its own idempotency key and its id is stored)."""
        queue = [r for r in self.store.open_requests(due_only=False) if r.state != S.REFUSING]
        per_dream = float(self.store.get_meta("requests:render_seconds") or 60.0)
        for position, row in enumerate(queue, 1):
            if row.state != S.ACCEPTED or row.ack_id or row.reply_attempts:
                continue
            minutes = max(1, round(position * per_dream / 60))
            text = replies.queued_text(row.acct, position, minutes, post_ref(row.reply_key + "-ack"))
            try:
                if self.client.status(row.status_id) is None:
                    continue  # deleted: the worker drops it below
                ack = self.client.reply(
                    in_reply_to_id=row.status_id, text=text, key=row.reply_key + "-ack",
                    visibility=replies.reply_visibility(row.visibility, self.settings.requests.reply_visibility))
            except PublishError as exc:
                log.warning("request %s: could not send the queued note: %s", row.status_id, logs.redact(str(exc)))
                return  # the dream reply matters more; try the note next tick
            self.store.update_request(row.id, ack_id=ack.remote_id)

    def _failed(self, row: RequestRow, why: str) -> None:
        """An unexpected error (a bug, the engine failing): retry a few times, then answer
        with an apology rather than leave the requester waiting forever."""
        row = self.store.request(row.id)  # as the step that failed left it
        row = self.store.update_request(row.id, failures=row.failures + 1)
        if row.failures >= self.settings.bot.max_attempts and row.state in (S.ACCEPTED, S.RENDERING):
            self._refuse(row, Refusal.FAILED)
        elif row.failures >= self.settings.bot.max_attempts and row.state in (S.RENDERED, S.REFUSING):
            self.store.give_up_request(row.id, f"gave up after {row.failures} unexpected errors: {logs.redact(why)}")
        else:
            self._retry_later(row, why, None)

    def _retry_later(self, row: RequestRow, why: str, retry_after: float | None) -> RequestRow:
        """A transient failure: try again after the backoff (or the server's Retry-After)."""
        why = logs.redact(why)[:500]
        retries = row.retries + 1
        at = self.settings.backoff.at(retries, retry_after)
        row = self.store.update_request(row.id, error=why, retry_at=at, retries=retries, busy=None)
        log.warning("request %s: %s (retry after %s)", row.status_id, why, at)
        return row

    def _also_publish(self, row: RequestRow, names: list[str], image: Path | None) -> None:
        others = self.settings.also_publish_to
        if not others or image is None:
            return
        # Only the bot's words and label names: nothing the requester typed.
        caption = f"{join_classes(names)}\n\nDreamt on request.\n\n{self.settings.caption.note}"
        self.store.add_dream(NewDream(
            post_key=self.store.new_post_key(), source_id=None, recipe={}, seed=None,
            classes=tuple((None, n, 1.0) for n in names), combo_key="request:" + row.reply_key,
            file_path=image, caption=caption, alt_text=replies.dream_alt(names), tags=self.settings.caption.hashtags,
            source_url=None, title=None, publishers=others,
        ))


def _age_hours(row: RequestRow) -> float:
    """How long ago the request was made (the status' own time; else when it was stored)."""
    when = None
    try:
        when = json.loads(row.status_json or "{}").get("created_at")
    except ValueError:
        pass
    for value in (when, row.created_at):
        try:
            t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except (TypeError, ValueError):
            continue
        t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        return (datetime.now(timezone.utc) - t).total_seconds() / 3600
    return 0.0


def build_worker(cfg: "Config", store: "Store", *, render: Renderer | RenderFn | None = None) -> RequestWorker | None:
    """The worker for a config, or None when requests are off."""
    if not cfg.requests.enabled or not cfg.publishers.mastodon.enabled:
        return None
    from bot.publishers.mastodon_api import MastodonApi

    from .client import RequestsClient

    # rate limits in the store: shared with the cycle and other processes
    client = RequestsClient(MastodonApi.from_config(cfg, store), language=cfg.publishers.mastodon.language)
    return RequestWorker(RequestSettings.from_config(cfg), store, client, render=render)

