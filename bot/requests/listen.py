"""Listening for dream requests: mention notifications, read with a persisted `min_id` cursor.

Why `min_id` and not `since_id`: with `since_id` Mastodon returns the NEWEST page above the
cursor, so when more than a page arrived between polls the older ones are skipped for good;
`min_id` returns the page immediately above the cursor and we walk up. Each mention is
stored together with the cursor move in one transaction (`Store.add_request`), so a restart
neither misses nor repeats one; a status seen twice (edited, or re-notified) is stored once.

Here is also decided what is never answered at all (`ignored`): the bot's own posts,
accounts flagged as bots and accounts with #nobot in their bio or profile fields (so two
bots cannot talk forever), blocked accounts and domains, chains where the bot already
replied `max_per_thread` times, and mentions older than `max_age_hours` (the first start, a
long outage). Over-limit and queue-full requests are stored as `refusing`: they get a reply
saying when to ask again, once per account and day (later ones are ignored). A dive request
("@bot dive goldfish") has a daily limit of its own besides (`dive_daily_limit`), since a
dive costs many pictures. A reply without an image to one of the bot's own dreams is a remix
(remix.py), with a daily limit of its own (`remix_daily_limit`) instead of `daily_limit`.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from bot.publishers.mastodon_text import html_to_text
from bot.store import RequestKind, RequestState
from bot.store.asks import refusal_column

from .inputs import first_image
from .parse import dive_request, request_text
from .replies import Refusal

if TYPE_CHECKING:
    from bot.config import RequestsSection
    from bot.store import Store

    from .client import RequestsClient

log = logging.getLogger("bot.requests")

CURSOR = "mastodon:notifications"
_NOBOT = re.compile(r"(?<!\w)#nobot(?!\w)", re.I)


@dataclass
class PollResult:
    seen: int = 0
    stored: int = 0
    ignored: int = 0


def poll(client: "RequestsClient", store: "Store", cfg: "RequestsSection", me: str) -> PollResult:
    """Fetch new mention notifications and store them; raises PublishError when the server
    cannot be read (nothing is lost: the cursor only moves with what was stored)."""
    result = PollResult()
    for n in client.mention_notifications(store.cursor(CURSOR)):
        result.seen += 1
        nid = str(n["id"])
        status = n.get("status")
        if n.get("type") != "mention" or not isinstance(status, Mapping) or "id" not in status:
            store.set_cursor(CURSOR, nid)  # deleted before we saw it, or not a mention
            continue
        fields = intake(status, store, cfg, me)
        fields["notification_id"] = nid
        row = store.add_request((CURSOR, nid), **fields)
        if row is None:
            log.info("request %s was already stored; not handled twice", status["id"])
            continue
        result.stored += 1
        if fields["state"] is RequestState.IGNORED:
            result.ignored += 1
            log.info("mention %s from %s ignored: %s", status["id"], fields["acct"],
                     refusal_column(fields["refusal"], fields["why_ignored"]))
        else:
            log.info("request %s from %s stored (%s)", status["id"], fields["acct"], fields["state"])
    return result


def intake(status: Mapping[str, Any], store: "Store", cfg: "RequestsSection", me: str) -> dict[str, Any]:
    """The row for a new request: its state (accepted / refusing / ignored) and why."""
    account = status.get("account") or {}
    acct = str(account.get("acct") or "unknown")
    parent = status.get("in_reply_to_id")
    thread = (store.thread_of_reply(str(parent)) if parent else None) or str(status["id"])
    state, refusal, why = RequestState.ACCEPTED, None, None
    kind = RequestKind.DIVE if dive_request(request_text(status).text)[0] else RequestKind.DREAM
    remix_of = str(parent) if is_remix(status, store, cfg) else None
    why_not = ignore_reason(status, cfg, me)
    if why_not is None and store.thread_replies(thread) >= cfg.max_per_thread:
        why_not = f"already {cfg.max_per_thread} replies in this thread"
    if why_not is not None:
        state, why = RequestState.IGNORED, why_not
    elif remix_of and store.remixes_today(str(account.get("id"))) >= cfg.remix_daily_limit:
        state, refusal = RequestState.REFUSING, Refusal.REMIX_LIMIT
    elif not remix_of and store.requests_today(str(account.get("id"))) >= cfg.daily_limit:
        state, refusal = RequestState.REFUSING, Refusal.LIMIT
    elif kind is RequestKind.DIVE and store.dives_today(str(account.get("id"))) >= cfg.dive_daily_limit:
        state, refusal = RequestState.REFUSING, Refusal.DIVE_LIMIT  # a dive costs many pictures: its own limit
    elif store.queue_length() >= cfg.queue_cap:
        state, refusal = RequestState.REFUSING, Refusal.QUEUE_FULL
    if state is RequestState.REFUSING and store.requests_today(str(account.get("id")), refusal) >= 1:
        # told once today already: more mentions must not turn the bot into a reply machine
        state, why = RequestState.IGNORED, "already told today"
    return {
        "status_id": str(status["id"]),
        "account_id": str(account.get("id")),
        "acct": acct,
        "visibility": str(status.get("visibility") or "direct"),
        "thread_key": thread,
        "state": state,
        "refusal": refusal,
        "why_ignored": why,
        "reply_key": uuid.uuid4().hex,
        "status_json": json.dumps(status, default=str),
        "kind": kind,
        "remix_of": remix_of,
    }


def is_remix(status: Mapping[str, Any], store: "Store", cfg: "RequestsSection") -> bool:
    """Whether a mention is a remix: a reply, without an image of its own, to a dream the bot
    posted (or to one of its remixes). A reply with an image is a request for that image."""
    parent = status.get("in_reply_to_id")
    return bool(cfg.remix and parent and first_image(status) is None and store.remix_source(str(parent)))


def ignore_reason(status: Mapping[str, Any], cfg: "RequestsSection", me: str) -> str | None:
    """Why a mention gets no answer at all, or None."""
    account = status.get("account") or {}
    acct = str(account.get("acct") or "").lower()
    if str(account.get("id")) == me:
        return "the bot's own post"
    user, _, domain = acct.partition("@")
    handles = {acct}
    if not domain:
        # Mastodon sends a local account without its domain: "spammer" is blocked as
        # "spammer" and as "spammer@<this server>", the host of the account's own page.
        here = (urlsplit(str(account.get("url") or "")).hostname or "").lower()
        handles |= {user, f"{user}@{here}"} if here else {user}
    if handles & set(cfg.blocked_accounts):
        return "blocked account"
    if domain and any(domain == d or domain.endswith("." + d) for d in cfg.blocked_domains):
        return "blocked domain"
    if account.get("bot"):
        return "a bot account"
    profile = [html_to_text(str(account.get("note") or ""))]
    for f in account.get("fields") or []:
        if isinstance(f, Mapping):
            profile += [html_to_text(str(f.get("name") or "")), html_to_text(str(f.get("value") or ""))]
    if any(_NOBOT.search(p) for p in profile):
        return "#nobot in the profile"
    created = _time(status.get("created_at"))
    if created and datetime.now(timezone.utc) - created > timedelta(hours=cfg.max_age_hours):
        return f"older than {cfg.max_age_hours:g} h"
    return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
