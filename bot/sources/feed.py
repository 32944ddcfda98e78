"""RSS, Atom and JSON feeds: the photo of each entry, with the entry's credit.

The feed itself is downloaded with the same safe fetcher as the photos (feedparser's own
fetching has no size cap or address checks), with a conditional GET (ETag, Last-Modified; the
copy an answer of 304 stands for is kept in the store), and handed to feedparser as bytes; a
JSON Feed, which feedparser does not read, to jsonfeed.py, which gives feedparser's entries.
Where an entry's picture is, tried in order:
  1. an image enclosure;
  2. media:content with medium="image" or an image type (the largest when sizes are given);
  3. the first <img> in the entry's content or summary (parsed with html.parser) that is no
     emoji nor tracking pixel;
  4. an enclosure that does not say its type;
  5. media:thumbnail, last because thumbnails are small.
An entry whose author rated its media adult (<media:rating>adult</media:rating>; ratings.py) is
skipped, and every entry of a feed whose channel is so marked; each is recorded so that it is
logged once, not every cycle.
"""
from __future__ import annotations

import calendar
import codecs
import logging
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urljoin, urlsplit

from bot.config.sections import FeedOrder
from bot.publishers.mastodon_text import html_to_text
from bot.sources import jsonfeed
from bot.sources.base import Credit, SourceError, SourceItem, SourceKind, take_remote
from bot.sources.fetch import Fetched, FetchError, fetch
from bot.sources.ratings import ADULT_ENTRY, adult, adult_feed, explicit_entries
from bot.store.sources import SourceStatus

if TYPE_CHECKING:
    from bot.sources.fetch import FetchPolicy
    from bot.store import Store

log = logging.getLogger("bot.sources")

_UNTYPED = ("", "application/octet-stream", "binary/octet-stream")
IMAGE_EXT = re.compile(r"\.(jpe?g|png|webp|gif|bmp|tiff?|avif)(\?|#|$)", re.I)


# Pictures in an entry's text that are not its photo: WordPress writes each emoji of a post
# into its feed as <img class="wp-smiley"> (twemoji, Discourse: class="emoji"), and counters
# add a 1×1 pixel; a width or height declared under _ICON pixels is an icon or such a pixel.
_EMOJI_CLASS = re.compile(r"emoji|smiley", re.I)
_ICON = 50
_PIXELS = re.compile(r"\s*(\d+)\s*(px)?\s*", re.I)


def _decorative(a: dict[str, str | None]) -> bool:
    if _EMOJI_CLASS.search(a.get("class") or ""):
        return True
    sizes = [_PIXELS.fullmatch(a.get(side) or "") for side in ("width", "height")]
    return any(m is not None and int(m.group(1)) < _ICON for m in sizes)


class _FirstImage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.src: str | None = None
        self.alt: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" and self.src is None:
            a = dict(attrs)
            src = (a.get("src") or "").strip()
            # Lazy-loading pages (WordPress) put a data: placeholder first and the photo in a
            # later <img> (<noscript>; feedparser drops data-src): a data: URI is never the photo.
            if src and not src.lower().startswith("data:") and not _decorative(a):
                self.src = src
                self.alt = (a.get("alt") or "").strip() or None


def first_img(html: str) -> tuple[str | None, str | None]:
    """(src, alt) of the first <img> with a src that is no data: URI, nor an emoji or a
    tracking pixel, in an HTML fragment."""
    p = _FirstImage()
    try:
        p.feed(html)
        p.close()
    except Exception:  # html.parser is lenient; anything it still chokes on means "no image"
        pass
    return p.src, p.alt


def plain_text(e: Any, key: str) -> str | None:
    """An entry's (or feed's) text field as a reader sees it: an Atom title or rights of
    type="html" or "xhtml" comes as markup (`<b>Big</b> cats &amp; more`), which a caption
    would show literally. Plain-text fields are kept as they are ("AT&T <3 cats")."""
    value = e.get(key)
    detail = e.get(f"{key}_detail")
    if not value or not isinstance(detail, dict) or "html" not in str(detail.get("type", "")):
        return value
    return " ".join(html_to_text(value).split()) or None


