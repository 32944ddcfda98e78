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
`retry_at`; the next tick carries on. The worker holds no tensor code: it calls the
engine's `dream(image, recipe)` and `load_image(bytes)`.
"""
from __future__ import annotations

import io
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from bot import logs
from bot.publishers.base import PublishError
from bot.publishers.marker import post_ref

from . import replies
from .listen import poll
from .parse import RequestError, parse_request, request_text

if TYPE_CHECKING:
    from bot.config import Config
    from bot.store import Store

    from .client import RequestsClient

log = logging.getLogger("bot.requests")

IMAGE_TYPES = ("image",)


@dataclass
class TickResult:
    stored: int = 0
    answered: int = 0
    waiting: int = 0
    errors: int = 0


class Refuse(Exception):
    """This request gets a refusal reply; `kind` picks the text (see replies.refusal_text)."""

    def __init__(self, kind: str, **details: Any):
        super().__init__(kind)
        self.kind = kind
        self.details = details


class Drop(Exception):
    """This request gets no reply (e.g. it was deleted)."""


class RequestWorker:
    def __init__(self, cfg: "Config", store: "Store", client: "RequestsClient", *,
                 render: Callable[..., Any] | None = None, rng: random.Random | None = None):
        self.cfg = cfg
        self.store = store
        self.client = client
        self._render = render
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._me: str | None = None
        self._policy_checked = False
        self._pending: tuple[Any, Any] | None = None
        self._again = False

    def reconfigure(self, cfg: "Config", client: "RequestsClient | None" = None) -> None:
        """Take a reloaded config (and a new client when the Mastodon settings changed) at
        the start of the next tick, never in the middle of one."""
        self._pending = (cfg, client)

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
            cfg, client = self._pending
            self._pending = None
            self.cfg = cfg
            if client is not None:
                self.client, self._me, self._policy_checked = client, None, False
        self._listen(result)
        if self.cfg.requests.acknowledge:
            self._acknowledge()
        rows = self.store.open_requests()
        # A queue with several workers (bot.queue.RemoteRender.parallel) renders that many
        # requests at once; each request is still handled by one thread, start to end.
        parallel = min(getattr(self._render, "parallel", 1), len(rows))
        if parallel > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(parallel, thread_name_prefix="request") as pool:
                outcomes = list(pool.map(self._handle_one, rows))
        else:
            outcomes = [self._handle_one(row) for row in rows]
        for outcome in outcomes:
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def _handle_one(self, row: Mapping[str, Any]) -> str:
        try:
            return "answered" if self.handle(row) in ("replied", "refused", "ignored") else "waiting"
        except Exception as exc:  # one broken request must not stop the others
            why = f"{type(exc).__name__}: {exc}"
            from bot.queue import RenderFailed

            if isinstance(exc, RenderFailed):  # a worker said no retry can help (bad image or recipe)
                log.error("request %s: the render failed for good: %s", row["status_id"], logs.redact(str(exc)))
                self._refuse(self.store.request(row["id"]), "failed")
                return "errors"
            log.error("request %s: %s", row["status_id"], logs.redact(why), exc_info=True)
            self._failed(row, why)
            return "errors"

    def _listen(self, result: TickResult) -> None:
        try:
            if self._me is None:
                self._me = self.client.own_account_id()
            if self.cfg.requests.accept_strangers and not self._policy_checked:
                log.info("requests: %s", self.client.accept_strangers())
                self._policy_checked = True
            result.stored = poll(self.client, self.store, self.cfg.requests, self._me).stored
        except PublishError as exc:
            result.errors += 1
            log.warning("requests: could not read mentions: %s", logs.redact(str(exc)))

    # --- one request -----------------------------------------------------------------------
    def handle(self, row: Mapping[str, Any]) -> str:
        """Move one request as far as it can go now; returns its new state."""
        rid = row["id"]
        state = row["state"]
        try:
            if state in ("accepted", "rendering"):
                state = self._prepare(row)
                row = self.store.request(rid)
            if state in ("rendered", "refusing"):
                state = self._answer(row)
        except PublishError as exc:
            # A permanent error while answering (the server refuses a reply to that status)
            # ends the request; while preparing it is more likely ours (token, config): retry.
            answering = state in ("rendered", "refusing")
            self._retry_later(row, str(exc), exc.retry_after, permanent=answering and not exc.transient)
            return self.store.request(rid)["state"]
        return state

    def _prepare(self, row: Mapping[str, Any]) -> str:
        rid, key = row["id"], row["reply_key"]
        rq = self.cfg.requests
        try:
            status = self.client.status(row["status_id"])
            if status is None:
                raise Drop("the request was deleted")
            parsed = parse_request(request_text(status).text, _labels(),
                                   max_classes=rq.max_classes)
            names, terms = self._classes(parsed)
            image_url = self._image_url(status)
            self.store.update_request(rid, state="rendering",
                                      classes_json=json.dumps([list(c) for c in zip(terms[0], names, terms[1])]))
            image = self._load(image_url)
            path = self._dream(image, terms, key)
        except Drop as exc:
            self.store.update_request(rid, state="ignored", refusal=str(exc))
            log.info("request %s dropped: %s", row["status_id"], exc)
            return "ignored"
        except RequestError as exc:
            return self._refuse(row, exc.kind, term=exc.term,
                                suggestions=[f"{n} ({i})" if exc.kind == "ambiguous" else n
                                             for i, n in exc.suggestions][:5])
        except Refuse as exc:
            return self._refuse(row, exc.kind, **exc.details)
        text = replies.dream_text(row["acct"], names, post_ref(key))
        self.store.update_request(rid, state="rendered", dream_path=str(path), reply_text=text, error=None)
        log.info("request %s dreamt: %s", row["status_id"], " × ".join(names))
        return "rendered"

    def _refuse(self, row: Mapping[str, Any], kind: str, **details: Any) -> str:
        text = replies.refusal_text(row["acct"], kind, post_ref(row["reply_key"]),
                                    max_classes=self.cfg.requests.max_classes, **details)
        self.store.update_request(row["id"], state="refusing", refusal=kind, reply_text=text, error=None)
        log.info("request %s refused: %s", row["status_id"], kind)
        return "refusing"

    def _answer(self, row: Mapping[str, Any]) -> str:
        rid, key = row["id"], row["reply_key"]
        final = "replied" if row["state"] == "rendered" else "refused"
        text = row["reply_text"]
        if text is None:  # refused at intake (limit, queue full): the text is made now
            retry = replies.next_day() if row["refusal"] == "limit" else None
            self._refuse(row, row["refusal"] or "failed", retry_at=retry)
            row = self.store.request(rid)
            text = row["reply_text"]
        if self.client.status(row["status_id"]) is None:
            self.store.update_request(rid, state="ignored", error="the request was deleted before the reply")
            log.info("request %s was deleted; no reply", row["status_id"])
            return "ignored"
        if row["reply_attempts"] > 0:
            found = self.client.find_reply(row["status_id"], key)
            if found is not None:
                self.store.update_request(rid, state=final, reply_id=found.remote_id, reply_url=found.url,
                                          error=None, retry_at=None)
                log.info("request %s: the earlier reply went through (%s)", row["status_id"],
                         found.url or found.remote_id)
                return final
        if row["reply_attempts"] >= self.cfg.bot.max_attempts:
            self.store.update_request(rid, state="ignored", error=f"gave up after {row['reply_attempts']} attempts")
            return "ignored"
        self.store.update_request(rid, reply_attempts=row["reply_attempts"] + 1)  # "intended"
        names = [n for _, n, _ in json.loads(row["classes_json"] or "[]")]
        image = Path(row["dream_path"]) if final == "replied" and row["dream_path"] else None
        published = self.client.reply(
            in_reply_to_id=row["status_id"], text=text, key=key, image_path=image,
            visibility=replies.reply_visibility(row["visibility"], self.cfg.requests.reply_visibility),
            alt_text=replies.dream_alt(names) if image else "",
        )
        self.store.update_request(rid, state=final, reply_id=published.remote_id, reply_url=published.url,
                                  error=None, retry_at=None)
        log.info("request %s %s: %s", row["status_id"], final, published.url or published.remote_id)
        if final == "replied" and row["visibility"] == "public" and self.cfg.requests.also_publish:
            self._also_publish(row, names, image)
        return final

    def _acknowledge(self) -> None:
        """Tell each newly accepted requester where they are in the queue (once: the reply
        has its own idempotency key and its id is stored)."""
        queue = [r for r in self.store.open_requests(due_only=False) if r["state"] != "refusing"]
        per_dream = float(self.store.get_meta("requests:render_seconds") or 60.0)
        for position, row in enumerate(queue, 1):
            if row["state"] != "accepted" or row["ack_id"] or row["reply_attempts"]:
                continue
            minutes = max(1, round(position * per_dream / 60))
            text = replies.queued_text(row["acct"], position, minutes, post_ref(row["reply_key"] + "-ack"))
            try:
                if self.client.status(row["status_id"]) is None:
                    continue  # deleted: the worker drops it below
                ack = self.client.reply(
                    in_reply_to_id=row["status_id"], text=text, key=row["reply_key"] + "-ack",
                    visibility=replies.reply_visibility(row["visibility"], self.cfg.requests.reply_visibility))
            except PublishError as exc:
                log.warning("request %s: could not send the queued note: %s", row["status_id"], logs.redact(str(exc)))
                return  # the dream reply matters more; try the note next tick
            self.store.update_request(row["id"], ack_id=ack.remote_id)

    def _failed(self, row: Mapping[str, Any], why: str) -> None:
        """An unexpected error (a bug, the engine failing): retry a few times, then answer
        with an apology rather than leave the requester waiting forever."""
        row = self.store.request(row["id"])
        failures = row["failures"] + 1
        self.store.update_request(row["id"], failures=failures)
        if failures >= self.cfg.bot.max_attempts and row["state"] in ("accepted", "rendering"):
            self._refuse(row, "failed")
        else:
            self._retry_later(row, why, None)

    def _retry_later(self, row: Mapping[str, Any], why: str, retry_after: float | None, *,
                     permanent: bool = False) -> None:
        why = logs.redact(why)[:500]
        if permanent:
            # e.g. the server refuses replies to that status: nothing a retry can change
            self.store.update_request(row["id"], state="ignored", error=why)
            log.error("request %s cannot be answered: %s", row["status_id"], why)
            return
        wait = retry_after or 30.0 * (1 + row.get("reply_attempts", 0))
        at = (datetime.now(timezone.utc) + timedelta(seconds=wait)).isoformat(timespec="seconds")
        self.store.update_request(row["id"], error=why, retry_at=at)
        log.warning("request %s: %s (retry after %s)", row["status_id"], why, at)

    # --- pieces ----------------------------------------------------------------------------
    def _classes(self, parsed) -> tuple[list[str], tuple[list[str], list[float]]]:
        from bot.picker import human_name, pool

        lab = _labels()
        denied = set()
        for term in self.cfg.picker.deny:
            denied.update(lab.resolve(term))
        for w in parsed.wishes:
            if w.class_id in denied:
                raise Refuse("denied", term=w.name)
        ids = [w.class_id for w in parsed.wishes]
        weights = [w.weight for w in parsed.wishes]
        if parsed.random_count:
            choices = [i for i in pool(self.cfg.picker, lab) if i not in ids]
            picked = self.rng.sample(choices, min(parsed.random_count, len(choices)))
            ids += picked
            weights += [1.0] * len(picked)
        names = [human_name(i, lab) for i in ids]
        return names, ([str(i) for i in ids], weights)

    def _image_url(self, status: Mapping[str, Any]) -> str:
        url = _first_image(status)
        if url:
            return url
        parent_id = status.get("in_reply_to_id")
        if parent_id:
            parent = self.client.status(str(parent_id))
            if parent is not None:
                own = str((parent.get("account") or {}).get("id")) == str((status.get("account") or {}).get("id"))
                public_ok = self.cfg.requests.allow_others_public_posts and parent.get("visibility") == "public"
                if own or public_ok:
                    url = _first_image(parent)
                    if url:
                        return url
        raise Refuse("no_image")

    def _load(self, url: str):
        from PIL import Image

        from bot.sources.fetch import FetchError, FetchPolicy, fetch

        policy = FetchPolicy.from_config(self.cfg.fetch)
        try:
            got = fetch(url, policy)
        except FetchError as exc:
            if "fetch.max_bytes" in str(exc):
                raise Refuse("too_big", detail=f"more than {policy.max_bytes // 1_000_000} MB") from None
            raise PublishError(f"could not download the request's image: {exc}", transient=True) from None
        try:
            with Image.open(io.BytesIO(got.data)) as probe:
                w, h = probe.size
        except Exception:
            raise Refuse("bad_image", detail="it is not a picture I can read") from None
        if w * h > self.cfg.requests.max_image_pixels:
            raise Refuse("too_big", detail=f"{w}×{h} pixels; at most {self.cfg.requests.max_image_pixels:,}")
        import dreamer

        try:
            dreamer.check_shape(w, h, what="it")  # the engine's limit on thin strips
        except dreamer.ImageError as exc:
            raise Refuse("bad_image", detail=str(exc)) from None
        try:
            return dreamer.load_image(got.data, name="your image",
                                      bomb_pixels=max(self.cfg.requests.max_image_pixels, 1))
        except dreamer.ImageError:
            raise Refuse("bad_image", detail="it is damaged or not a photo format I know") from None

    def _dream(self, image: Any, terms: tuple[list[str], list[float]], key: str) -> Path:
        import dreamer

        recipe = self.cfg.base_recipe().replace(classes=dict(zip(*terms)), seed=self.rng.randrange(2**31))
        render = self._render or dreamer.dream
        started = time.monotonic()
        out = render(image, recipe)
        took = time.monotonic() - started
        old = self.store.get_meta("requests:render_seconds")
        # a running average, for the "about M minutes" in the queued note
        self.store.set_meta("requests:render_seconds", took if old is None else 0.7 * float(old) + 0.3 * took)
        path = self.cfg.data_dir / "requests" / f"{key}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        dreamer.save_image(out, path, recipe.to_dict())
        return path

    def _also_publish(self, row: Mapping[str, Any], names: list[str], image: Path | None) -> None:
        from bot.caption import join_classes

        others = [p for p in self.cfg.enabled_publishers() if p != "mastodon"]
        if not others or image is None:
            return
        # Only the bot's words and label names: nothing the requester typed.
        caption = f"{join_classes(names)}\n\nDreamt on request.\n\n{self.cfg.caption.note}"
        self.store.add_dream(
            post_key=self.store.new_post_key(), source_id=None, recipe={}, seed=None,
            classes=[[None, n, 1.0] for n in names], combo_key="request:" + row["reply_key"],
            file_path=image, caption=caption, alt_text=replies.dream_alt(names), tags=self.cfg.caption.hashtags,
            source_url=None, title=None, publishers=others,
        )


def _first_image(status: Mapping[str, Any]) -> str | None:
    for m in status.get("media_attachments") or []:
        if isinstance(m, Mapping) and m.get("type") in IMAGE_TYPES and m.get("url"):
            return str(m["url"])
    return None


def _labels():
    from bot.picker import labels

    return labels()


def build_worker(cfg: "Config", store: "Store", *, render: Callable[..., Any] | None = None) -> RequestWorker | None:
    """The worker for a config, or None when requests are off."""
    if not cfg.requests.enabled or not cfg.publishers.mastodon.enabled:
        return None
    from .client import RequestsClient

    m = cfg.publishers.mastodon
    client = RequestsClient(m.api_base_url, cfg.secret("mastodon.access_token"), visibility=m.visibility,
                            language=m.language, timeout=m.timeout, processing_wait=m.processing_wait)
    return RequestWorker(cfg, store, client, render=render)
