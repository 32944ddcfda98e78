"""Publish dreams to a Tumblr blog as Neue Post Format (NPF) posts.

Why not pytumblr: it only makes legacy posts (`/post`), which carry no alt text and have
been answered with HTML 403 pages; it sets no timeouts, so a stalled connection hangs the
bot; and it never raises, handing back whatever body came (HTML included), so errors are
easy to mistake for success. pytumblr2 can make NPF posts but shares the last two traits.
The API itself is small, so we speak it directly: `requests` with `requests-oauthlib`'s
OAuth1 (the same signing pytumblr uses), an explicit timeout on every request, and a
check of the HTTP status, `meta.status` and the `errors` array of every answer.

A post is one multipart/form-data request to `POST /v2/blog/{blog}/posts`: a `json` part
with the NPF body (image block with alt text, the caption as text blocks, tags,
source_url, state) and one part named by the image block's media identifier. OAuth1 does
not sign multipart bodies, only the URL and the oauth parameters.

Limits: Tumblr allows 250 published posts and 250 image uploads per user per day. Each
post uploads one image, so one count covers both. We count posts per UTC day in memory
(or ask `posts_today`, e.g. the store, when given, so a restart does not forget) and stop
before the limit; when Tumblr itself says the day's limit is reached (403 with code 8004 or
8023) we stop asking until its day turns over. Its "day" follows its servers' clocks,
which may not be UTC, so we retry at the next 00:00 UTC or 05:00 UTC (midnight in New York),
whichever comes first. 429 answers honour Retry-After or the X-Ratelimit-Per* headers.

Dives go as an NPF video block (the MP4 as its own part, the poster frame as the block's
poster). Tumblr's video uploads have a daily limit of their own, far below the posts' (it has
been 5 videos a day per user): counted apart (`videos_today`, e.g. the store), a dive over it
waits for the next day while pictures keep going.

Duplicates: Tumblr has no idempotency key, so every post carries the post's reference as a
tag (see `marker.py`) and `find_existing` looks for it among the blog's recent posts. When
Tumblr answers a post with a 2xx we cannot read, `publish` looks for the post at once
instead of leaving a retry to post it twice.
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

import requests
from PIL import Image
from bot import failpoints
from bot.extras import require

from .base import LimitStore, MemoryLimits, Post, Published, PublishError
from .errors import StatusWords, status_error
from .marker import post_ref
from .media import fit_image
from .tumblr_npf import MEDIA_IDENTIFIER, VIDEO_IDENTIFIER, TumblrState, build_npf
from .tumblr_wire import (
    blog_identifier, describe_error, header_seconds, page_text, retry_after, seconds_until_daily_reset,
)

API_ROOT = "https://api.tumblr.com/v2"
USER_AGENT = "lucid-dream-bot/0.1"  # Tumblr asks for one stable User-Agent per application
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 20_000_000
IMAGE_FORMATS = ("image/jpeg", "image/png")
DAILY_POST_LIMIT = 250
DAILY_VIDEO_LIMIT = 5
MAX_VIDEO_BYTES = 100 * 1024 * 1024
FIND_EXISTING_PAGES = 2  # pages of 20 recent posts searched by find_existing
# Where a post made in each state may be by now, and whether it is published there: one still
# queued or drafted has no URL (the one Tumblr lists for it is not where it will be).
PLACES: dict[TumblrState, tuple[tuple[str, bool], ...]] = {
    TumblrState.PUBLISHED: (("posts", True),),
    TumblrState.PRIVATE: (("posts", True),),
    TumblrState.QUEUE: (("posts/queue", False), ("posts", True)),
    TumblrState.DRAFT: (("posts/draft", False),),
}


class Bucket(StrEnum):
    """A Tumblr limit we stop before. The value ends the key its block is kept under in the
    bot's database ("tumblr:<blog>:api"), so every process (an older one too) reads the same block."""

    API = "api"  # every call: the application's hourly and daily call limits, a 429
    POST = "post"  # creating posts only: the blog's daily limits of posts and uploads