def _is_image(mime: str | None, url: str | None) -> bool:
    return bool((mime and mime.lower().startswith("image/")) or (url and IMAGE_EXT.search(url)))


def _join(base: str, href: str, bad: list[str] | None) -> str | None:
    """`href` made absolute against `base`, or None (noted in `bad`) where either cannot be
    parsed: urljoin raises ValueError for "http://[x/1.png" (an unclosed IPv6 host), and one
    such entry must not stop the feed, nor the feed the bot's other sources."""
    try:
        return urljoin(base, href)
    except ValueError:
        if bad is not None:
            bad.append(href)
        return None


def entry_image(entry: Any, base: str, bad: list[str] | None = None) -> tuple[str | None, str | None]:
    """(absolute image URL, alt text from the page if any) for a feedparser entry. A picture
    whose address cannot be parsed is passed over for the next (its address added to `bad`)."""
    for enc in entry.get("enclosures", []):
        href = enc.get("href") or enc.get("url")
        if href and _is_image(enc.get("type"), href) and (url := _join(base, href, bad)):
            return url, None
    media = [m for m in entry.get("media_content", [])
             if m.get("url") and (m.get("medium") == "image" or _is_image(m.get("type"), m.get("url")))]
    for best in sorted(media, key=lambda m: _int(m.get("width")) * _int(m.get("height")), reverse=True):
        if url := _join(base, best["url"], bad):  # the largest (the first of equals) that parses
            return url, None
    for part in [*entry.get("content", []), entry.get("summary_detail") or {"value": entry.get("summary", "")}]:
        html = part.get("value") if isinstance(part, dict) else None
        if html:
            src, alt = first_img(html)
            if src and (url := _join(part.get("base") or base, src, bad)):
                return url, alt
    for enc in entry.get("enclosures", []):
        # An enclosure that does not say what it is (no type, or a generic one, and no image
        # extension, e.g. ".../photo?id=3") may well be the photo: fetching it finds out,
        # and what is no picture fails once and is not tried again past the store's limit.
        href = enc.get("href") or enc.get("url")
        if href and (enc.get("type") or "").split(";")[0].strip().lower() in _UNTYPED \
                and (url := _join(base, href, bad)):
            return url, None
    for thumb in entry.get("media_thumbnail", []):
        if thumb.get("url") and (url := _join(base, thumb["url"], bad)):
            return url, None
    return None, None


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 1


_XML_ENCODING = re.compile(rb"\s*<\?xml[^>]*\bencoding\s*=", re.I)
# UTF-32's marks first: UTF-32LE's starts with UTF-16LE's
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32le"), (codecs.BOM_UTF32_BE, "utf-32be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16le"), (codecs.BOM_UTF16_BE, "utf-16be"))


def bom_encoding(data: bytes) -> str | None:
    """The encoding that a byte order mark at the start of a feed's bytes names, or None."""
    return next((name for bom, name in _BOMS if data.startswith(bom)), None)


def declares_encoding(data: bytes) -> bool:
    """Whether a feed's bytes name their own encoding: a byte order mark, or an XML declaration
    with encoding="..."."""
    return bom_encoding(data) is not None or bool(_XML_ENCODING.match(data[:512]))


_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


class _FeedLinks(HTMLParser):
    """The feeds a web page names in its head: <link rel="alternate" type="application/rss+xml">."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if (tag == "link" and "alternate" in (a.get("rel") or "").lower().split()
                and (a.get("type") or "").strip().lower() in _FEED_TYPES and (a.get("href") or "").strip()):
            self.hrefs.append((a.get("href") or "").strip())


def not_a_feed(data: bytes, url: str) -> str | None:
    """What a feed's address gave instead of a feed, and what to do, when it is a web page (the
    blog's own address is an easy mistake): feedparser says only "syntax error"."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        page = _FeedLinks()
        try:
            page.feed(data[:262_144].decode("utf-8", "replace"))  # a page names its feeds in <head>
        except Exception:  # html.parser is lenient; what it still chokes on names no feed
            pass
        what = "it is a web page (HTML), not a feed; "
        if page.hrefs:
            return what + f'the page names its feed: sources.url = "{urljoin(url, page.hrefs[0])}"'
        return what + "look on the site for its RSS, Atom or JSON feed"
    return None


