"""The sections of the bot's TOML config as pydantic models, and `Config`, the whole file.
What the bot talks to (publishers, admin, fetch, requests, queue) is bot/config/services.py.

Loading a file (and the one-line errors) is bot/config/load.py; checks across sections and
outside the file are bot/config/check.py.
"""
from __future__ import annotations

import os
import re
import string
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from dreamer import Recipe
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from bot.config.cron import crontab_trigger
from bot.config.polls import PollsSection
from bot.config.recipe import build_recipe
from bot.config.services import (
    AdminSection, FetchSection, PublishersSection, QueueSection, RequestsSection, Section, http_url,
)
from bot.logs import LogFormat

# Fields a caption/alt template may use; anything else in braces is an error at load time
# (str.format can reach attributes, so only plain names are allowed).
CAPTION_FIELDS = (
    "bot", "classes", "classes_words", "title", "author", "link", "licence", "credit",
    "note", "hashtags", "description", "model", "seed", "places",
)

DEFAULT_CAPTION = "{classes}\n\n{credit}\n\n{note}\n\n{hashtags}"
DEFAULT_ALT = (
    "Machine-made picture: a neural network dreamt {classes_words} into {description}; {places}."
)
DEFAULT_NOTE = "Machine-made: a neural net dreamt these creatures into the photo. Not a real scene."


# --- [bot] ---------------------------------------------------------------------------------
class BotSection(Section):
    name: str = Field("Lucid Dream Bot", min_length=1, max_length=100)
    data_dir: str = "data"
    log_format: LogFormat = Field(LogFormat.PLAIN, strict=False)  # the file's string, read as the enum
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_attempts: int = Field(5, ge=1, le=100)
    reload_check_seconds: float = Field(5.0, ge=0, le=3600)
    crash_limit: int = Field(8, ge=2, le=1000)         # the same item killing the bot this often: set aside
    retry_seconds: float = Field(60.0, gt=0, le=3600)  # first wait after a transient failure, doubling...
    retry_max_minutes: float = Field(60.0, gt=0, le=24 * 60)  # ...up to this


# --- [schedule] ----------------------------------------------------------------------------
# The shortest interval between cycles: Mastodon lets an account upload 30 pictures in 30
# minutes, and a bot posting faster only waits out rate limits with its posts piling up.
MIN_INTERVAL_MINUTES = 1.0


