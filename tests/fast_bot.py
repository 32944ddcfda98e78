"""run_bot.py with the dream cycle every SECONDS seconds instead of the config's schedule.

A config's schedule is a minute or more apart (bot.config.sections.MIN_INTERVAL_MINUTES); the
scheduler tests and benchmarks/soak.py need a cycle every few seconds, against an outbox or a
mock server, so they replace the trigger here rather than in the file:

    python tests/fast_bot.py SECONDS [run_bot.py's arguments...]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable


def fast_trigger(seconds: float) -> Callable[[Any], Any]:
    """A stand-in for ScheduleSection.trigger: every `seconds`, in the schedule's time zone."""
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.interval import IntervalTrigger

    def trigger(self: Any) -> IntervalTrigger:
        return IntervalTrigger(seconds=seconds, timezone=ZoneInfo(self.timezone))

    return trigger


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bot.cli import main
    from bot.config.sections import ScheduleSection

    ScheduleSection.trigger = fast_trigger(float(sys.argv[1]))  # type: ignore[method-assign]
    sys.exit(main(sys.argv[2:]))
