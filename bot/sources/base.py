"""What every source hands the pipeline: one photo, its identity for dedupe, and its credit."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.sources.fetch import FetchError, fetch_image, make_session
from bot.store.sources import SourceStatus

if TYPE_CHECKING:
    from PIL import Image

    from bot.sources.fetch import FetchPolicy
    from bot.store import Store

log = logging.getLogger("bot.sources")

# A photo whose short side is under this many pixels is an icon, a thumbnail or a tracking
# pixel, not a photo: the engine would blow it up to the net's input and dream mush. Every
# source applies it, the operator's folder too. (The publishers' own floor, media._MIN_SIDE =
# 32, is what is still worth posting at all.)
MIN_PHOTO_SIDE = 64


def too_small(size: tuple[int, int]) -> str:
    """Why a picture of `size` (width, height) is not dreamt, for the log and the store."""
    return f"{size[0]}×{size[1]} pixels is too small to dream (a side under {MIN_PHOTO_SIDE} pixels)"


# Control characters, line/paragraph separators and bidi controls: none belongs in a title.
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str | None) -> str | None:
    """One line of storable text from a name or title that came from outside: bytes that were
    not UTF-8 (a file name's lone surrogates) become U+FFFD, control characters and line
    breaks become a space. The store, captions and posts only ever see such text."""
    if text is None:
        return None
    text = _SURROGATE.sub("\ufffd", text)
    return _NOT_TEXT.sub(" ", text).strip()


def without_credentials(url: str) -> str:
    """`url` without the user name and password it may carry ("https://me:pw@host/p" becomes
    "https://host/p"): the bot fetches with them, but a link it shows strangers never has them."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": no host to speak of, nor credentials
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class SourceError(Exception):
    """A source cannot be read at all this cycle (feed down, folder missing); says which and why."""


@dataclass(frozen=True)
class Credit:
    title: str | None = None
    author: str | None = None
    link: str | None = None
    licence: str | None = None
    # Where the bot found the photo ("coffee.jpg in the folder “photos”"): said when nothing
    # better (an author or a link) is known, so a credit never shrinks to a bare file name.
    origin: str | None = None
    # The fields whose text is the operator's own (the source's config): trusted, so never cut
    # as a stranger's paragraph-long title is (caption.outside_credit). A value from outside
    # that replaces one (`merged`) takes its name off.
    own: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def operators(cls, **values: str | None) -> "Credit":
        """The operator's default credit for a source, every field given marked `own`."""
        return cls(**values, own=frozenset(k for k, v in values.items() if v))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v and k != "own"}

    def merged(self, **values: str | None) -> "Credit":
        """This credit with the given non-empty values, which came from outside, taking precedence."""
        cleaned = {k: clean_text(v) for k, v in values.items() if v}
        taken = {k: v for k, v in cleaned.items() if v}
        return replace(self, **taken, own=self.own - taken.keys())


def _noop(*_: Any) -> None:
    return None


@dataclass
class SourceItem:
    source: str                 # the config's name for the source
    url: str | None             # identity for dedupe: image URL or file URI (None: content only)
    sha256: str                 # of the original bytes
    image: "Image.Image"
    credit: Credit
    description: str | None = None  # what the photo shows, for alt text
    done: Callable[[], None] = field(default=_noop)           # after the dream is saved
    failed: Callable[[str], None] = field(default=_noop)      # when it could not be dreamt

    def __post_init__(self) -> None:
        self.description = clean_text(self.description) or None

    @property
    def public_url(self) -> str | None:
        """A link worth showing readers (never a local file path)."""
        for u in (self.credit.link, self.url):
            if u and u.startswith(("http://", "https://")):
                return without_credentials(u)
        return None


class SourceKind(StrEnum):
    """What a source is: its [[sources]] `type` (the schema's Literal), as shown by `status`."""

    FOLDER = "folder"  # a folder queue (consumed, or only read)
    FEED = "feed"  # an RSS or Atom feed: remote, its queue not counted
    URLS = "urls"  # a local list of photo URLs


class Source(Protocol):
    name: str
    kind: SourceKind

    def take(self, store: "Store") -> SourceItem | None:
        """The next photo never dreamt before, or None when there is none now."""
        ...

    def queue_size(self, store: "Store") -> int | None:
        """How many photos are waiting, or None when that cannot be told cheaply (feeds)."""
        ...


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def take_remote(
    source: str,
    candidates: "Iterable[tuple[str, Credit, str | None]]",
    store: "Store",
    policy: "FetchPolicy",
    max_tries: int,
) -> SourceItem | None:
    """The first (image URL, credit, description) never dreamt before that fetches and decodes.

    URLs already seen are skipped without a request; after fetching, the content hash is
    checked too (the same photo under another URL), and a picture too small to dream
    (MIN_PHOTO_SIDE) is set aside for good. At most `max_tries` fetches a cycle, so
    one bad feed cannot keep the bot busy.
    """
    tries = 0
    session = make_session(policy)
    try:
        for url, credit, description in candidates:
            if store.source_blocked(url=url):
                continue
            if tries >= max_tries:
                break
            tries += 1
            try:
                got, image = fetch_image(url, policy, session=session)
            except FetchError as exc:
                log.warning("source %s: %s", source, exc)
                # a refused address or a 404 is not tried again cycle after cycle
                store.note_source(source, url, None, status=SourceStatus.FAILED, error=str(exc),
                                  permanent=exc.permanent)
                continue
            digest = sha256(got.data)
            if store.source_blocked(sha256=digest):
                log.info("source %s: %s skipped, the same picture was dreamt before", source, url)
                store.note_source(source, url, digest, status=SourceStatus.DUPLICATE)
                continue
            if min(image.size) < MIN_PHOTO_SIDE:
                why = too_small(image.size)
                log.warning("source %s: %s skipped: %s", source, url, why)
                # for good (its URL and its bytes): the same tiny picture will not grow. Set
                # aside, as an adult photo is (ended=False): a tracking pixel is no photo the
                # operator lost, so it stays out of the list of what ended unposted.
                store.note_source(source, url, digest, status=SourceStatus.FAILED, error=why, permanent=True,
                                  ended=False)
                continue
            return SourceItem(source=source, url=url, sha256=digest, image=image, credit=credit,
                              description=description)
    finally:
        session.close()
    return None
