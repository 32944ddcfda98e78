"""[polls]: followers vote for the next mutant on Mastodon (bot/polls). Opt-in."""
from __future__ import annotations

from pydantic import Field

from bot.config.services import Section


class PollsSection(Section):
    """A poll of `options` class combinations drawn by the picker, open `hours`; its winner is
    the next scheduled dream after it closes. Mastodon allows 4 options on stock servers and
    polls of 5 minutes to about a month; the bot keeps within what the server says."""

    enabled: bool = False
    options: int = Field(4, ge=3, le=4)
    hours: float = Field(24.0, ge=0.1, le=24 * 30)

    @property
    def seconds(self) -> int:
        return round(self.hours * 3600)
