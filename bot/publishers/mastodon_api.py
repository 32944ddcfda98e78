"""The Mastodon API the bot uses: one method per action, errors as types.

The publisher (mastodon.py) and the requests listener (bot/requests/client.py) each hold a
`MastodonApi`, built from the config by `MastodonApi.from_config`. Every call goes through
one transport (mastodon_transport.py: one `requests` session, one rate budget per bucket,
one error mapping, nothing about a call kept on the instance, so threads may share one), and
every failure is a `PublishError` saying whether a retry can help. What this module adds on
top of Mastodon.py, and why:
- Plain REST calls for what Mastodon.py lacks or hides (the instance limits, notifications
  with `include_filtered`, a status or its replies as stored JSON, the notification policy).
  "Gone" (404/410) is None where the caller asks for something that may have been deleted.
- `rate_wait()` tells a caller how long to wait before trying at all (media uploads have
  their own bucket, 30 per 30 minutes on stock servers: `@bucket(Bucket.MEDIA)`).
- Limits are read from the server's `/api/v2/instance` (mastodon_text.py), cached an hour.
- Media is uploaded through v2 and then polled for a BOUNDED time: Mastodon.py's
  `synchronous=True` polls forever and turns every error into "could not be processed",
  and attaching an unprocessed upload answers 422.
- Statuses are posted with an `Idempotency-Key` derived from a stable key, so a retry within
  the server's window (about an hour) returns the first status.

The token needs the scopes `read:accounts read:statuses write:accounts write:media
write:statuses` (or simply `read write`).
"""
from __future__ import annotations

import hashlib
import io
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mastodon import Mastodon

from bot import failpoints
from bot.caption import inert

from .base import LimitStore, PublishError
from .marker import contains_ref
from .mastodon_text import MastodonLimits, fit_status, html_to_text, limits_from_instance
from .mastodon_transport import REQUIRED_SCOPES, USER_AGENT, MastodonTransport, bucket
from .ratelimit import Bucket
from .media import fit_image, fit_text, fit_thumbnail, fit_video

if TYPE_CHECKING:
    from bot.config import Config

__all__ = ["REQUIRED_SCOPES", "USER_AGENT", "MastodonApi", "id_key", "idempotency_key"]

Json = Mapping[str, Any]

LIMITS_TTL = 3600.0  # re-read the server's limits hourly: admins change them
OWN_STATUS_PAGES = 3  # pages of 40 of the bot's own statuses searched by find_own_status
PAGE = 40  # notifications per page
MAX_PAGES = 10  # notification pages per poll; the cursor picks up the rest next time
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def idempotency_key(key: str) -> str:
    """Stable per key, opaque, header-safe."""
    return "ldb-" + hashlib.sha256(f"mastodon:{key}".encode()).hexdigest()[:32]


def id_key(i: str | int) -> tuple[int, str]:
    """Sort key for Mastodon ids: numeric strings compare as numbers, others as text."""
    s = str(i)
    return (len(s), s) if s.isdigit() else (0, s)


