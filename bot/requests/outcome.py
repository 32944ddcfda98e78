"""What a tick of the request worker came to: what became of each request it handled
(`Handled`), and the counts of a whole tick (`TickResult`)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import assert_never


class Handled(Enum):
    """What became of one request in a tick."""

    ANSWERED = "answered"  # replied, refused or ignored: nothing more to do
    WAITING = "waiting"  # more to do later: the next step, a retry, a rate limit
    ERROR = "error"  # an unexpected error, or a render that failed for good


@dataclass
class TickResult:
    stored: int = 0
    answered: int = 0
    waiting: int = 0
    errors: int = 0  # requests that ended in an error, and a failed read of the mentions

    def count(self, outcome: Handled) -> None:
        """Count one request's outcome in its own field."""
        match outcome:
            case Handled.ANSWERED:
                self.answered += 1
            case Handled.WAITING:
                self.waiting += 1
            case Handled.ERROR:
                self.errors += 1
            case _:
                assert_never(outcome)
