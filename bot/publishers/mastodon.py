"""Publish dreams to a Mastodon server (any server speaking the Mastodon API) via Mastodon.py.

What this adds on top of Mastodon.py, and why:
- Limits (status length, alt-text length, image bytes and pixels, accepted types) are read
  from the server's `/api/v2/instance` at run time (cached for an hour), never hard-coded:
  servers differ (mastodon.social allows 16 MiB and 33 MP images, older servers 10 MiB).
- Media is uploaded through v2 and then polled for a BOUNDED time: Mastodon.py's
  `synchronous=True` polls forever and turns every error into "could not be processed",
  and attaching an unprocessed upload answers 422.
- Every failure becomes a `PublishError` saying whether a retry can help: Mastodon.py is
  run with `ratelimit_method="throw"` (its default sleeps inside the call), and a response
  hook on its requests session keeps the last response so we can read the real HTTP status,
  the server's error text and the rate-limit headers that Mastodon.py drops.
- Rate limits are respected before asking: the `X-RateLimit-*` headers of each answer (and
  a 429's Retry-After) are remembered per bucket (media uploads, 30 per 30 minutes on stock
  servers, and everything else), in the bot's database when one is given (`limits`), so every
  process honours them; a call into an exhausted bucket fails locally with `retry_after`,
  and `rate_wait()` tells a caller how long to wait before trying at all.
- Duplicates: the status is posted with an `Idempotency-Key` derived from the post id, so a
  retry within the server's window (about an hour) returns the first status. For later
  retries (after a crash) `find_existing` looks through the bot's own recent statuses for
  the post's reference line (see `marker.py`), which ends every status we make.

The token needs the scopes `read:accounts read:statuses write:accounts write:media
write:statuses` (or simply `read write`).
"""
from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonVersionError,
)

from bot import failpoints

from .base import LimitStore, Post, Published, PublishError
from .marker import contains_ref, post_ref
from .media import fit_image, fit_text, split_trailing_hashtags
from .ratelimit import RateBudget, retry_after_from_headers

T = TypeVar("T")

VISIBILITIES = ("public", "unlisted", "private", "direct")
REQUIRED_SCOPES = "read:accounts read:statuses write:accounts write:media write:statuses"
USER_AGENT = "lucid-dream-bot/0.1 (Mastodon.py)"

# Used only for keys a server does not report. Stock Mastodon values, picked on the
# cautious side where versions differ (10 MiB / 16 MP are the pre-4.x image limits).
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23
DEFAULT_DESCRIPTION_LIMIT = 1500  # Mastodon's MAX_DESCRIPTION_LENGTH; not reported before 4.4
DEFAULT_IMAGE_SIZE_LIMIT = 10 * 1024 * 1024
DEFAULT_IMAGE_MATRIX_LIMIT = 4096 * 4096
DEFAULT_MIME_TYPES = ("image/jpeg", "image/png")

LIMITS_TTL = 3600.0  # re-read the server's limits hourly: admins change them
FIND_EXISTING_PAGES = 3  # pages of 40 of the bot's own statuses searched by find_existing
_MIN_BODY = 40  # below this many characters of caption we start dropping hashtags
_URL_RE = re.compile(r"https?://[^\s<>\"]+")
_URL_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class MastodonLimits:
    """The numbers we need from a server's instance configuration."""

    max_characters: int = DEFAULT_MAX_CHARACTERS
    characters_reserved_per_url: int = DEFAULT_URL_CHARACTERS
    max_media_attachments: int = 4
    description_limit: int = DEFAULT_DESCRIPTION_LIMIT
    image_size_limit: int = DEFAULT_IMAGE_SIZE_LIMIT
    image_matrix_limit: int = DEFAULT_IMAGE_MATRIX_LIMIT
    supported_mime_types: tuple[str, ...] = DEFAULT_MIME_TYPES


