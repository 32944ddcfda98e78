"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1), which feedparser 6 does not read (nor
does any well-kept library), turned into the shape feedparser gives an RSS or Atom feed, so that
feed.py reads its items by the same rules as entries: the same picture order, credit and cuts.

An item's picture, in feed.entry_image's order: its `image`, then an attachment of an image
type (both as media:content), an attachment of another or no type (an enclosure), the first
<img> of its `content_html`, and its `banner_image` last (as a thumbnail). Its credit: `title`,
`authors` (1.1) or `author` (1), `url` (else `external_url`); the feed's `authors`/`author`
where an item names none.

Whatever a field holds is outside text: a value of the wrong type (a number for a title, an
object for a URL) is ignored, never an error, and a document that is no JSON Feed at all says so.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

_VERSION = re.compile(r"https?://jsonfeed\.org/version/1(\.\d+)?/?")


class JsonFeedError(ValueError):
    """The document is no JSON Feed; the message says why, for the operator."""


def looks_like_json(data: bytes) -> bool:
    """Whether a feed's bytes are JSON (an object or an array), not XML or HTML."""
    # less the NULs of UTF-16 and UTF-32 and any byte order mark
    return data[:512].replace(b"\0", b"").lstrip(b"\xef\xbb\xbf\xfe\xff \t\r\n").startswith((b"{", b"["))


def parse(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the feed's own fields, its items as entries) in feedparser's keys. Raises JsonFeedError."""
    try:
        doc = json.loads(data)  # bytes: UTF-8 (a byte order mark too), UTF-16 or UTF-32
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JsonFeedError(f"it is not valid JSON ({str(exc)[:200]})") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not _VERSION.fullmatch(version.strip()):
        raise JsonFeedError('it is JSON but no JSON Feed (no "version": "https://jsonfeed.org/version/1.1"); '
                            "use the site's RSS, Atom or JSON Feed address")
    feed = {"title": _text(doc.get("title")), "link": _text(doc.get("home_page_url")), "author": _author(doc)}
    items = doc.get("items")
    entries = [_entry(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    return {k: v for k, v in feed.items() if v}, entries


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    media = [{"url": u, "medium": "image"} for u in [_text(item.get("image"))] if u]
    enclosures = []
    attachments = item.get("attachments")
    # a list, as the spec says, or none: a number or true (not iterable) once stopped the feed,
    # and a string would be read a character at a time
    for a in attachments if isinstance(attachments, list) else []:
        url = _text(a.get("url")) if isinstance(a, dict) else None
        if not url:
            continue
        mime = _text(a.get("mime_type")) or ""
        if mime.lower().startswith("image/"):
            media.append({"url": url, "type": mime})
        else:
            enclosures.append({"href": url, "type": mime})
    html = _text(item.get("content_html"))
    banner = _text(item.get("banner_image"))
    entry = {
        "title": _text(item.get("title")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "author": _author(item),
        "published_parsed": _date(item.get("date_published")),
        "updated_parsed": _date(item.get("date_modified")),
        "media_content": media,
        "enclosures": enclosures,
        "content": [{"value": html, "type": "text/html"}] if html else [],
        "media_thumbnail": [{"url": banner}] if banner else [],
    }
    return {k: v for k, v in entry.items() if v}


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _author(obj: dict[str, Any]) -> str | None:
    """The names of `authors` (1.1), else of `author` (1), joined."""
    people = obj.get("authors")
    if not isinstance(people, list):
        people = [obj.get("author")]
    names = [_text(p.get("name")) for p in people if isinstance(p, dict)]
    return ", ".join(n for n in names if n) or None


def _date(value: Any) -> Any:
    """An RFC 3339 date as feedparser gives dates (a UTC struct_time), or None."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).utctimetuple()
    except (ValueError, OverflowError):
        return None
