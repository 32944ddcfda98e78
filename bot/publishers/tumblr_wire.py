"""How Tumblr's answers and names read: blog identifiers, error descriptions, when to try again
(Retry-After and the rate-limit headers) and when Tumblr's day starts again."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any


def seconds_until_daily_reset(now: datetime | None = None, *, utc_only: bool = False) -> float:
    """Seconds until the next 00:00 UTC, or 05:00 UTC if that comes first (Tumblr's day may
    follow New York time), plus a minute of margin."""
    now = now or datetime.now(timezone.utc)
    hours = (0,) if utc_only else (0, 5)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    candidates = [day + timedelta(days=d, hours=h) for d in (0, 1) for h in hours]
    nxt = min(c for c in candidates if c > now)
    return (nxt - now).total_seconds() + 60.0


def blog_identifier(blog: str) -> str:
    ident = re.sub(r"^https?://", "", blog.strip()).strip("/")
    if ident.startswith("www.tumblr.com/"):
        ident = ident.split("/", 1)[1].lstrip("@")
    if not ident or "/" in ident or " " in ident:
        raise ValueError(f"not a Tumblr blog name or hostname: {blog!r}")
    return ident


def describe_error(error: Mapping[str, Any]) -> str:
    title = str(error.get("title") or "").strip()
    detail = str(error.get("detail") or "").strip()
    code = error.get("code")
    parts = [title] if title else []
    if detail and detail != title:
        parts.append(detail)
    text = " — ".join(parts)
    return f"{text} (code {code})" if code else text


def retry_after(headers: Mapping[str, str]) -> float:
    value = header_seconds(headers.get("Retry-After"))
    if value is not None:
        return value
    for period in ("Perday", "Perhour"):
        if headers.get(f"X-Ratelimit-{period}-Remaining", "").strip() == "0":
            reset = header_seconds(headers.get(f"X-Ratelimit-{period}-Reset"))
            if reset is not None:
                return reset
    return 60.0


def header_seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def page_text(text: str) -> str:
    title = re.search(r"<title[^>]*>(.*?)</title>", text or "", re.I | re.S)
    plain = re.sub(r"<[^>]+>", " ", title.group(1) if title else text or "")
    return re.sub(r"\s+", " ", plain).strip()[:160]