def limits_from_instance(instance: Mapping[str, Any]) -> MastodonLimits:
    """Read limits from an `/api/v2/instance` (or v1) body; missing/null/bad values fall
    back to stock defaults (e.g. `description_limit` is absent before Mastodon 4.4)."""
    config = _mapping(instance.get("configuration"))
    statuses = _mapping(config.get("statuses"))
    media = _mapping(config.get("media_attachments"))
    mimes = media.get("supported_mime_types")
    if isinstance(mimes, list) and all(isinstance(m, str) for m in mimes) and mimes:
        mime_types = tuple(m.lower() for m in mimes)
    else:
        mime_types = DEFAULT_MIME_TYPES
    return MastodonLimits(
        # Pleroma/Akkoma report `max_toot_chars` at the top level instead.
        max_characters=_positive(
            statuses.get("max_characters"), _positive(instance.get("max_toot_chars"), DEFAULT_MAX_CHARACTERS)
        ),
        characters_reserved_per_url=_positive(statuses.get("characters_reserved_per_url"), DEFAULT_URL_CHARACTERS),
        max_media_attachments=_positive(statuses.get("max_media_attachments"), 4),
        description_limit=_positive(media.get("description_limit"), DEFAULT_DESCRIPTION_LIMIT),
        image_size_limit=_positive(media.get("image_size_limit"), DEFAULT_IMAGE_SIZE_LIMIT),
        image_matrix_limit=_positive(media.get("image_matrix_limit"), DEFAULT_IMAGE_MATRIX_LIMIT),
        supported_mime_types=mime_types,
    )


def status_length(text: str, url_characters: int = DEFAULT_URL_CHARACTERS) -> int:
    """Length as Mastodon counts it: every link counts as `url_characters`; trailing
    punctuation is not part of a link. Counting code points over-counts combined emoji,
    which only errs on the safe side."""
    total = len(text)
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        total += url_characters - len(url)
    return total


def compose_status(post: Post, limits: MastodonLimits, spoiler_text: str | None = None) -> str:
    """The exact status text for a post: caption, reference line, hashtags.

    Hashtags are the caption's own trailing hashtag line plus `post.tags` not already in
    the caption, as one last line (Mastodon shows a trailing hashtag line as a tag bar).
    The reference line is always kept; the caption is shortened first, then hashtags are
    dropped from the end if the caption would otherwise shrink below a few words.
    The content warning counts towards the limit, as it does on the server.
    """
    ref = post_ref(post.post_id)
    body, tags = split_trailing_hashtags(post.caption.strip())
    seen = {t.lower() for t in tags}
    for raw in post.tags:
        tag = _hashtag(raw)
        if tag and tag.lower() not in seen and not _mentions_tag(body, tag):
            tags.append(tag)
            seen.add(tag.lower())

    budget = limits.max_characters - len(spoiler_text or "")

    def length(s: str) -> int:
        return status_length(s, limits.characters_reserved_per_url)

    def render(b: str, t: list[str]) -> str:
        text = f"{b}\n{ref}" if b else ref
        return f"{text}\n\n{' '.join(t)}" if t else text

    while True:
        room = budget - length(render("", tags)) - 1  # 1: the newline before the ref
        if tags and room < min(_MIN_BODY, length(body)):
            tags.pop()
            continue
        fitted = fit_text(body, room, length=length) if room > 0 else ""
        return render(fitted, tags)


def html_to_text(content: str) -> str:
    """Plain text of a status' HTML content (line breaks kept, links as their text)."""
    text = re.sub(r"<br\s*/?>", "\n", content, flags=re.I)
    text = re.sub(r"</p\s*>", "\n\n", text, flags=re.I)
    text = re.sub(r"<[^>]+>", "", text)
    lines = [line.strip() for line in html.unescape(text).split("\n")]
    return "\n".join(lines).strip()


def idempotency_key(post_id: str) -> str:
    """Stable per post, opaque, header-safe."""
    return "ldb-" + hashlib.sha256(f"mastodon:{post_id}".encode()).hexdigest()[:32]


