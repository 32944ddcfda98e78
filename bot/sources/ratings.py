"""Whether a feed or one of its entries is marked for adults: the bot never dreams such photos.

  - <media:rating>adult</media:rating> (Media RSS, scheme urn:simple, its default): on an entry
    (what Mastodon's feeds write for sensitive media), or on the channel for the whole feed;
  - <itunes:explicit>: "yes", as feedparser reads it, on an entry or the channel; on the channel
    Apple's current words "true" and "explicit" too, which feedparser reads as "unknown": they
    are looked for in the feed's bytes ahead of its first entry.
"""
from __future__ import annotations

import re
from typing import Any

ADULT_ENTRY = "its author marked the photo adult (media:rating or itunes:explicit)"
# itunes:explicit (any prefix) saying yes; the channel's elements come before its first entry
_EXPLICIT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?explicit\s*>\s*(?:yes|true|explicit)\s*<", re.I)
_FIRST_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")


def adult(e: Any) -> bool:
    """Whether an entry's (or a whole feed's, given feedparser's `feed`) media are marked for
    adults: a urn:simple media:rating of "adult", or itunes:explicit "yes"."""
    if e.get("itunes_explicit") is True:  # feedparser: True for "yes", False for "clean"
        return True
    rating = e.get("media_rating")
    if not isinstance(rating, dict) or (rating.get("scheme") or "urn:simple").strip().lower() != "urn:simple":
        return False
    return str(rating.get("content") or "").strip().lower() == "adult"


def adult_feed(feed: Any, data: bytes) -> str | None:
    """Why every entry of a feed is skipped (its channel is marked for adults), or None.
    `feed`: feedparser's feed-level dict; `data`: the feed's bytes, as served."""
    if adult(feed):
        return "the whole feed is marked adult (media:rating or itunes:explicit on the channel)"
    first = _FIRST_ENTRY.search(data)
    if _EXPLICIT.search(data, 0, first.start() if first else len(data)):
        return "the whole feed is marked explicit (itunes:explicit on the channel)"
    return None
