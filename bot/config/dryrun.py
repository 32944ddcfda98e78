"""`--dry-run`: dream and post to the outbox only, leaving nothing a real run would see.

A dry run must not use up photos: it keeps its own record (`dry-run.db` in the data dir, so it
still dreams each photo once) and leaves folder queues as they are (no move to done/), so the
real bot later dreams and posts the very same photos.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.config.sections import FolderSection

if TYPE_CHECKING:
    from bot.config.sections import Config

STORE_NAME = "dry-run.db"


def only_outbox(cfg: "Config") -> "Config":
    """The same config with every publisher but the outbox switched off, requests off (they
    are answered on Mastodon) and folder queues read without being consumed."""
    pubs = cfg.publishers.model_copy(update={
        "outbox": cfg.publishers.outbox.model_copy(update={"enabled": True}),
        "mastodon": cfg.publishers.mastodon.model_copy(update={"enabled": False}),
        "tumblr": cfg.publishers.tumblr.model_copy(update={"enabled": False}),
    })
    sources = [s.model_copy(update={"consume": False}) if isinstance(s, FolderSection) else s
               for s in cfg.sources]
    new = cfg.model_copy(update={
        "publishers": pubs,
        "sources": sources,
        "requests": cfg.requests.model_copy(update={"enabled": False}),
    })
    new._path = cfg._path
    new._secrets = {}
    return new


def store_path(cfg: "Config", dry_run: bool) -> Path:
    """The database a run records into: the bot's own, or the dry runs' one."""
    return cfg.data_dir / (STORE_NAME if dry_run else "bot.db")
