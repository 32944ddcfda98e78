"""What the bot did, in one SQLite file: sources seen, feeds' last copies, dreams made, posts
per publisher, cycles, dream requests, polls, what remixes start from, what ended unposted. One
module per job; `Store` is all of them on one connection."""
from __future__ import annotations

from .asks import Busy, Refusal, RequestKind, RequestRow, RequestsMixin, RequestState
from .base import StoreError, now
from .dives import DiveRow, DivesMixin
from .ended import EndedMixin
from .feeds import FeedCopy, FeedsMixin
from .polls import PollOption, PollRow, PollsMixin, PollState
from .posts import CycleOutcome, DreamRow, NewDream, PostRow, PostsMixin, PostState
from .remixes import RemixesMixin, RemixSource
from .schema import MIGRATIONS, SCHEMA_VERSION
from .sources import MAX_FAILURES, PERMANENT, Block, Filing, Released, SourcesMixin, SourceStatus

__all__ = ["Block", "Busy", "CycleOutcome", "DiveRow", "DreamRow", "FeedCopy", "Filing", "MAX_FAILURES",
           "MIGRATIONS", "NewDream", "PERMANENT", "PollOption", "PollRow", "PollState", "PostRow",
           "PostState", "Refusal", "Released", "RemixSource", "RequestKind", "RequestRow", "RequestState",
           "SCHEMA_VERSION", "SourceStatus", "Store", "StoreError", "now"]


class Store(SourcesMixin, FeedsMixin, PostsMixin, DivesMixin, RequestsMixin, RemixesMixin, PollsMixin, EndedMixin):
    """The bot's database (see the modules of this package for each part)."""
