"""What a cycle needs from the config, built once from it and swapped whole on hot reload:
the sources, the picker, the recipe, the publishers and the polls, and the few sections the
cycle reads (`Parts`). Whether a run is a dry run is decided here, once: its parts post to the
outbox only, and keep no photos for remixes (a dry run answers no requests)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer import Recipe

from bot import logs
from bot.config.dryrun import only_outbox
from bot.config.sections import BotSection, CaptionSection, DiveSection
from bot.config.services import AdminSection
from bot.kept_photos import Keeping
from bot.picker import Picker
from bot.polls import PollRunner, build_polls
from bot.publishers.base import Publisher
from bot.publishers.outbox import OutboxPublisher
from bot.retry import Backoff
from bot.sources import Source, build_sources

if TYPE_CHECKING:
    from bot.config import Config
    from bot.store import Store


class BuildError(Exception):
    """The config is valid but a part cannot be built (e.g. a publisher library is missing)."""


@dataclass
class Parts:
    """Everything a cycle needs that comes from the config; swapped whole on hot reload."""

    sources: list[Source]
    picker: Picker
    recipe: Recipe  # without classes
    publishers: dict[str, Publisher]
    bot: BotSection  # its name, and when an item or a post is given up
    backoff: Backoff  # [bot]'s, between tries of a post
    caption: CaptionSection
    dive: DiveSection
    admin: AdminSection
    language: str | None  # the captions' ([publishers.mastodon] language)
    keep: Keeping  # the photos behind posts, for remixes
    data_dir: Path
    polls: PollRunner | None = None  # [polls]: the poll for the next mutant


def build_publishers(cfg: "Config", store: "Store | None" = None) -> dict[str, Publisher]:
    pubs: dict[str, Publisher] = {}
    p = cfg.publishers
    shared: dict[str, Any] = {} if store is None else {"limits": store}  # rate limits for every process
    if p.outbox.enabled:
        pubs["outbox"] = OutboxPublisher(cfg.outbox_dir, title=cfg.bot.name)
    try:
        if p.mastodon.enabled:
            # Imported only when enabled, so a demo needs none of the platform libraries.
            from bot.publishers.mastodon import MastodonPublisher
            from bot.publishers.mastodon_api import MastodonApi

            m = p.mastodon
            pubs["mastodon"] = MastodonPublisher(MastodonApi.from_config(cfg, store), visibility=m.visibility,
                                                 language=m.language, spoiler_text=m.spoiler_text)
        if p.tumblr.enabled:
            from bot.publishers.tumblr import TumblrPublisher

            t = p.tumblr
            extra: dict[str, Any] = dict(shared)
            if store is not None:
                extra["posts_today"] = lambda: store.confirmed_today("tumblr")
                extra["videos_today"] = lambda: store.confirmed_videos_today("tumblr")
            pubs["tumblr"] = TumblrPublisher(
                t.blog, cfg.secret("tumblr.consumer_key"), cfg.secret("tumblr.consumer_secret"),
                cfg.secret("tumblr.oauth_token"), cfg.secret("tumblr.oauth_secret"),
                state=t.state, timeout=t.timeout, **extra,
            )
    except ImportError as exc:
        raise BuildError(f"a publisher cannot be loaded: {exc}") from None
    except KeyError as exc:
        raise BuildError(f"secret {exc} was not loaded (was the config read with need_secrets=False?)") from None
    return pubs


def build_parts(cfg: "Config", store: "Store | None" = None, *, dry_run: bool = False) -> Parts:
    """The parts of `cfg`; a dry run's post to the outbox only (bot/config/dryrun.py)."""
    cfg = only_outbox(cfg) if dry_run else cfg
    try:
        picker, publishers = Picker(cfg.picker), build_publishers(cfg, store)
        return Parts(sources=build_sources(cfg), picker=picker, recipe=cfg.base_recipe(), publishers=publishers,
                     bot=cfg.bot, backoff=Backoff.from_config(cfg), caption=cfg.caption, dive=cfg.dive,
                     admin=cfg.admin, language=cfg.publishers.mastodon.language, keep=Keeping.from_config(cfg),
                     data_dir=cfg.data_dir, polls=build_polls(cfg, store, publishers, picker))
    except BuildError:
        raise
    except Exception as exc:  # a bug or environment problem; reported, never half-applied
        raise BuildError(logs.redact(f"{type(exc).__name__}: {exc}")) from None