class FeedSource:
    kind = SourceKind.FEED

    def __init__(self, name: str, url: str, policy: "FetchPolicy", *, credit: Credit = Credit(),
                 order: FeedOrder | str = FeedOrder.NEWEST, max_tries: int = 5):
        self.name = name
        self.url = url
        self.policy = policy
        self.credit = credit
        self.order = FeedOrder(order)  # a typo fails here, not by taking neither branch below
        self.max_tries = max_tries
        self._bad_said: set[str] = set()  # picture addresses that could not be parsed, logged once

    def entries(self, store: "Store | None" = None) -> tuple[Any, list[Any], str, str | None]:
        """(feedparser's feed-level dict, its entries in the configured order, the feed's
        address after redirects, why the whole feed is marked adult or None). With a store,
        the feed is asked with a conditional GET, and a 304 reads the copy kept there."""
        import feedparser

        got = self._fetch(store)
        if jsonfeed.looks_like_json(got.data):
            try:
                feed, entries = jsonfeed.parse(got.data)
            except jsonfeed.JsonFeedError as exc:
                raise SourceError(f"source {self.name}: {got.url} is not a usable feed: {exc}") from None
            if not entries:
                raise SourceError(f"source {self.name}: {got.url} is not a usable JSON Feed (it has no items)")
            return feed, self._ordered(entries), got.url, None  # JSON Feed has no rating
        headers = {"content-location": got.url}
        bom = bom_encoding(got.data)
        if bom:
            # feedparser strips the mark and, told no content type, reads what follows as
            # ISO-8859-1 unless a declaration names UTF-16: a UTF-16 feed was "not well-formed"
            headers["content-type"] = f"application/xml; charset={bom}"
        elif got.content_type and not declares_encoding(got.data):
            # a charset only the server names ("text/xml; charset=Shift_JIS"); where the feed
            # names its own, that one is believed: servers often say windows-1252 of UTF-8
            headers["content-type"] = got.content_type
        parsed = feedparser.parse(got.data, response_headers=headers)
        if not parsed.entries:
            why = (f": {not_a_feed(got.data, got.url) or parsed.get('bozo_exception')}" if parsed.get("bozo")
                   else " (it has no entries)")
            raise SourceError(f"source {self.name}: {got.url} is not a usable RSS/Atom feed{why}")
        # the rating scans look for ASCII tags in the bytes: UTF-16 and UTF-32 read as UTF-8
        raw = got.data.decode(bom, "replace").lstrip("\ufeff").encode("utf-8") if bom else got.data
        entries = list(parsed.entries)
        # an entry's own itunes:explicit "true" or "explicit", which feedparser reads as None
        for e, explicit in zip(entries, explicit_entries(raw, len(entries)) or []):
            if explicit:
                e["itunes_explicit"] = True
        return parsed.feed, self._ordered(entries), got.url, adult_feed(parsed.feed, raw)

    def _fetch(self, store: "Store | None") -> Fetched:
        copy = store.feed_copy(self.url) if store is not None else None
        try:
            got = fetch(self.url, self.policy, validators=copy.validators() if copy else None)
        except FetchError as exc:
            raise SourceError(f"source {self.name}: cannot fetch the feed: {exc}") from None
        if copy is not None and got.not_modified:
            # Unchanged: no new entries, but maybe some not yet taken (one photo a cycle)
            log.debug("source %s: the feed has not changed (HTTP 304)", self.name)
            return Fetched(url=copy.url, data=copy.body, content_type=copy.content_type)
        if store is not None:
            store.keep_feed(self.url, url=got.url, content_type=got.content_type, body=got.data, etag=got.etag,
                            modified=got.last_modified)
        return got

    def _ordered(self, entries: list[Any]) -> list[Any]:
        """Newest or oldest first (sources.order), by date where every entry has one."""
        dated = [(e.get("published_parsed") or e.get("updated_parsed"), i, e) for i, e in enumerate(entries)]
        if all(d for d, _, _ in dated):
            dated.sort(key=lambda t: (calendar.timegm(t[0]), -t[1]))
            entries = [e for _, _, e in dated]
            if self.order is FeedOrder.NEWEST:
                entries.reverse()
        elif self.order is FeedOrder.OLDEST:
            entries.reverse()  # undated feeds list newest first by convention
        return entries

    def _candidates(self, store: "Store | None" = None) -> Iterator[tuple[str, Credit, str | None]]:
        feed, entries, base, feed_adult = self.entries(store)
        feed_licence = feed.get("license") or plain_text(feed, "rights")
        new_adult = 0
        for e in entries:
            # An entry's link that cannot be parsed ("http://[x") is no link: neither the base
            # of its relative pictures nor its credit's link.
            link = e.get("link") if _parses(e.get("link")) else None
            bad: list[str] = []
            url, alt = entry_image(e, link or base, bad)
            self._say_bad(link or e.get("link") or e.get("title"), bad)
            if not url:
                continue
            if feed_adult:  # one line for them all, and only when there are new ones
                new_adult += self._set_aside(store, url, link or url, feed_adult, say=False)
                continue
            if adult(e):
                self._set_aside(store, url, link or url, ADULT_ENTRY)
                continue
            author = e.get("author") or _media_credit(e) or feed.get("author")
            title = plain_text(e, "title")
            # entry beats feed beats the operator's defaults
            credit = self.credit.merged(licence=feed_licence).merged(
                title=title, author=author, link=link,
                licence=e.get("license") or plain_text(e, "rights"),
            )
            yield url, credit, alt or title
        if new_adult:
            log.info("source %s: %d new entr%s skipped: %s", self.name, new_adult, "y" if new_adult == 1 else "ies",
                     feed_adult)

    def _say_bad(self, entry: Any, bad: list[str]) -> None:
        """Log the picture addresses of an entry that cannot be parsed, once per address while
        the bot runs (the feed is read again every cycle; the entry is skipped each time)."""
        for href in bad:
            if href not in self._bad_said:
                self._bad_said.add(href)
                log.warning("source %s: a picture of entry %s skipped: its address %r cannot be read",
                            self.name, str(entry or "(untitled)")[:200], href[:200])

    def take(self, store: "Store") -> SourceItem | None:
        return take_remote(self.name, self._candidates(store), store, self.policy, self.max_tries)

    def _set_aside(self, store: "Store | None", url: str, what: str, why: str, *, say: bool = True) -> bool:
        """Skip a photo for good, said once: recorded, later cycles pass it over in silence
        (as they do whatever was dreamt or refused before). Whether it was new."""
        if store is not None and store.source_blocked(url=url):
            return False
        if say:
            log.info("source %s: %s skipped: %s", self.name, what, why)
        if store is not None:
            store.note_source(self.name, url, None, status=SourceStatus.FAILED, error=why, permanent=True,
                              ended=False)
        return True

    def queue_size(self, store: "Store") -> int | None:
        return None  # counting would mean downloading the feed


def _parses(url: Any) -> bool:
    """Whether `url` is text urllib can split (not "http://[x", an unclosed IPv6 host)."""
    if not isinstance(url, str) or not url:
        return False
    try:
        urlsplit(url)
    except ValueError:
        return False
    return True


def _media_credit(e: Any) -> str | None:
    for c in e.get("media_credit", []) or []:
        if isinstance(c, dict) and c.get("content"):
            return c["content"]
    return None
