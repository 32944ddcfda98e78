"""A plain text file of photo URLs, one per line, read afresh each cycle (edit it any time).

    # lines starting with # are comments; blank lines are skipped
    https://example.org/photo.jpg
    https://example.org/other.jpg  Sunset over the bay, by Jo Bloggs (CC BY 4.0)

Text after the URL (and a space or a tab) becomes the credit's title; the source's own
title/author/licence settings fill the rest.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from bot.sources.base import Credit, SourceError, SourceItem, SourceKind, take_remote

if TYPE_CHECKING:
    from bot.sources.fetch import FetchPolicy
    from bot.store import Store


def parse_lines(text: str) -> list[tuple[str, str | None]]:
    """(url, credit text or None) for each entry of a URL list."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        url, *rest = line.split(None, 1)  # a space or a tab (a list pasted from a spreadsheet)
        out.append((url, rest[0] if rest else None))
    return out


class UrlsSource:
    kind = SourceKind.URLS

    def __init__(self, name: str, path: Path, policy: "FetchPolicy", *, credit: Credit = Credit(), max_tries: int = 5):
        self.name = name
        self.path = Path(path)
        self.policy = policy
        self.credit = credit
        self.max_tries = max_tries

    def entries(self) -> list[tuple[str, str | None]]:
        try:
            # utf-8-sig: Windows' Notepad starts a UTF-8 file with a byte order mark
            return parse_lines(self.path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise SourceError(f"source {self.name}: URL list {self.path} does not exist (sources.path)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"source {self.name}: cannot read URL list {self.path}: {exc}") from None

    def _candidates(self) -> Iterator[tuple[str, Credit, str | None]]:
        for url, text in self.entries():
            credit = self.credit.merged(title=text, link=url if not self.credit.link else None)
            yield url, credit, text

    def take(self, store: "Store") -> SourceItem | None:
        return take_remote(self.name, self._candidates(), store, self.policy, self.max_tries)

    def queue_size(self, store: "Store") -> int | None:
        try:
            return sum(1 for url, _ in self.entries() if not store.source_blocked(url=url))
        except SourceError:
            return None
