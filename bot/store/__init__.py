"""What the bot did, in one SQLite file: sources seen, dreams made, posts per publisher,
cycles, dream requests. One module per job; `Store` is all of them on one connection."""
from __future__ import annotations

from .asks import RequestsMixin
from .base import StoreError, now
from .posts import DreamRow, PostRow, PostsMixin
from .schema import MIGRATIONS, SCHEMA_VERSION
from .sources import PERMANENT, SourcesMixin

__all__ = ["DreamRow", "MIGRATIONS", "PERMANENT", "PostRow", "SCHEMA_VERSION", "Store", "StoreError", "now"]


class Store(SourcesMixin, PostsMixin, RequestsMixin):
    """The bot's database (see the modules of this package for each part)."""