class MastodonApi:
    """One server and account; see the module docstring."""

    def __init__(self, api_base_url: str, access_token: str, *, timeout: float = 30.0,
                 processing_wait: float = 60.0, limits: LimitStore | None = None):
        self.transport = MastodonTransport(api_base_url, access_token, timeout=timeout, limits=limits)
        self.api_base_url = self.transport.api_base_url
        self.timeout = self.transport.timeout
        self.processing_wait = float(processing_wait)
        self._call = self.transport.call
        self._json = self.transport.json
        # What stays between calls is only what the server said about itself and the account
        # (the same for every thread); nothing about a call in flight.
        self._limits: MastodonLimits | None = None
        self._limits_read_at = 0.0
        self._account_id: Any = None

    @classmethod
    def from_config(cls, cfg: "Config", limits: LimitStore | None = None) -> "MastodonApi":
        m = cfg.publishers.mastodon
        return cls(m.api_base_url, cfg.secret("mastodon.access_token"), timeout=m.timeout,
                   processing_wait=m.processing_wait, limits=limits)

    def __repr__(self) -> str:  # never show the token
        return f"MastodonApi({self.api_base_url!r})"

    @property
    def client(self) -> Mastodon:
        """Mastodon.py on the transport's session (also what the streaming API listens with)."""
        return self.transport.client

    # --- limits -----------------------------------------------------------------------------
    def limits(self) -> MastodonLimits:
        """The server's current limits (re-read at most hourly)."""
        if self._limits is None or time.monotonic() - self._limits_read_at > LIMITS_TTL:
            self._limits = limits_from_instance(self._instance())
            self._limits_read_at = time.monotonic()
        return self._limits

    def rate_wait(self, media: bool = True) -> float:
        """Seconds before the rate limits allow a post (media: one with an image); 0 = now."""
        return self.transport.budget.wait((Bucket.API, Bucket.MEDIA) if media else (Bucket.API,))

    # --- the account ------------------------------------------------------------------------
    def verify_credentials(self) -> Json:
        me = self._call("read the bot's account", self.client.account_verify_credentials)
        self._account_id = me["id"]
        return me

    def own_account_id(self) -> str:
        if self._account_id is None:
            self.verify_credentials()
        return str(self._account_id)

    def set_bot_flag(self) -> None:
        self._call("set the account's bot flag", self.client.account_update_credentials, bot=True)

    def own_statuses(self, max_id: Any = None) -> list[Json]:
        """A page (40) of the bot's own statuses, newest first, before `max_id`."""
        return self._call("list the bot's recent statuses", self.client.account_statuses, self.own_account_id(),
                          limit=40, max_id=max_id, exclude_reblogs=True)

    def find_own_status(self, ref: str) -> Json | None:
        """The bot's status carrying the reference line `ref` among its last OWN_STATUS_PAGES*40.
        Raises PublishError when the server cannot be asked (so the caller does not mistake
        "could not look" for "not there" and post twice)."""
        max_id = None
        for _ in range(OWN_STATUS_PAGES):
            page = self.own_statuses(max_id)
            for status in page:
                if contains_ref(html_to_text(status.get("content") or ""), ref):
                    return status
            if len(page) < 40:
                break
            max_id = page[-1]["id"]
        return None

    # --- statuses ---------------------------------------------------------------------------
    def post_status(self, text: str, *, key: str | None, action: str = "post the status", **kw: Any) -> Json:
        """Post a status (`kw`: Mastodon.py's status_post arguments) under the idempotency
        key derived from `key`."""
        return self._call(action, self.client.status_post, text,
                          idempotency_key=idempotency_key(key) if key else None, **kw)

    def send_direct(self, acct: str, text: str, key: str | None = None) -> None:
        """Send `text` as a direct (mentioned-only) status to `acct` (user or user@host);
        `key`, when given, makes a resend within the server's window the same status."""
        acct = acct.strip().lstrip("@")
        if not acct:
            raise ValueError("send_direct needs an account such as admin@example.social")
        mention = f"@{acct} "
        limits = self.limits()
        # A direct status reaches everyone it mentions, and the text names requesters and
        # carries internal errors: only the admin's mention stays live (bot/caption.py's `inert`)
        body = fit_status(inert(text), limits, limits.max_characters - len(mention))
        self.post_status(mention + body, key="dm:" + key if key else None, action="send a direct message",
                         visibility="direct")

    def status(self, status_id: str) -> Json | None:
        """A status, or None when it was deleted (or is no longer visible to the bot)."""
        body = self._json("GET", f"/api/v1/statuses/{status_id}", "read a status", missing_ok=True)
        if body is not None and not (isinstance(body, Mapping) and "id" in body):
            raise PublishError("Mastodon answered a status request with something that is not a status; "
                               "will try again later", transient=True)
        return body

    def replies(self, status_id: str) -> list[Json] | None:
        """The replies below a status (its context's descendants), or None when it is gone."""
        ctx = self._json("GET", f"/api/v1/statuses/{status_id}/context", "read the replies", missing_ok=True)
        if ctx is None:
            return None
        if not isinstance(ctx, Mapping):
            raise PublishError("Mastodon answered a context request with something unexpected; will try again",
                               transient=True)
        return [s for s in ctx.get("descendants") or [] if isinstance(s, Mapping)]

    # --- polls ------------------------------------------------------------------------------
    def post_poll(self, text: str, options: Sequence[str], expires_in: int, *, key: str, **kw: Any) -> Json:
        """Post a status with a single-choice poll that the server ends after `expires_in`
        seconds (`kw`: status_post's visibility, language, spoiler_text), under the
        idempotency key derived from `key`."""
        poll = self.client.make_poll(list(options), expires_in=int(expires_in), multiple=False, hide_totals=False)
        return self.post_status(text, key=key, action="post the poll", poll=poll, **kw)

    def poll(self, poll_id: str) -> Json | None:
        """A poll with its tallies, as stored, or None when it is gone (its status deleted)."""
        body = self._json("GET", f"/api/v1/polls/{poll_id}", "read the poll", missing_ok=True)
        if body is not None and not (isinstance(body, Mapping) and isinstance(body.get("options"), list)):
            raise PublishError("Mastodon answered a poll request with something that is not a poll; "
                               "will try again later", transient=True)
        return body

    # --- media ------------------------------------------------------------------------------
    def upload_image(self, path: Path, alt_text: str) -> Json:
        """Upload an image, fitted to the server's limits, and wait until it is processed."""
        limits = self.limits()
        try:
            data, mime = fit_image(path, max_bytes=limits.image_size_limit, max_pixels=limits.image_matrix_limit,
                                   formats=limits.supported_mime_types)
        except ValueError as exc:
            raise PublishError(f"cannot prepare the image for Mastodon: {exc}", transient=False) from exc
        self.transport.ensure_version()
        media = self._post_media("upload the image", data, mime_type=mime,
                                 description=fit_text(alt_text.strip(), limits.description_limit),
                                 file_name=f"dream.{_EXTENSIONS[mime]}")
        failpoints.hit("upload")  # tests: die with the image on the server, the status not posted
        return self._wait_until_processed(media)

    def upload_video(self, path: Path, alt_text: str, poster: Path | None = None) -> Json:
        """Upload a video (re-encoded first where it is over the server's size, frame rate or
        pixel limits) with its poster frame as the thumbnail, and wait, a bounded time, until
        the server has processed it (video processing is slow: HTTP 202, then polls)."""
        from dreamer.video import VideoError, transcode  # PyAV, only when a video is posted

        limits = self.limits()
        with tempfile.TemporaryDirectory(prefix="lucid-video-") as tmp:
            try:
                fitted = fit_video(path, Path(tmp) / "fitted.mp4", limits, transcode)
            except VideoError as exc:
                raise PublishError(f"cannot prepare the video for Mastodon: {exc}", transient=False) from exc
            thumb = fit_thumbnail(poster, limits)  # None: the server makes its own from the video
            self.transport.ensure_version()
            extra: dict[str, Any] = {}
            if thumb is not None:
                extra = {"thumbnail": io.BytesIO(thumb[0]), "thumbnail_mime_type": thumb[1]}
            media = self._post_media("upload the video", fitted.read_bytes(), mime_type="video/mp4",
                                     description=fit_text(alt_text.strip(), limits.description_limit),
                                     file_name="dive.mp4", **extra)
        failpoints.hit("upload")
        return self._wait_until_processed(media, "video")

    @bucket(Bucket.MEDIA)
    def _post_media(self, action: str, data: bytes, **kw: Any) -> Json:
        """POST /api/v2/media, counted against the media uploads' own rate limit."""
        return self._call(action, self.client.media_post, data, synchronous=False, **kw)

    def _wait_until_processed(self, media: Json, what: str = "image") -> Json:
        deadline = time.monotonic() + self.processing_wait
        delay = 0.5
        while not media.get("url"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise PublishError(
                    f"Mastodon had not finished processing the uploaded {what} (media "
                    f"{media.get('id')}) after {self.processing_wait:g}s; will try again later",
                    transient=True, retry_after=60.0,
                )
            time.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
            media = self._call(f"check the uploaded {what}", self.client.media, media["id"])
        return media

    # --- mentions and the notification policy (Mastodon 4.3+) ---------------------------------
    def mention_notifications(self, min_id: str | None) -> list[Json]:
        """Mention notifications newer than `min_id`, oldest first. `include_filtered` asks
        Mastodon 4.3+ for mentions its notification policy filtered too (from strangers)."""
        out: list[Json] = []
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

    def notification_policy(self) -> Json | None:
        """The notification policy, or None on servers without one (before Mastodon 4.3)."""
        policy = self._json("GET", "/api/v2/notifications/policy", "read the notification policy", missing_ok=True)
        if policy is not None and not isinstance(policy, Mapping):
            raise PublishError("Mastodon answered the notification policy request with something unexpected",
                               transient=True)
        return policy

    def update_notification_policy(self, change: Mapping[str, str]) -> None:
        self._json("PATCH", "/api/v2/notifications/policy", "change the notification policy", body=dict(change))

    # --- the server -------------------------------------------------------------------------
    def _instance(self) -> Json:
        body = self._json("GET", "/api/v2/instance", "read the server's limits", missing_ok=True)
        if body is None:  # servers older than Mastodon 4.0 only have v1
            body = self._json("GET", "/api/v1/instance", "read the server's limits")
        if not isinstance(body, Mapping):
            raise PublishError(
                f"Mastodon server {self.api_base_url} answered the instance request with "
                f"{type(body).__name__} instead of an object",
                transient=True,
            )
        return body