class ScheduleSection(Section):
    cron: str | None = None
    interval_minutes: float | None = Field(None, le=525_600)  # at least MIN_INTERVAL_MINUTES (_interval)
    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(600, ge=1, le=31_536_000)  # a year: beyond, time arithmetic
    coalesce: bool = True                                            # overflows
    jitter_seconds: int = Field(0, ge=0, le=31_536_000)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            trigger = crontab_trigger(v, "UTC")
        except ValueError as exc:
            raise ValueError(
                f"not a crontab expression ({exc}); use 5 fields 'minute hour day month weekday', "
                "e.g. '0 */4 * * *'"
            ) from None
        # "0 0 30 2 *" is well formed but never comes: the bot would run and never post.
        if trigger.get_next_fire_time(None, datetime.now(timezone.utc)) is None:
            raise ValueError("this schedule never runs: no month has that day (e.g. day 30 of February); "
                             "check the day and month fields")
        return v

    @field_validator("interval_minutes")
    @classmethod
    def _interval(cls, v: float | None) -> float | None:
        if v is not None and not v >= MIN_INTERVAL_MINUTES:  # "not >=": nan too
            raise ValueError(f"must be at least {MIN_INTERVAL_MINUTES:g} minute: posting more often only runs into "
                             "the platforms' rate limits (Mastodon takes 30 pictures in 30 minutes)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        # A folder of the zone database ("Europe") or an over-long name is an OSError, not a KeyError.
        except (ValueError, KeyError, OSError):
            raise ValueError("unknown time zone; use an IANA name such as 'UTC' or 'Europe/Paris'") from None
        return v

    @model_validator(mode="after")
    def _one_trigger(self) -> "ScheduleSection":
        if (self.cron is None) == (self.interval_minutes is None):
            raise ValueError("set exactly one of cron or interval_minutes")
        return self

    def trigger(self) -> BaseTrigger:
        """When the cycle runs, for APScheduler (the cron fields as crontab means them)."""
        tz = ZoneInfo(self.timezone)
        jitter = self.jitter_seconds or None
        if self.cron:
            return crontab_trigger(self.cron, tz, jitter)
        return IntervalTrigger(seconds=float(self.interval_minutes) * 60, timezone=tz, jitter=jitter)


# --- [[sources]] ---------------------------------------------------------------------------
class _CreditDefaults(Section):
    name: str | None = Field(None, min_length=1, max_length=60)
    title: str | None = None
    author: str | None = None
    link: str | None = None
    licence: str | None = None


class FeedOrder(StrEnum):
    """Which unseen entry of a feed goes first (bot/sources/feed.py)."""

    NEWEST = "newest"
    OLDEST = "oldest"


class FolderSection(_CreditDefaults):
    type: Literal["folder"]
    path: str
    # false: leave files where they are (the store still never dreams one twice)
    consume: bool = True
    settle_seconds: float = Field(5.0, ge=0, le=86_400)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        # "" resolved to the config's own folder: the bot took (and with consume, moved) what lay there.
        if not v.strip():
            raise ValueError('is empty; name the folder of photos (".": the folder of this file)')
        return v


class FeedSection(_CreditDefaults):
    type: Literal["feed"]
    url: str
    order: FeedOrder = Field(FeedOrder.NEWEST, strict=False)  # the file's string, read as the enum
    max_tries: int = Field(5, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)


class UrlsSection(_CreditDefaults):
    type: Literal["urls"]
    path: str
    max_tries: int = Field(5, ge=1, le=100)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty; name the text file of photo URLs, e.g. 'urls.txt'")
        return v


SourceSection = Annotated[Union[FolderSection, FeedSection, UrlsSection], Field(discriminator="type")]


# --- [picker] ------------------------------------------------------------------------------
class PickerSection(Section):
    min_classes: int = Field(1, ge=1, le=10)
    max_classes: int = Field(3, ge=1, le=10)
    weight_min: float = Field(1.0, gt=0, le=100)
    weight_max: float = Field(1.0, gt=0, le=100)
    allow: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    no_repeat: int = Field(50, ge=0, le=100_000)

    @model_validator(mode="after")
    def _ranges(self) -> "PickerSection":
        if self.min_classes > self.max_classes:
            raise ValueError(f"min_classes ({self.min_classes}) is above max_classes ({self.max_classes})")
        if self.weight_min > self.weight_max:
            raise ValueError(f"weight_min ({self.weight_min}) is above weight_max ({self.weight_max})")
        return self


# --- [caption] -----------------------------------------------------------------------------
class CaptionSection(Section):
    template: str = DEFAULT_CAPTION
    alt_template: str = DEFAULT_ALT
    note: str = DEFAULT_NOTE
    hashtags: list[str] = Field(default_factory=lambda: ["deepdream", "lucidDream", "botArt"])

    @field_validator("template", "alt_template")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            parsed = list(string.Formatter().parse(v))
        except ValueError as exc:
            raise ValueError(f"not a valid template ({exc}); write fields as {{name}} and a literal brace as {{{{") from None
        for _, field, spec, conv in parsed:
            if field is None:
                continue
            if field in CAPTION_FIELDS and (spec or conv):
                # Said apart: "unknown field {seed}" for "{seed:>10}" named the one part that was fine.
                written = "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
                raise ValueError(f"{written}: a field takes no format or conversion (after : or !); "
                                 f"write {{{field}}}")
            if field not in CAPTION_FIELDS:
                raise ValueError(
                    f"unknown field {{{field}}}; allowed fields: "
                    + ", ".join("{" + f + "}" for f in CAPTION_FIELDS)
                )
        return v

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not tag.strip("# "):
                raise ValueError("hashtags must be non-empty words, e.g. ['deepdream', 'botArt']")
        return v


# --- [dive] --------------------------------------------------------------------------------
class DiveSection(Section):
    """Dive videos among the scheduled posts: one post in `every` is a dive (0: none). The
    bounds are the engine's (dreamer.dive.DiveSettings, checked again there); they are repeated
    here so that reading a config never loads torch. Defaults are the engine's default dive,
    sized so a CPU-only bot makes one within the hour (benchmarks/dive.py)."""

    every: int = Field(0, ge=0, le=10_000)
    frames: int = Field(144, ge=2, le=10_000)
    fps: int = Field(24, ge=1, le=60)
    size: int = Field(480, ge=32, le=4096)        # the video's long side in pixels
    glide: int = Field(6, ge=1, le=100)           # a dream every `glide` frames
    ease: float = Field(0.15, ge=0, le=0.5)
    zoom: float = Field(1.01, ge=0.5, le=2.0)     # per frame, at cruising speed
    rotate: float = Field(0.1, ge=-180, le=180)   # degrees per frame
    steps: int = Field(40, ge=1, le=10_000)       # per keyframe (each builds on the last)

    def settings(self) -> dict[str, Any]:
        """The engine's DiveSettings as a dict (DiveSettings.from_dict takes it)."""
        return {"fps": self.fps, "glide": self.glide, "ease": self.ease, "size": self.size}

    def recipe(self, base: Recipe) -> Recipe:
        """The cycle's recipe turned into a dive's: frames, the camera's motion, steps a keyframe."""
        return base.replace(frames=self.frames, zoom=self.zoom, rotate=self.rotate, steps=self.steps)

    def is_due(self, dreams_so_far: int) -> bool:
        """Whether the next post (number dreams_so_far + 1) is a dive."""
        return self.every > 0 and (dreams_so_far + 1) % self.every == 0


# --- the whole file ------------------------------------------------------------------------
class Config(Section):
    bot: BotSection = Field(default_factory=BotSection)
    schedule: ScheduleSection = Field(default_factory=lambda: ScheduleSection(interval_minutes=240))
    sources: list[SourceSection] = Field(min_length=1)
    picker: PickerSection = Field(default_factory=PickerSection)
    recipe: dict[str, Any] = Field(default_factory=dict)
    caption: CaptionSection = Field(default_factory=CaptionSection)
    dive: DiveSection = Field(default_factory=DiveSection)
    publishers: PublishersSection = Field(default_factory=PublishersSection)
    admin: AdminSection = Field(default_factory=AdminSection)
    fetch: FetchSection = Field(default_factory=FetchSection)
    requests: RequestsSection = Field(default_factory=RequestsSection)
    queue: QueueSection = Field(default_factory=QueueSection)
    polls: PollsSection = Field(default_factory=PollsSection)

    _path: Path = PrivateAttr(default=Path("config.toml"))
    _secrets: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    # --- derived values ---------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    def resolve(self, p: str) -> Path:
        """A path from the file, relative to the file's folder."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (self._path.parent / q).resolve()

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.bot.data_dir)

    @property
    def outbox_dir(self) -> Path:
        p = self.publishers.outbox.path
        return self.resolve(p) if p else self.data_dir / "outbox"

    def source_names(self) -> list[str]:
        return [s.name or f"{s.type}-{i + 1}" for i, s in enumerate(self.sources)]

    def base_recipe(self) -> Recipe:
        """The [recipe] table (its preset applied) as a Recipe without classes."""
        return build_recipe(self.recipe)

    def secret(self, key: str) -> str:
        """A resolved secret, e.g. 'mastodon.access_token'; KeyError if it was not loaded."""
        return self._secrets[key].get_secret_value()

    def secret_values(self) -> list[str]:
        from urllib.parse import unquote, urlsplit

        found = [s.get_secret_value() for s in self._secrets.values() if s.get_secret_value()]
        password = urlsplit(self.queue.url or "").password  # Redis's, which logs must not show
        return found + ([password, unquote(password)] if password else [])

    def enabled_publishers(self) -> list[str]:
        return [n for n in ("outbox", "mastodon", "tumblr") if getattr(self.publishers, n).enabled]
