"""Whether a feed or one of its entries is marked for adults: the bot never dreams such photos.

  - <media:rating>adult</media:rating> (Media RSS, scheme urn:simple, its default): on an entry
    (what Mastodon's feeds write for sensitive media), or on the channel for the whole feed;
  - <itunes:explicit>: "yes", as feedparser reads it, on an entry or the channel; Apple's
    current words "true" and "explicit" too, which feedparser reads as "unknown" (None): they
    are looked for in the feed's bytes, ahead of its first entry for the channel, and between
    an entry's own start and end tags for that entry (`explicit_entries`).

Limit: feedparser says nowhere which bytes an entry came from, so the feed's <item>/<entry>
elements are matched to its entries by order, and only where there are exactly as many of
them as feedparser gave. Where that does not hold ("<item>" in a CDATA section, a feed in
UTF-16 with no byte order mark) an entry's "true" or "explicit" is not seen; its "yes" is.
A tag in an entry's own CDATA text that spells itunes:explicit true skips that entry: skipping
is the safe side.
"""
from __future__ import annotations

import re
from typing import Any

ADULT_ENTRY = "its author marked the photo adult (media:rating or itunes:explicit)"
# itunes:explicit (any prefix) saying yes; the channel's elements come before its first entry
_EXPLICIT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?explicit\s*>\s*(?:yes|true|explicit)\s*<", re.I)
_FIRST_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


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


def explicit_entries(data: bytes, count: int) -> list[bool] | None:
    """For each of a feed's `count` entries, in the feed's own order, whether its own
    itunes:explicit says yes, true or explicit; None where the feed's bytes do not hold exactly
    `count` <item> or <entry> elements, so which bytes are whose cannot be told (see above).
    `data`: the feed's bytes in an encoding ASCII reads (feed.py re-encodes UTF-16 and -32)."""
    starts = [m.start() for m in _FIRST_ENTRY.finditer(data)]
    if len(starts) != count:
        return None
    flags = []
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(data)
        end = _ENTRY_END.search(data, start, stop)  # none: <item/>, or a feed cut short
        flags.append(bool(_EXPLICIT.search(data, start, end.end() if end else stop)))
    return flags
