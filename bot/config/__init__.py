"""The operator's TOML config, the one input the bot trusts, read once into a validated `Config`
that every step of the pipeline takes its section from.

load.py reads a file (`load_config`, `check_file`); sections.py and services.py are the
sections as pydantic models (polls.py [polls], recipe.py the [recipe] table); errors.py turns
pydantic's errors into one line per problem; check.py the checks across sections and outside
the file; cron.py crontab expressions for the scheduler; dryrun.py what `--dry-run` changes.
What other parts import is re-exported here (`from bot.config import Config, load_config`).
"""
from __future__ import annotations

from bot.config.dryrun import only_outbox
from bot.config.errors import ConfigError
from bot.config.load import check_file, load_config
from bot.config.sections import (
    CaptionSection, Config, FeedSection, FolderSection, PickerSection, ScheduleSection, UrlsSection,
)
from bot.config.services import FetchSection, MastodonSection, RequestsSection, TumblrSection

__all__ = [
    "CaptionSection", "Config", "ConfigError", "FeedSection", "FetchSection", "FolderSection", "MastodonSection",
    "PickerSection", "RequestsSection", "ScheduleSection", "TumblrSection", "UrlsSection",
    "check_file", "load_config", "only_outbox",
]
