"""What the requests' worker takes from the config: the sections it reads and what follows
from them, decided once per config (at start, and on each reload between two ticks)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.retry import Backoff
from bot.sources.fetch import FetchPolicy

if TYPE_CHECKING:
    from dreamer import Recipe

    from bot.config import Config
    from bot.config.sections import BotSection, CaptionSection, DiveSection, PickerSection
    from bot.config.services import AdminSection, RequestsSection


@dataclass(frozen=True)
class RequestSettings:
    requests: RequestsSection
    bot: BotSection  # its name, and when a request is given up
    backoff: Backoff  # [bot]'s, between tries of a request
    admin: AdminSection
    picker: PickerSection  # its deny list, and the pool "surprise me" draws from
    fetch: FetchPolicy  # downloading a requester's image
    recipe: Recipe  # the bot's, without classes, in lucid mode (`lucid`)
    dive: DiveSection  # a requested dive's camera and video ([requests] dive_frames its length)
    caption: CaptionSection  # the note and hashtags of a request also published
    also_publish_to: tuple[str, ...]  # the enabled publishers but Mastodon (`also_publish`)
    data_dir: Path

    @classmethod
    def from_config(cls, cfg: Config) -> "RequestSettings":
        return cls(
            requests=cfg.requests, bot=cfg.bot, backoff=Backoff.from_config(cfg), admin=cfg.admin,
            picker=cfg.picker, fetch=FetchPolicy.from_config(cfg.fetch), recipe=lucid(cfg.base_recipe()), dive=cfg.dive,
            caption=cfg.caption, also_publish_to=tuple(p for p in cfg.enabled_publishers() if p != "mastodon"),
            data_dir=cfg.data_dir,
        )

    @property
    def dive_seconds(self) -> float:
        """How long a requested dive plays."""
        return self.requests.dive_frames / self.dive.fps


def lucid(recipe: "Recipe") -> "Recipe":
    """`recipe` dreaming classes, whatever mode the operator's scheduled dreams have: a request
    names the classes it wants, and its reply names them back, so "goldfish" must dream a
    goldfish, not a deep dream. The keys only other modes read go, so that a request's recorded
    recipe (its sidecar, a remix's) says what was dreamt and carries no path of the operator's."""
    return recipe.replace(mode="lucid", layer=None, guide=None, guide_layer=None)
