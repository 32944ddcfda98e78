"""Who wins a poll, and what the bot says about it.

The rule, as the README and config/example.toml state it:
- The option with the most votes wins.
- A tie is settled by a draw among the tied options.
- No votes at all is a tie of every option: the draw is among all of them. Not "the first
  option": the letters are only the order the picker drew the options in, and a bot whose
  quiet polls always went to A would make A the real choice.
- The draw is seeded by the poll's key, so the same poll always gives the same winner (a
  restart, or anyone checking the rule, gets the same one), and a different poll another.
The tallies are read once, when the poll has closed; votes the server takes later change nothing.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from bot.caption import join_classes

LETTERS = "ABCDEFGHIJ"
VOTES, TIE, NO_VOTES = "votes", "tie", "no votes"


@dataclass(frozen=True)
class Outcome:
    winner: int  # index of the winning option
    how: str  # VOTES, TIE or NO_VOTES
    votes: tuple[int, ...]

    @property
    def tied(self) -> tuple[int, ...]:
        """The options the draw was among (only the winner when the votes decided)."""
        top = max(self.votes)
        return tuple(i for i, v in enumerate(self.votes) if v == top)


def decide(votes: Sequence[int], seed: str) -> Outcome:
    """The winner of a poll with these tallies (one per option, in order), by the rule above."""
    if not votes or any(v < 0 for v in votes):
        raise ValueError(f"not the tallies of a poll: {list(votes)}")
    top = max(votes)
    tied = [i for i, v in enumerate(votes) if v == top]
    if len(tied) == 1:
        return Outcome(tied[0], VOTES, tuple(votes))
    winner = random.Random(f"lucid-dream-bot poll {seed}").choice(tied)
    return Outcome(winner, NO_VOTES if top == 0 else TIE, tuple(votes))


def option_title(index: int, names: Sequence[str], limit: int) -> str:
    """'A) goldfish × monarch', cut to the server's characters per option (the status text
    names every option in full)."""
    title = f"{LETTERS[index]}) {join_classes(names)}"
    return title if len(title) <= limit else title[: max(limit - 1, 3)].rstrip() + "…"


def poll_text(options: Sequence[Sequence[str]], seconds: int) -> str:
    """The poll's status: 'Next dream:' and the options in full, and when it closes."""
    lines = [f"{LETTERS[i]}) {join_classes(names)}" for i, names in enumerate(options)]
    return ("Next dream: which mutant should I dream next?\n" + "\n".join(lines)
            + f"\n\nThe poll closes in {duration(seconds)}; the winner is my next scheduled dream.")


def result_line(outcome: Outcome, options: Sequence[Sequence[str]], url: str | None) -> str:
    """What the winner's post says about the poll, with a link to it."""
    def name(i: int) -> str:
        return f"{LETTERS[i]}) {join_classes(options[i])}"

    won = outcome.votes[outcome.winner]
    if outcome.how == VOTES:
        total = sum(outcome.votes)
        said = f"Chosen by poll: {name(outcome.winner)} won with {won} of {total} vote{_s(total)}."
    elif outcome.how == TIE:
        tied = [LETTERS[i] for i in outcome.tied]
        said = (f"Chosen by poll: {', '.join(tied[:-1])} and {tied[-1]} tied with {won} vote{_s(won)} each; "
                f"a draw chose {name(outcome.winner)}.")
    else:
        said = f"Chosen by poll: nobody voted, so a draw among all {len(outcome.votes)} chose {name(outcome.winner)}."
    return f"{said} {url}" if url else said


def duration(seconds: int) -> str:
    """'24 hours', '90 minutes', '3 days'."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and (seconds % size == 0 or unit == "minute"):
            n = round(seconds / size)
            return f"{n} {unit}{_s(n)}"
    return f"{seconds} second{_s(seconds)}"


def _s(n: int) -> str:
    return "" if n == 1 else "s"
