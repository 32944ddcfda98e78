"""Polls for the next mutant ([polls], opt-in; issue 30).

The bot posts a Mastodon poll of 3-4 class combinations drawn by the picker ("Next dream:
A) goldfish × monarch B) …"); the server closes it after `hours`; the winner is the next
scheduled dream after that, and that dream's post says how the poll went and links it. Tumblr
and the outbox get that post with the result line; only Mastodon holds the poll.

rule.py is who wins (ties and no votes: a draw among the tied, seeded by the poll) and the
words; runner.py the steps, each recorded in the store (bot/store/polls.py) before the next;
the platform side is the `PollBoard` protocol (bot/publishers/base.py), which the Mastodon
publisher implements.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot.publishers.base import PollBoard
from bot.retry import Backoff

from .runner import Chosen, PollRunner

if TYPE_CHECKING:
    from bot.config import Config
    from bot.picker import Picker
    from bot.publishers.base import Publisher
    from bot.store import Store

__all__ = ["Chosen", "PollRunner", "build_polls"]


def build_polls(cfg: "Config", store: "Store | None", publishers: dict[str, "Publisher"],
                picker: "Picker") -> PollRunner | None:
    """The runner when [polls] is on and the Mastodon publisher is built (not in a dry run)."""
    board = publishers.get("mastodon")
    if not cfg.polls.enabled or store is None or not isinstance(board, PollBoard):
        return None
    return PollRunner(cfg.polls, store, board, picker, backoff=Backoff.from_config(cfg),
                      tags=tuple(t.lstrip("#").strip() for t in cfg.caption.hashtags))
