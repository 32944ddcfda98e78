"""Where photos come from: a folder queue, RSS/Atom feeds, a file of URLs. See `build_sources`."""
from bot.sources.base import Credit, Source, SourceError, SourceItem, build_sources

__all__ = ["Credit", "Source", "SourceError", "SourceItem", "build_sources"]
