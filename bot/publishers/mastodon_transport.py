"""The one way the bot talks to a Mastodon server: one `requests` session, one rate budget,
one mapping of failures to `PublishError`. The actions themselves are mastodon_api.py.

- Every call, whether through Mastodon.py or a plain REST call (`json`), runs inside
  `calling()`, which makes a `Call`: what the call is doing (its action in words, its
  rate-limit bucket) and the answer the server gave it. A response hook on the session finds
  the call in flight through a context variable, which is per thread, so one transport can
  serve several threads at once (the scheduled posts, the requests worker, the retry job)
  without one call's answer or bucket leaking into another's. Nothing about a call is kept
  on the instance.
- The bucket is chosen per method with `@bucket(Bucket.MEDIA)`, as Mastodon.py marks its methods
  with `@api_version`: calls made inside the decorated method count against that bucket.
- Mastodon.py runs with `ratelimit_method="throw"` (its default sleeps inside the call), and
  the hook keeps the call's answer so the real HTTP status, the server's error text and the
  rate-limit headers that Mastodon.py drops can be read.
- Rate limits are respected before asking: the `X-RateLimit-*` headers of each answer (and a
  429's Retry-After) are remembered per bucket (ratelimit.py), in the bot's database when one
  is given (`limits`), so every process honours them; a call into an exhausted bucket fails
  locally with `retry_after`.
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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

from .base import LimitStore, PublishError
from .errors import StatusWords, error_text, snippet, status_error
from .ratelimit import Bucket, RateBudget, retry_after_from_headers

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

REQUIRED_SCOPES = "read:accounts read:statuses write:accounts write:media write:statuses"
USER_AGENT = "lucid-dream-bot/0.1 (Mastodon.py)"


@dataclass
class Call:
    """One call in flight: what it is doing, which budget it spends, what the server answered."""

    action: str  # in words, for errors: "upload the image"
    bucket: Bucket
    response: requests.Response | None = None


# Per thread (and per asyncio task): the bucket chosen by `@bucket`, and the call in flight.
_BUCKET: ContextVar[Bucket] = ContextVar("mastodon_bucket", default=Bucket.API)
_CALL: ContextVar[Call | None] = ContextVar("mastodon_call", default=None)


def bucket(name: Bucket) -> Callable[[F], F]:
    """Calls made inside the decorated method count against rate-limit bucket `name`."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _BUCKET.set(name)
            try:
                return fn(*args, **kwargs)
            finally:
                _BUCKET.reset(token)

        return wrapper  # type: ignore[return-value]

    return decorate


