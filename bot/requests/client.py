"""The Mastodon calls dream requests need, through the same API module as the publisher
(bot/publishers/mastodon_api.py): mention notifications, one status, the bot's reply to a
status, the notification policy, and posting a reply with or without an image. Every
failure is a `PublishError`; "gone" (404/410) is None.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from bot import failpoints
from bot.publishers.base import Published
from bot.publishers.marker import contains_ref, post_ref
from bot.publishers.mastodon_api import MastodonApi
from bot.publishers.mastodon_text import fit_status, html_to_text

POLICY_FIELDS = ("for_not_following", "for_not_followers", "for_new_accounts", "for_private_mentions")


class RequestsClient:
    """See the module docstring. `language` tags the replies."""

    def __init__(self, api: MastodonApi, *, language: str | None = None):
        self.api = api
        self.language = language or None

    def __repr__(self) -> str:
        return f"RequestsClient({self.api.api_base_url!r})"

    @property
    def streaming(self) -> Any:
        """The Mastodon.py client, for the streaming API."""
        return self.api.client

    def own_account_id(self) -> str:
        return self.api.own_account_id()

    def mention_notifications(self, min_id: str | None) -> list[Mapping[str, Any]]:
        return self.api.mention_notifications(min_id)

    def status(self, status_id: str) -> Mapping[str, Any] | None:
        return self.api.status(status_id)

    def rate_wait(self, media: bool = True) -> float:
        return self.api.rate_wait(media)

    def send_direct(self, acct: str, text: str, key: str | None = None) -> None:
        self.api.send_direct(acct, text, key)

    def find_reply(self, status_id: str, key: str) -> Published | None:
        """The bot's own reply to `status_id` carrying the `ref-` marker of `key`, if one was
        made (after a crash, or when an answer was lost). Looks in the status' replies, then
        the bot's own recent statuses (the request may be gone or hidden from the bot)."""
        ref = post_ref(key)
        me = self.api.own_account_id()
        for s in self.api.replies(status_id) or []:
            if (str((s.get("account") or {}).get("id")) == me
                    and contains_ref(html_to_text(s.get("content") or ""), ref)):
                return Published(str(s["id"]), s.get("url"))
        found = self.api.find_own_status(ref)
        return None if found is None else Published(remote_id=str(found["id"]), url=found.get("url"))

    def accept_strangers(self) -> str:
        """Make sure mentions from accounts the bot does not follow (or that are new, or
        private mentions) reach the notifications list instead of "filtered notifications"
        (Mastodon 4.3+). Returns what was done, for the log."""
        policy = self.api.notification_policy()
        if policy is None:
            return "the server has no notification policy (before Mastodon 4.3): mentions arrive unfiltered"
        change = {f: "accept" for f in POLICY_FIELDS if policy.get(f, "accept") != "accept"}
        if not change:
            return "the notification policy already accepts mentions from strangers"
        self.api.update_notification_policy(change)
        return "notification policy changed to accept " + ", ".join(sorted(change))

    def reply(self, *, in_reply_to_id: str, text: str, visibility: str, key: str,
              image_path: Path | None = None, alt_text: str = "", video_path: Path | None = None) -> Published:
        """Post `text` as a reply with explicit visibility (never copied from the parent),
        optionally with one image (or a video, `image_path` then its poster frame), under the
        idempotency key derived from `key`."""
        body = fit_status(text, self.api.limits())
        media_ids = None
        if video_path is not None:
            media_ids = [self.api.upload_video(video_path, alt_text, poster=image_path)["id"]]
        elif image_path is not None:
            media_ids = [self.api.upload_image(image_path, alt_text)["id"]]
        status = self.api.post_status(body, key=key, action="post the reply", in_reply_to_id=in_reply_to_id,
                                      media_ids=media_ids, visibility=visibility, language=self.language)
        failpoints.hit("posted")  # tests: die with the reply made, its answer not recorded
        return Published(remote_id=str(status["id"]), url=status.get("url"))
