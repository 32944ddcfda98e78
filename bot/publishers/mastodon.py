"""Publish dreams to a Mastodon server (any server speaking the Mastodon API).

A post is one status with one image, its text fitted to the server's limits
(mastodon_text.py), through the API module (mastodon_api.py: one method per action, the
bounded media wait; its transport, rate budget and error mapping are mastodon_transport.py). Duplicates: the status is posted with an `Idempotency-Key`
derived from the post id, so a retry within the server's window (about an hour) returns the
first status. For later retries (after a crash) `find_existing` looks through the bot's own
recent statuses for the post's reference line (see `marker.py`), which ends every status we
make.

Polls for the next mutant (bot/polls) are held here too (the `PollBoard` protocol): a status
with a single-choice poll, posted under an idempotency key and a reference line like a post,
and its tallies read back once it has closed.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from bot import failpoints

from .base import PollDraft, PollLimits, PostedPoll, Post, Published, PublishError
from .marker import post_ref
from .mastodon_api import MastodonApi
from .mastodon_text import MastodonLimits, compose_status, compose_text

VISIBILITIES = ("public", "unlisted", "private", "direct")


class MastodonPublisher:
    """Posts a `Post` as a status with one image; see the module docstring."""

    name = "mastodon"

    def __init__(self, api: MastodonApi, *, visibility: str = "public", language: str | None = None,
                 spoiler_text: str | None = None):
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
        self.api = api
        self.visibility = visibility
        self.language = language or None
        self.spoiler_text = spoiler_text or None
        self._bot_flag_checked = False

    def __repr__(self) -> str:  # never show the token
        return f"MastodonPublisher({self.api.api_base_url!r}, visibility={self.visibility!r})"

    # --- the Publisher protocol -------------------------------------------------------
    def publish(self, post: Post) -> Published:
        limits = self.limits()
        if not self._bot_flag_checked:
            self.ensure_bot_flag()
        text = compose_status(post, limits, self.spoiler_text)
        if post.video_path is not None:  # a dive: the video, its poster frame as the thumbnail
            media = self.api.upload_video(post.video_path, post.alt_text, poster=post.image_path)
        else:
            media = self.api.upload_image(post.image_path, post.alt_text)
        status = self.api.post_status(text, key=post.post_id, media_ids=[media["id"]], visibility=self.visibility,
                                      language=self.language, spoiler_text=self.spoiler_text)
        failpoints.hit("posted")  # tests: die with the status made, its answer not recorded
        return Published(remote_id=str(status["id"]), url=status.get("url"))

    def find_existing(self, post: Post) -> Published | None:
        """The bot's recent status carrying the post's reference line (see
        MastodonApi.find_own_status: "could not look" raises, never answers "not there")."""
        status = self.api.find_own_status(post_ref(post.post_id))
        return None if status is None else Published(remote_id=str(status["id"]), url=status.get("url"))

    # --- extras the bot uses ------------------------------------------------------------
    def send_direct(self, acct: str, text: str, key: str | None = None) -> None:
        self.api.send_direct(acct, text, key)

    def ensure_bot_flag(self) -> None:
        """Mark the account as a bot (Mastodon shows a BOT badge) unless it already is."""
        if not self.api.verify_credentials().get("bot"):
            self.api.set_bot_flag()
        self._bot_flag_checked = True

    def rate_wait(self, media: bool = True) -> float:
        return self.api.rate_wait(media)

    def limits(self) -> MastodonLimits:
        return self.api.limits()

    # --- polls (bot/polls, the PollBoard protocol) ---------------------------------------
    def poll_limits(self) -> PollLimits:
        m = self.limits()
        return PollLimits(m.poll_max_options, m.poll_max_characters_per_option, m.poll_min_expiration,
                          m.poll_max_expiration)

    def post_poll(self, draft: PollDraft) -> PostedPoll:
        limits = self.limits()
        if not self._bot_flag_checked:
            self.ensure_bot_flag()
        text = compose_text(draft.key, draft.text, draft.tags, limits, self.spoiler_text)
        status = self.api.post_poll(text, draft.options, draft.seconds, key=draft.key, visibility=self.visibility,
                                    language=self.language, spoiler_text=self.spoiler_text)
        return posted_poll(status, draft.seconds)

    def find_poll(self, key: str) -> PostedPoll | None:
        status = self.api.find_own_status(post_ref(key))
        return None if status is None else posted_poll(status)

    def read_votes(self, poll_id: str) -> tuple[int, ...] | None:
        poll = self.api.poll(poll_id)
        if poll is None:
            return None
        # null until the results are published (hide_totals, which the bot never asks for)
        return tuple(int(o.get("votes_count") or 0) if isinstance(o, Mapping) else 0 for o in poll["options"])


def posted_poll(status: Mapping[str, Any], seconds: int | None = None) -> PostedPoll:
    """A status with a poll, as the bot records it (`seconds`: when the server gives no end)."""
    poll = status.get("poll")
    if not isinstance(poll, Mapping) or "id" not in poll:
        raise PublishError("Mastodon answered the poll's status without its poll: does the server support "
                           "polls? (set [polls] enabled = false if not)", transient=False)
    ends = poll.get("expires_at")
    if isinstance(ends, str):
        ends = datetime.fromisoformat(ends.replace("Z", "+00:00"))
    if not isinstance(ends, datetime):
        ends = datetime.now(timezone.utc) + timedelta(seconds=seconds or 0)
    ends = ends if ends.tzinfo else ends.replace(tzinfo=timezone.utc)
    return PostedPoll(remote_id=str(status["id"]), url=status.get("url"), poll_id=str(poll["id"]),
                      closes_at=ends.astimezone(timezone.utc).isoformat(timespec="seconds"))