class MastodonTransport:
    """One server and account: the session, Mastodon.py on it, the rate budget, the errors."""

    def __init__(self, api_base_url: str, access_token: str, *, timeout: float = 30.0,
                 limits: LimitStore | None = None):
        self.api_base_url = api_base_url.rstrip("/")
        self.timeout = float(timeout)
        self._token = access_token
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.hooks["response"].append(self._on_response)
        self.client = Mastodon(  # Mastodon.py; also what the streaming API listens with
            access_token=access_token, api_base_url=self.api_base_url, ratelimit_method="throw",
            request_timeout=self.timeout, session=self.session, user_agent=USER_AGENT,
        )
        # per server and account (a hash: the token itself is never stored)
        account = hashlib.sha256(f"{self.api_base_url}\n{access_token}".encode()).hexdigest()[:16]
        self.budget = RateBudget(limits, f"mastodon:{account}:")
        self._version_known = False

    def __repr__(self) -> str:  # never show the token
        return f"MastodonTransport({self.api_base_url!r})"

    # --- calls ------------------------------------------------------------------------------
    @contextmanager
    def calling(self, action: str) -> Iterator[Call]:
        """A call in the current bucket: refused locally while the budget is spent, its answer
        recorded on the `Call` it yields, Mastodon.py's and requests' errors made `PublishError`."""
        call = Call(action, _BUCKET.get())
        self.budget.check(call.bucket, action)
        token = _CALL.set(call)
        try:
            yield call
        except MastodonError as exc:
            raise self._translate(exc, call) from exc
        except requests.RequestException as exc:
            raise self.network_error(exc, action) from exc
        finally:
            _CALL.reset(token)

    def call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` (a Mastodon.py method, or the session's) as one call."""
        with self.calling(action):
            return fn(*args, **kwargs)

    def json(self, method: str, path: str, action: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """A plain REST call on the same session: the stored JSON as the server sent it.
        missing_ok: 404/410 answer None (gone, not a failure)."""
        resp = self.call(action, self.session.request, method, self.api_base_url + path, params=params,
                         json=body, headers={"Authorization": f"Bearer {self._token}"}, timeout=self.timeout)
        if missing_ok and resp.status_code in (404, 410):
            return None
        if not resp.ok:
            raise self.http_error(resp, action)
        try:
            return resp.json()
        except ValueError:
            raise self.malformed(resp, action) from None

    def ensure_version(self) -> None:
        # Mastodon.py picks v1 or v2 media upload from the server version, and when it
        # cannot read the version it silently assumes 1.0.0: ask once and fail loudly.
        if self._version_known:
            return
        action = "read the server version"
        with self.calling(action) as call:
            version = self.client.retrieve_mastodon_version()
        api = self.client
        if (api.mastodon_major, api.mastodon_minor, api.mastodon_patch) < (3, 1, 4):
            resp = call.response
            if resp is None:
                raise PublishError(f"could not {action} on Mastodon ({self.api_base_url}); will try again later",
                                   transient=True)
            if not resp.ok:
                raise self.http_error(resp, action)
            raise PublishError(
                f"{self.api_base_url} reports version {version}; posting images needs Mastodon 3.1.4 or newer",
                transient=False,
            )
        self._version_known = True

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Runs in the thread that made the request, so _CALL is that thread's call in flight
        # (None: an answer outside any call, e.g. Mastodon.py's own version probe).
        call = _CALL.get()
        if call is not None:
            call.response = response
        self.budget.update(call.bucket if call is not None else Bucket.API, response.headers, response.status_code)

    # --- errors -----------------------------------------------------------------------------
    def _translate(self, exc: MastodonError, call: Call) -> PublishError:
        action, resp = call.action, call.response
        if isinstance(exc, MastodonVersionError) and isinstance(exc.__cause__, MastodonError):
            exc = exc.__cause__
        if isinstance(exc, MastodonNetworkError):
            return self.network_error(exc, action)
        if resp is not None and not resp.ok:
            return self.http_error(resp, action)
        if isinstance(exc, MastodonRatelimitError):
            return PublishError(f"Mastodon rate limit while trying to {action}: {exc}", transient=True,
                                retry_after=60.0)
        if resp is not None and isinstance(exc, MastodonAPIError):
            return self.malformed(resp, action)  # a 2xx Mastodon.py could not parse
        return PublishError(f"could not {action} on Mastodon: {exc}", transient=False)

    def network_error(self, exc: Exception, action: str) -> PublishError:
        text = str(exc)
        if "timed out" in text.lower() or isinstance(exc, requests.Timeout):
            why = f"no answer within {self.timeout:g}s"
        else:
            why = "could not connect"
        return PublishError(f"could not {action} on Mastodon ({self.api_base_url}): {why}: {text}", transient=True)

    def malformed(self, resp: requests.Response, action: str) -> PublishError:
        return PublishError(
            f"Mastodon answered HTTP {resp.status_code} with a body that is not valid JSON while "
            f"trying to {action} ({snippet(resp)}); will try again later",
            transient=True,
        )

    def http_error(self, resp: requests.Response, action: str) -> PublishError:
        detail = error_text(resp)
        said = f" (HTTP {resp.status_code}: {detail})" if detail else f" (HTTP {resp.status_code})"
        retry_after = retry_after_from_headers(resp.headers) or 60.0
        return status_error(resp.status_code, StatusWords(
            rate_limited=f"Mastodon rate limit reached while trying to {action}{said}; retry in {retry_after:.0f}s",
            server_error=f"Mastodon server error while trying to {action}{said}; will try again later",
            refused=f"Mastodon refused to {action}{said}",
            permanent={
                401: f"Mastodon rejected the access token{said}: it is wrong, expired or revoked. "
                     f"Create a new one with the scopes {REQUIRED_SCOPES}.",
                403: f"Mastodon refused to let the access token {action}{said}: it lacks the scopes "
                     f"{REQUIRED_SCOPES}, or the account is suspended or limited.",
                404: f"Mastodon could not find what we need to {action}{said}; is {self.api_base_url} "
                     f"a Mastodon API server?",
                413: f"Mastodon refused the upload as too large{said} although it is within the "
                     f"advertised limit; the server's proxy allows less",
            },
            retry_statuses=(408, 409, 425),
        ), retry_after=retry_after)
