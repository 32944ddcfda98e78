"""One HTTP status -> `PublishError` mapping for every platform (Mastodon, Tumblr): which
answers a retry can help (429 after its Retry-After, server errors), and which it cannot
(credentials, permissions, something missing, a refusal). Each platform gives the words."""
from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import requests

from .base import PublishError

RATE_LIMITED = 429


@dataclass(frozen=True)
class StatusWords:
    """What a platform says for each kind of failed answer (full messages)."""

    rate_limited: str  # 429: retried after `retry_after`
    server_error: str  # 5xx and `retry_statuses`: retried after the backoff
    refused: str  # any other 4xx: not retried
    permanent: Mapping[int, str]  # messages for particular 4xx (401, 403, 404, ...): not retried
    retry_statuses: Collection[int] = ()  # other statuses a retry can help (e.g. 408)


def status_error(status: int, words: StatusWords, *, retry_after: float) -> PublishError:
    """The error for an answer with HTTP `status` (>= 400)."""
    if status == RATE_LIMITED:
        return PublishError(words.rate_limited, transient=True, retry_after=retry_after)
    if status in words.permanent:
        return PublishError(words.permanent[status], transient=False)
    if status >= 500 or status in words.retry_statuses:
        return PublishError(words.server_error, transient=True)
    return PublishError(words.refused, transient=False)


def error_text(resp: requests.Response) -> str:
    """The server's own words in an error answer (a JSON error, or the start of a page)."""
    try:
        body = resp.json()
    except ValueError:
        return snippet(resp) if resp.content else ""
    if isinstance(body, Mapping):
        parts = [str(body[k]) for k in ("error", "error_description") if body.get(k)]
        return ": ".join(parts) if parts else json.dumps(body)[:200]
    return str(body)[:200]


def snippet(resp: requests.Response) -> str:
    kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
    text = re.sub(r"<[^>]+>", " ", resp.text or "")
    text = re.sub(r"\s+", " ", text).strip()
    return f"{kind}: {text[:160]!r}" if text else kind
