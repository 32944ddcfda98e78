"""Where photos come from: a folder queue (folder.py), RSS/Atom and JSON feeds (feed.py), a
file of URLs (urls.py), all fetched through fetch.py's guarded session; base.py has what every
source hands the pipeline. `build_sources` makes the sources a config names."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config.sections import FeedSection, FolderSection
from bot.sources.base import Credit, Source, SourceError, SourceItem, SourceKind
from bot.sources.feed import FeedSource
from bot.sources.fetch import FetchPolicy
from bot.sources.folder import FolderSource
from bot.sources.urls import UrlsSource

if TYPE_CHECKING:
    from bot.config import Config

__all__ = ["Credit", "Source", "SourceError", "SourceItem", "SourceKind", "build_sources"]


def build_sources(cfg: "Config") -> list[Source]:
    policy = FetchPolicy.from_config(cfg.fetch)
    out: list[Source] = []
    for name, sec in zip(cfg.source_names(), cfg.sources):
        credit = Credit.operators(title=sec.title, author=sec.author, link=sec.link, licence=sec.licence)
        if isinstance(sec, FolderSection):
            out.append(FolderSource(name, cfg.resolve(sec.path), credit=credit, consume=sec.consume,
                                    settle_seconds=sec.settle_seconds, max_bytes=cfg.fetch.max_bytes))
        elif isinstance(sec, FeedSection):
            out.append(FeedSource(name, sec.url, policy, credit=credit, order=sec.order, max_tries=sec.max_tries))
        else:
            out.append(UrlsSource(name, cfg.resolve(sec.path), policy, credit=credit, max_tries=sec.max_tries))
    return out