class TumblrPublisher:
    """Posts a `Post` to one Tumblr blog; see the module docstring."""

    name = "tumblr"

    def __init__(
        self,
        blog: str,
        consumer_key: str,
        consumer_secret: str,
        oauth_token: str,
        oauth_secret: str,
        *,
        state: TumblrState | str = TumblrState.PUBLISHED,
        timeout: float = 30.0,
        posts_today: Callable[[], int] | None = None,
        videos_today: Callable[[], int] | None = None,
        limits: LimitStore | None = None,
    ):
        try:
            self.state = TumblrState(state)
        except ValueError:
            raise ValueError(f"state must be one of {', '.join(TumblrState)}, not {state!r}") from None
        self.blog = blog_identifier(blog)
        self.timeout = float(timeout)
        self._posts_today_fn = posts_today
        self._videos_today_fn = videos_today
        self._session = requests.Session()
        oauth1 = require("requests_oauthlib", "tumblr").OAuth1  # the [tumblr] extra
        self._session.auth = oauth1(consumer_key, consumer_secret, oauth_token, oauth_secret)
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.hooks["response"].append(self._on_response)
        self._posts = _DailyCount()  # this process's own count, when the bot's store gives none
        self._videos = _DailyCount()
        # time.time() before which we do not ask Tumblr, and why, per Bucket; in the bot's
        # database when given, so every process honours them.
        self._limits = limits if limits is not None else MemoryLimits()

    def __repr__(self) -> str:  # never show the keys
        return f"TumblrPublisher({self.blog!r}, state={self.state.value!r})"

    def publish(self, post: Post) -> Published:
        self._check_local_limits("create the post")
        try:
            data, mime = fit_image(
                post.image_path, max_bytes=MAX_IMAGE_BYTES, max_pixels=MAX_IMAGE_PIXELS, formats=IMAGE_FORMATS
            )
        except ValueError as exc:
            raise PublishError(f"cannot prepare the image for Tumblr: {exc}", transient=False) from exc
        width, height = Image.open(io.BytesIO(data)).size
        video = self._video_part(post) if post.video_path is not None else None
        npf = build_npf(post, mime=mime, width=width, height=height, state=self.state,
                        video=None if video is None else video[1])
        extension = "jpg" if mime == "image/jpeg" else "png"
        files = [
            ("json", (None, json.dumps(npf), "application/json")),
            (MEDIA_IDENTIFIER, (f"{MEDIA_IDENTIFIER}.{extension}", data, mime)),
        ]
        if video is not None:
            files.append((VIDEO_IDENTIFIER, (f"{VIDEO_IDENTIFIER}.mp4", video[0], "video/mp4")))
        failpoints.hit("upload")  # tests: die with the post prepared, nothing sent yet
        try:
            body = self._request("POST", f"/blog/{self.blog}/posts", "create the post", files=files, posting=True)
        except _UnreadableSuccess:
            # Tumblr said yes in a way we cannot read: the post probably exists. Look for
            # it now rather than leave a retry to post it twice.
            found = self.find_existing(post)
            if found is None:
                raise
            self._count_post(video is not None)
            return found
        response = body.get("response")
        post_id = None
        if isinstance(response, Mapping):
            post_id = response.get("id_string") or response.get("id")
        if not post_id:
            raise PublishError(
                f"Tumblr accepted the post but its answer has no post id: {json.dumps(body)[:200]}",
                transient=False,
            )
        failpoints.hit("posted")  # tests: die with the post made, its answer not recorded
        self._count_post(video is not None)
        return Published(remote_id=str(post_id), url=self._post_url(str(post_id)))

    def _video_part(self, post: Post) -> tuple[bytes, tuple[int, int]]:
        """The dive's bytes and size, once today's video uploads allow one more."""
        from dreamer.video import VideoError, probe  # PyAV, only when a dive is posted

        done = self._videos_today()
        if done >= DAILY_VIDEO_LIMIT:
            wait = seconds_until_daily_reset(utc_only=True)
            raise PublishError(f"not trying to post the dive: {done} videos posted on Tumblr today (UTC), "
                               f"the daily video limit is {DAILY_VIDEO_LIMIT}; retry in {wait:.0f}s",
                               transient=True, retry_after=wait)
        assert post.video_path is not None
        try:
            info = probe(post.video_path)
        except VideoError as exc:
            raise PublishError(f"cannot read the dive for Tumblr: {exc}", transient=False) from exc
        data = post.video_path.read_bytes()
        if len(data) > MAX_VIDEO_BYTES:
            raise PublishError(f"the dive is {len(data)} bytes, over Tumblr's {MAX_VIDEO_BYTES}; make it "
                               "shorter or smaller in [dive]", transient=False)
        return data, (info.width, info.height)

    def find_existing(self, post: Post) -> Published | None:
        """Look for the post's reference tag among the blog's recent posts (and its queue or
        drafts, where this publisher puts them). Raises PublishError when Tumblr cannot be
        asked, so "could not look" is never mistaken for "not there"."""
        ref = post_ref(post.post_id).lower()
        for path, published in PLACES[self.state]:
            for page in range(FIND_EXISTING_PAGES):
                params = {"npf": "true", "limit": 20, "offset": page * 20}
                body = self._request("GET", f"/blog/{self.blog}/{path}", "list the blog's recent posts", params=params)
                response = body.get("response")
                posts = response.get("posts", []) if isinstance(response, Mapping) else []
                for item in posts:
                    if any(str(tag).lower() == ref for tag in item.get("tags") or []):
                        remote_id = str(item.get("id_string") or item.get("id"))
                        url = (item.get("post_url") or self._post_url(remote_id)) if published else None
                        return Published(remote_id=remote_id, url=url)
                if len(posts) < 20 or path == "posts/draft":
                    break
        return None

    # --- internals ------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, action: str, *, posting: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        for bucket in (Bucket.API, Bucket.POST) if posting else (Bucket.API,):
            until, why = self._limits.rate_limit(self._limit_key(bucket)) or (0.0, "")
            left = until - time.time()
            if left > 0:
                raise PublishError(
                    f"not trying to {action} on Tumblr: {why}; retry in {left:.0f}s",
                    transient=True,
                    retry_after=left,
                )
        try:
            resp = self._session.request(method, API_ROOT + path, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise PublishError(
                f"Tumblr did not answer within {self.timeout:g}s while trying to {action}: {exc}", transient=True
            ) from exc
        except requests.RequestException as exc:
            raise PublishError(f"could not reach Tumblr to {action}: {exc}", transient=True) from exc
        return self._check(resp, action)

    def _check(self, resp: requests.Response, action: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._not_json(resp, action)
        meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
        status = resp.status_code
        if status < 400 and isinstance(meta.get("status"), int):
            status = meta["status"]  # JSONP-style answers carry the real status in meta
        if 200 <= status < 300:
            return body
        raise self._api_error(status, body, resp.headers, action)

    def _api_error(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str], action: str) -> PublishError:
        errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
        codes = {e.get("code") for e in errors}
        detail = "; ".join(describe_error(e) for e in errors) or str((body.get("meta") or {}).get("msg") or "")
        code = next((c for c in codes if isinstance(c, int)), None)
        said = f"HTTP {status}" + (f".{code}" if code else "") + (f": {detail}" if detail else "")

        if codes & {8004, 8023}:
            limit = "image uploads" if 8004 in codes else "published posts"
            wait = seconds_until_daily_reset()
            self._block(Bucket.POST, wait, f"the blog has reached Tumblr's daily limit of {limit} ({said})")
            return PublishError(
                f"Tumblr's daily limit of {limit} is reached ({said}); retry in {wait:.0f}s",
                transient=True,
                retry_after=wait,
            )
        if 8022 in codes:
            return PublishError(
                f"the blog's queue is full ({said}); publish or delete queued posts", transient=True, retry_after=3600.0
            )
        wait = retry_after(headers) if status == 429 else 0.0
        if status == 429:
            self._block(Bucket.API, wait, f"Tumblr's rate limit was reached ({said})")
        return status_error(status, StatusWords(
            rate_limited=f"Tumblr rate limit reached while trying to {action} ({said}); retry in {wait:.0f}s",
            server_error=f"Tumblr server error while trying to {action} ({said})",
            refused=f"Tumblr rejected the request to {action} ({said})",
            permanent={
                401: f"Tumblr rejected the OAuth credentials ({said}): check the consumer key and "
                     f"secret and the OAuth token and secret",
                403: f"Tumblr refused to {action} on blog {self.blog!r} ({said}): the OAuth token's "
                     f"user may not post there",
                404: f"Tumblr could not find blog {self.blog!r} ({said}); check the blog name",
            },
        ), retry_after=wait)

    def _not_json(self, resp: requests.Response, action: str) -> PublishError:
        status = resp.status_code
        kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
        message = (
            f"Tumblr answered HTTP {status} with {kind} instead of the API's JSON while "
            f"trying to {action}: {page_text(resp.text)!r}"
        )
        if status == 429:
            wait = retry_after(resp.headers)
            return PublishError(f"{message}; retry in {wait:.0f}s", transient=True, retry_after=wait)
        if status == 401:
            return PublishError(f"{message}; check the OAuth credentials", transient=False)
        if status < 300:
            return _UnreadableSuccess(message, transient=True)
        return PublishError(message, transient=status >= 500)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Per-consumer API limits: stop before Tumblr starts answering 429.
        for period, word in (("Perhour", "hourly"), ("Perday", "daily")):
            if response.headers.get(f"X-Ratelimit-{period}-Remaining", "").strip() == "0":
                wait = header_seconds(response.headers.get(f"X-Ratelimit-{period}-Reset"))
                if wait:
                    self._block(Bucket.API, wait, f"the application's {word} API call limit is used up")

    def _limit_key(self, bucket: Bucket) -> str:
        return f"tumblr:{self.blog}:{bucket}"

    def _block(self, bucket: Bucket, seconds: float, why: str) -> None:
        until = time.time() + seconds
        key = self._limit_key(bucket)
        if until > (self._limits.rate_limit(key) or (0.0, ""))[0]:
            self._limits.set_rate_limit(key, until, why)

    def rate_wait(self, media: bool = True) -> float:
        """Seconds before Tumblr's limits (as last heard, or today's post count) allow a post."""
        left = [max(0.0, (self._limits.rate_limit(self._limit_key(bucket)) or (0.0, ""))[0] - time.time())
                for bucket in Bucket]
        if self._posts_today() >= DAILY_POST_LIMIT:
            left.append(seconds_until_daily_reset(utc_only=True))
        return max(left)

    def _check_local_limits(self, action: str) -> None:
        done = self._posts_today()
        if done >= DAILY_POST_LIMIT:
            wait = seconds_until_daily_reset(utc_only=True)
            raise PublishError(
                f"not trying to {action}: {done} posts made on Tumblr today (UTC), the daily "
                f"limit is {DAILY_POST_LIMIT}; retry in {wait:.0f}s",
                transient=True,
                retry_after=wait,
            )

    def _posts_today(self) -> int:
        return self._posts_today_fn() if self._posts_today_fn is not None else self._posts.today()

    def _videos_today(self) -> int:
        return self._videos_today_fn() if self._videos_today_fn is not None else self._videos.today()

    def _count_post(self, video: bool = False) -> None:
        self._posts.add()
        if video:
            self._videos.add()

    def _post_url(self, post_id: str) -> str | None:
        # Only a post Tumblr publishes at once (publicly, or privately) keeps the id it was made
        # with. A queued or drafted one is published later under a new id (the first becomes its
        # "genesis" id, which no longer finds it), so its first id has no URL, now or then.
        if not self.state.published_at_once or self.blog.startswith("t:"):
            return None
        if "." in self.blog:
            return f"https://{self.blog}/post/{post_id}"
        return f"https://www.tumblr.com/{self.blog}/{post_id}"


@dataclass
class _DailyCount:
    """A count that starts again at midnight UTC, when Tumblr's daily limits do."""

    day: str | None = None
    count: int = 0

    def today(self) -> int:
        now = datetime.now(timezone.utc).date().isoformat()
        if self.day != now:
            self.day, self.count = now, 0
        return self.count

    def add(self) -> None:
        self.count = self.today() + 1


class _UnreadableSuccess(PublishError):
    """A 2xx answer whose body is not the API's JSON: the request may have worked."""
