"""The Mastodon calls dream requests need, on top of the publisher's client.

It is a `MastodonPublisher` (same session, limits from /api/v2/instance, rate-limit budget,
error mapping to `PublishError` with `transient`, bounded media wait), plus: mention
notifications, one status, a status' replies, the notification policy, and posting a reply
with or without an image. Every failure is a `PublishError`; "gone" (404/410) is None.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


from bot.publishers.base import Post, Published, PublishError
from bot.publishers.marker import contains_ref, post_ref
from bot.publishers.mastodon import MastodonPublisher, fit_text, html_to_text, status_length

PAGE = 40
MAX_PAGES = 10  # per poll; the cursor picks up the rest next time
POLICY_FIELDS = ("for_not_following", "for_not_followers", "for_new_accounts", "for_private_mentions")


def id_key(i: str | int) -> tuple[int, str]:
    """Sort key for Mastodon ids: numeric strings compare as numbers, others as text."""
    s = str(i)
    return (len(s), s) if s.isdigit() else (0, s)


class RequestsClient(MastodonPublisher):
    """See the module docstring. Built like the publisher (same arguments)."""

    @property
    def api(self) -> Any:
        """The Mastodon.py client (for the streaming API)."""
        return self._api

    def own_account_id(self) -> str:
        return str(self._own_account_id())

    # --- reading -----------------------------------------------------------------------
    def mention_notifications(self, min_id: str | None) -> list[Mapping[str, Any]]:
        """Mention notifications newer than `min_id`, oldest first. `include_filtered` asks
        Mastodon 4.3+ for mentions its notification policy filtered too (from strangers)."""
        out: list[Mapping[str, Any]] = []
        cursor = min_id or "0"
        for _ in range(MAX_PAGES):
            page = self._json("GET", "/api/v1/notifications", "read mentions", params={
                "types[]": "mention", "min_id": cursor, "limit": PAGE, "include_filtered": "true",
            })
            if not isinstance(page, list) or not all(isinstance(n, Mapping) and "id" in n for n in page):
                raise PublishError("Mastodon answered the notifications request with something that is not a "
                                   "list of notifications; will try again later", transient=True)
            if not page:
                break
            page = sorted(page, key=lambda n: id_key(n["id"]))
            out.extend(page)
            cursor = str(page[-1]["id"])
            if len(page) < PAGE:
                break
        return out

    def status(self, status_id: str) -> Mapping[str, Any] | None:
        """A status, or None when it was deleted (or is no longer visible to the bot)."""
        body = self._json("GET", f"/api/v1/statuses/{status_id}", "read a status", missing_ok=True)
        if body is not None and not (isinstance(body, Mapping) and "id" in body):
            raise PublishError("Mastodon answered a status request with something that is not a status; "
                               "will try again later", transient=True)
        return body

    def find_reply(self, status_id: str, key: str) -> Published | None:
        """The bot's own reply to `status_id` carrying the `ref-` marker of `key`, if one was
        made (after a crash, or when an answer was lost). Looks in the status' replies, then
        the bot's own recent statuses (the request may be gone or hidden from the bot)."""
        ref = post_ref(key)
        me = str(self._own_account_id())
        ctx = self._json("GET", f"/api/v1/statuses/{status_id}/context", "read the replies", missing_ok=True)
        if isinstance(ctx, Mapping):
            for s in ctx.get("descendants") or []:
                if (isinstance(s, Mapping) and str((s.get("account") or {}).get("id")) == me
                        and contains_ref(html_to_text(s.get("content") or ""), ref)):
                    return Published(str(s["id"]), s.get("url"))
        elif ctx is not None:
            raise PublishError("Mastodon answered a context request with something unexpected; will try again",
                               transient=True)
        return self.find_existing(Post(post_id=key, image_path=Path("."), caption="", alt_text=""))

    # --- the notification policy (Mastodon 4.3+) ----------------------------------------
    def accept_strangers(self) -> str:
        """Make sure mentions from accounts the bot does not follow (or that are new, or
        private mentions) reach the notifications list instead of "filtered notifications".
        Returns what was done, for the log."""
        policy = self._json("GET", "/api/v2/notifications/policy", "read the notification policy", missing_ok=True)
        if policy is None:
            return "the server has no notification policy (before Mastodon 4.3): mentions arrive unfiltered"
        if not isinstance(policy, Mapping):
            raise PublishError("Mastodon answered the notification policy request with something unexpected",
                               transient=True)
        change = {f: "accept" for f in POLICY_FIELDS if policy.get(f, "accept") != "accept"}
        if not change:
            return "the notification policy already accepts mentions from strangers"
        self._json("PATCH", "/api/v2/notifications/policy", "change the notification policy", body=change)
        return "notification policy changed to accept " + ", ".join(sorted(change))

    # --- writing -----------------------------------------------------------------------
    def reply(self, *, in_reply_to_id: str, text: str, visibility: str, key: str,
              image_path: Path | None = None, alt_text: str = "") -> Published:
        """Post `text` as a reply with explicit visibility (never copied from the parent),
        optionally with one image, under the idempotency key derived from `key`."""
        from bot.publishers.mastodon import idempotency_key

        limits = self.limits()
        body = fit_text(text.strip(), limits.max_characters,
                        length=lambda s: status_length(s, limits.characters_reserved_per_url))
        media_ids = None
        if image_path is not None:
            alt = fit_text(alt_text.strip(), limits.description_limit)
            post = Post(post_id=key, image_path=image_path, caption=body, alt_text=alt)
            media = self._wait_until_processed(self._upload(post, limits, alt))
            media_ids = [media["id"]]
        status = self._call(
            "post the reply", self._api.status_post, body, in_reply_to_id=in_reply_to_id,
            media_ids=media_ids, visibility=visibility, language=self.language,
            idempotency_key=idempotency_key(key),
        )
        return Published(remote_id=str(status["id"]), url=status.get("url"))
