"""Each feed's validators (ETag, Last-Modified) and the body they stand for, so that a feed is
asked with a conditional GET and an answer of 304 ("not modified") costs no download. The body
is kept because a 304 does not mean "nothing to take": a feed's photos are taken one a cycle,
so its entries are read again from this copy until the feed changes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .base import Base, now

# A validator is sent back as a header: a value longer than this, or with characters no header
# may carry, is not kept (a server would refuse the request, cycle after cycle).
MAX_VALIDATOR = 1000


@dataclass(frozen=True)
class FeedCopy:
    url: str  # the feed's address after redirects: the base of its relative links
    content_type: str | None
    body: bytes
    etag: str | None
    modified: str | None

    def validators(self) -> dict[str, str]:
        """The headers of a conditional GET for this copy."""
        pairs = (("If-None-Match", self.etag), ("If-Modified-Since", self.modified))
        return {k: v for k, v in pairs if v}


def _usable(value: str | None) -> str | None:
    ok = isinstance(value, str) and 0 < len(value) <= MAX_VALIDATOR and value.isascii() and value.isprintable()
    return value if ok else None


class FeedsMixin(Base):
    def feed_copy(self, feed: str) -> FeedCopy | None:
        """The copy kept of the feed at the configured address `feed`, or None."""
        rows = self._query("SELECT * FROM feeds WHERE feed = ?", (feed,))
        if not rows:
            return None
        r = rows[0]
        return FeedCopy(url=r["url"], content_type=r["content_type"], body=bytes(r["body"]), etag=r["etag"],
                        modified=r["modified"])

    def keep_feed(self, feed: str, *, url: str, content_type: str | None, body: bytes, etag: str | None,
                  modified: str | None) -> None:
        """Keep the body just downloaded of `feed` with its validators; with none (the server
        gives none, so it cannot answer 304), forget any copy instead."""
        etag, modified = _usable(etag), _usable(modified)
        with self._tx() as db:
            if not (etag or modified):
                db.execute("DELETE FROM feeds WHERE feed = ?", (feed,))
                return
            db.execute(
                "INSERT INTO feeds (feed, url, content_type, body, etag, modified, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(feed) DO UPDATE SET url = excluded.url, "
                "content_type = excluded.content_type, body = excluded.body, etag = excluded.etag, "
                "modified = excluded.modified, updated_at = excluded.updated_at",
                (feed, url, content_type, body, etag, modified, now()),
            )

    def forget_feeds_except(self, feeds: Iterable[str]) -> int:
        """Delete the copies of every feed but `feeds` (the addresses the config gives now):
        a feed taken out of the config would otherwise keep its last body here for ever.
        How many were deleted."""
        keep = sorted(set(feeds))
        with self._tx() as db:
            marks = ", ".join("?" * len(keep))
            return db.execute(f"DELETE FROM feeds WHERE feed NOT IN ({marks})", keep).rowcount