class MastodonPublisher:
    """Posts a `Post` as a status with one image; see the module docstring."""

    name = "mastodon"

    def __init__(
        self,
        api_base_url: str,
        access_token: str,
        *,
        visibility: str = "public",
        language: str | None = None,
        spoiler_text: str | None = None,
        timeout: float = 30.0,
        processing_wait: float = 60.0,
        limits: LimitStore | None = None,
    ):
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
        self.api_base_url = api_base_url.rstrip("/")
        self.visibility = visibility
        self.language = language or None
        self.spoiler_text = spoiler_text or None
        self.timeout = float(timeout)
        self.processing_wait = float(processing_wait)
        self._token = access_token
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.hooks["response"].append(self._on_response)
        self._api = Mastodon(
            access_token=access_token,
            api_base_url=self.api_base_url,
            ratelimit_method="throw",
            request_timeout=self.timeout,
            session=self._session,
            user_agent=USER_AGENT,
        )
        self._last_response: requests.Response | None = None
        # per server and account (a hash: the token itself is never stored)
        account = hashlib.sha256(f"{self.api_base_url}\n{access_token}".encode()).hexdigest()[:16]
        self._budget = RateBudget(limits, f"mastodon:{account}:")
        self._limits: MastodonLimits | None = None
        self._limits_read_at = 0.0
        self._version_known = False
        self._bot_flag_checked = False
        self._account_id: Any = None
        self._bucket = "api"  # which rate-limit bucket the call in flight belongs to

    def __repr__(self) -> str:  # never show the token
        return f"MastodonPublisher({self.api_base_url!r}, visibility={self.visibility!r})"

    # --- the Publisher protocol -------------------------------------------------------

    def publish(self, post: Post) -> Published:
        limits = self.limits()
        if not self._bot_flag_checked:
            self.ensure_bot_flag()
        text = compose_status(post, limits, self.spoiler_text)
        alt_text = fit_text(post.alt_text.strip(), limits.description_limit)
        media = self._upload(post, limits, alt_text)
        media = self._wait_until_processed(media)
        status = self._call(
            "post the status",
            self._api.status_post,
            text,
            media_ids=[media["id"]],
            visibility=self.visibility,
            language=self.language,
            spoiler_text=self.spoiler_text,
            idempotency_key=idempotency_key(post.post_id),
        )
        failpoints.hit("posted")  # tests: die with the status made, its answer not recorded
        return Published(remote_id=str(status["id"]), url=status.get("url"))

    def find_existing(self, post: Post) -> Published | None:
        """Search the bot's last FIND_EXISTING_PAGES*40 statuses for the post's reference
        line. Raises PublishError when the server cannot be asked (so the caller does not
        mistake "could not look" for "not there" and post twice)."""
        ref = post_ref(post.post_id)
        account_id = self._own_account_id()
        max_id = None
        for _ in range(FIND_EXISTING_PAGES):
            page = self._call(
                "list the bot's recent statuses",
                self._api.account_statuses,
                account_id,
                limit=40,
                max_id=max_id,
                exclude_reblogs=True,
            )
            for status in page:
                if contains_ref(html_to_text(status.get("content") or ""), ref):
                    return Published(remote_id=str(status["id"]), url=status.get("url"))
            if len(page) < 40:
                break
            max_id = page[-1]["id"]
        return None

    # --- extras the bot uses ------------------------------------------------------------

    def send_direct(self, acct: str, text: str, key: str | None = None) -> None:
        """Send `text` as a direct (mentioned-only) status to `acct` (user or user@host);
        `key`, when given, makes a resend within the server's window the same status."""
        acct = acct.strip().lstrip("@")
        if not acct:
            raise ValueError("send_direct needs an account such as admin@example.social")
        limits = self.limits()
        mention = f"@{acct} "
        body = fit_text(
            text.strip(),
            limits.max_characters - len(mention),
            length=lambda s: status_length(s, limits.characters_reserved_per_url),
        )
        self._call("send a direct message", self._api.status_post, mention + body, visibility="direct",
                   idempotency_key=idempotency_key("dm:" + key) if key else None)

    def ensure_bot_flag(self) -> None:
        """Mark the account as a bot (Mastodon shows a BOT badge) unless it already is."""
        me = self._call("read the bot's account", self._api.account_verify_credentials)
        self._account_id = me["id"]
        if not me.get("bot"):
            self._call("set the account's bot flag", self._api.account_update_credentials, bot=True)
        self._bot_flag_checked = True

    def rate_wait(self, media: bool = True) -> float:
        """Seconds before the rate limits allow a post (media: one with an image); 0 = now."""
        return self._budget.wait(("api", "media") if media else ("api",))

    def limits(self) -> MastodonLimits:
        """The server's current limits (re-read at most hourly)."""
        if self._limits is None or time.monotonic() - self._limits_read_at > LIMITS_TTL:
            self._limits = limits_from_instance(self._instance_info())
            self._limits_read_at = time.monotonic()
        return self._limits

    # --- internals ------------------------------------------------------------------------

    def _instance_info(self) -> Mapping[str, Any]:
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

    def _json(self, method: str, path: str, action: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """A plain REST call for what Mastodon.py lacks or hides: the real status and errors
        mapped like every other call. missing_ok: 404/410 answer None (gone, not a failure)."""
        self._budget.check("api", action)
        try:
            resp = self._session.request(
                method, self.api_base_url + path, params=params, json=body,
                headers={"Authorization": f"Bearer {self._token}"}, timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise self._network_error(exc, action) from exc
        if missing_ok and resp.status_code in (404, 410):
            return None
        if not resp.ok:
            raise self._http_error(resp, action)
        try:
            return resp.json()
        except ValueError:
            raise self._malformed(resp, action) from None

    def _ensure_version(self) -> None:
        # Mastodon.py picks v1 or v2 media upload from the server version, and when it
        # cannot read the version it silently assumes 1.0.0: ask once and fail loudly.
        if self._version_known:
            return
        action = "read the server version"
        version = self._call(action, self._api.retrieve_mastodon_version)
        api = self._api
        if (api.mastodon_major, api.mastodon_minor, api.mastodon_patch) < (3, 1, 4):
            resp = self._last_response
            if resp is None:
                raise PublishError(
                    f"could not {action} on Mastodon ({self.api_base_url}); will try again later",
                    transient=True,
                )
            if not resp.ok:
                raise self._http_error(resp, action)
            raise PublishError(
                f"{self.api_base_url} reports version {version}; posting images needs Mastodon 3.1.4 or newer",
                transient=False,
            )
        self._version_known = True

    def _own_account_id(self) -> Any:
        if self._account_id is None:
            me = self._call("read the bot's account", self._api.account_verify_credentials)
            self._account_id = me["id"]
        return self._account_id

    def _upload(self, post: Post, limits: MastodonLimits, alt_text: str) -> Mapping[str, Any]:
        try:
            data, mime = fit_image(
                post.image_path,
                max_bytes=limits.image_size_limit,
                max_pixels=limits.image_matrix_limit,
                formats=limits.supported_mime_types,
            )
        except ValueError as exc:
            raise PublishError(f"cannot prepare the image for Mastodon: {exc}", transient=False) from exc
        self._ensure_version()
        extension = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[mime]
        media = self._call(
            "upload the image",
            self._api.media_post,
            data,
            mime_type=mime,
            description=alt_text,
            file_name=f"dream.{extension}",
            synchronous=False,
            bucket="media",
        )
        failpoints.hit("upload")  # tests: die with the image on the server, the status not posted
        return media

    def _wait_until_processed(self, media: Mapping[str, Any]) -> Mapping[str, Any]:
        deadline = time.monotonic() + self.processing_wait
        delay = 0.5
        while not media.get("url"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise PublishError(
                    f"Mastodon had not finished processing the uploaded image (media "
                    f"{media.get('id')}) after {self.processing_wait:g}s; will try again later",
                    transient=True,
                    retry_after=60.0,
                )
            time.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
            media = self._call("check the uploaded image", self._api.media, media["id"])
        return media

    def _call(self, action: str, fn: Callable[..., T], *args: Any, bucket: str = "api", **kwargs: Any) -> T:
        self._budget.check(bucket, action)
        self._last_response = None
        self._bucket = bucket
        try:
            return fn(*args, **kwargs)
        except MastodonError as exc:
            raise self._translate(exc, action) from exc
        finally:
            self._bucket = "api"

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response
        self._budget.update(self._bucket, response.headers, response.status_code)

    def _translate(self, exc: MastodonError, action: str) -> PublishError:
        if isinstance(exc, MastodonVersionError) and isinstance(exc.__cause__, MastodonError):
            exc = exc.__cause__
        resp = self._last_response
        if isinstance(exc, MastodonNetworkError):
            return self._network_error(exc, action)
        if resp is not None and not resp.ok:
            return self._http_error(resp, action)
        if isinstance(exc, MastodonRatelimitError):
            return PublishError(
                f"Mastodon rate limit while trying to {action}: {exc}", transient=True, retry_after=60.0
            )
        if resp is not None and isinstance(exc, MastodonAPIError):
            return self._malformed(resp, action)  # a 2xx Mastodon.py could not parse
        return PublishError(f"could not {action} on Mastodon: {exc}", transient=False)

    def _network_error(self, exc: Exception, action: str) -> PublishError:
        text = str(exc)
        if "timed out" in text.lower() or isinstance(exc, requests.Timeout):
            why = f"no answer within {self.timeout:g}s"
        else:
            why = "could not connect"
        return PublishError(
            f"could not {action} on Mastodon ({self.api_base_url}): {why}: {text}", transient=True
        )

    def _malformed(self, resp: requests.Response, action: str) -> PublishError:
        return PublishError(
            f"Mastodon answered HTTP {resp.status_code} with a body that is not valid JSON while "
            f"trying to {action} ({_snippet(resp)}); will try again later",
            transient=True,
        )

    def _http_error(self, resp: requests.Response, action: str) -> PublishError:
        status = resp.status_code
        detail = _error_text(resp)
        said = f" (HTTP {status}: {detail})" if detail else f" (HTTP {status})"
        if status == 401:
            return PublishError(
                f"Mastodon rejected the access token{said}: it is wrong, expired or revoked. "
                f"Create a new one with the scopes {REQUIRED_SCOPES}.",
                transient=False,
            )
        if status == 403:
            return PublishError(
                f"Mastodon refused to let the access token {action}{said}: it lacks the scopes "
                f"{REQUIRED_SCOPES}, or the account is suspended or limited.",
                transient=False,
            )
        if status == 429:
            retry_after = retry_after_from_headers(resp.headers) or 60.0
            return PublishError(
                f"Mastodon rate limit reached while trying to {action}{said}; retry in "
                f"{retry_after:.0f}s",
                transient=True,
                retry_after=retry_after,
            )
        if status >= 500 or status in (408, 409, 425):
            return PublishError(
                f"Mastodon server error while trying to {action}{said}; will try again later",
                transient=True,
            )
        if status == 404:
            return PublishError(
                f"Mastodon could not find what we need to {action}{said}; is {self.api_base_url} "
                f"a Mastodon API server?",
                transient=False,
            )
        if status == 413:
            return PublishError(
                f"Mastodon refused the upload as too large{said} although it is within the "
                f"advertised limit; the server's proxy allows less",
                transient=False,
            )
        return PublishError(f"Mastodon refused to {action}{said}", transient=False)


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return _snippet(resp) if resp.content else ""
    if isinstance(body, Mapping):
        parts = [str(body[k]) for k in ("error", "error_description") if body.get(k)]
        return ": ".join(parts) if parts else json.dumps(body)[:200]
    return str(body)[:200]


def _snippet(resp: requests.Response) -> str:
    kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
    text = re.sub(r"<[^>]+>", " ", resp.text or "")
    text = re.sub(r"\s+", " ", text).strip()
    return f"{kind}: {text[:160]!r}" if text else kind


def _hashtag(tag: str) -> str:
    words = [w for w in re.split(r"[^\w]+", tag.strip().lstrip("#")) if w]
    if not words:
        return ""
    if len(words) == 1:
        return "#" + words[0]
    return "#" + "".join(w[:1].upper() + w[1:] for w in words)


def _mentions_tag(text: str, tag: str) -> bool:
    return re.search(rf"(?<![\w#]){re.escape(tag)}(?!\w)", text, re.I) is not None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _positive(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return default
    return int(value)
