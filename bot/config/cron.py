"""Crontab expressions as cron users mean them, for APScheduler 3.

APScheduler 3 numbers weekdays from Monday = 0, while crontab has Sunday = 0 (and 7); its own
`CronTrigger.from_crontab` keeps that mismatch for compatibility, so "0 9 * * 1-5" would skip
Monday and run on Saturday. Here numeric weekdays are rewritten as names first.

On the night clocks go back, APScheduler fires a wall-clock time in the repeated hour twice
(once per offset), so a daily "30 2 * * *" posted twice. Like cron (cronie, Vixie), a job at a
fixed hour and minute runs only at the first of the two; "*/30 * * * *" keeps both passes,
whose extra hour is real time. A day of the month and a weekday both set mean either one, as in
crontab(5), and jitter is added in real time, not on the wall clock.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import datetime_utc_add

_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_NUMERIC = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")
_NAME_RANGE = re.compile(r"[a-z]{3}(?:-[a-z]{3})?")
# APScheduler matches a name range only at the start of a field ("mon#2" is read as "mon",
# "jan-dec/3" as "jan-dec"), so whatever else is in a field must be understood here.
_NOT_SUPPORTED = "use numbers, three-letter names, ranges (mon-fri) and steps (*/2); '#', 'L' and '?' are not crontab"


def weekdays(field: str) -> str:
    """A crontab day-of-week field with every number spelled as a name ("1-5" -> "mon,...,fri")."""
    out: list[str] = []
    for part in field.split(","):
        part = part.strip().lower()
        if _NAME_RANGE.fullmatch(part):
            out.append(part)  # names ("mon-fri") mean the same in both
            continue
        m = _NUMERIC.fullmatch(_numbered(part, _NAMES, 0))
        if not m:
            raise ValueError(f"day of week {part!r} is not understood; {_NOT_SUPPORTED}")
        start, end, step = m.groups()
        if step is not None and int(step) == 0:
            raise ValueError(f"day of week {part!r} has a step of 0; a step is 1 or more")
        if start == "*" and not step:
            return "*"
        lo = 0 if start == "*" else int(start)
        hi = (6 if start == "*" else lo) if end is None else int(end)
        if start != "*" and end is None and step:
            hi = 6  # "1/2": from 1 to the end of the week
        if not (0 <= lo <= 7 and 0 <= hi <= 7) or lo > hi:
            raise ValueError(f"day of week {part!r} is out of range; use 0-7 (0 and 7 are Sunday) or mon-sun")
        for d in range(lo, hi + 1, int(step or 1)):
            name = _NAMES[d % 7]
            if name not in out:
                out.append(name)
    return ",".join(out)


def months(field: str) -> str:
    """A crontab month field with names that carry a step or meet a number written as numbers
    ("jan-dec/3" -> "1-12/3"), which APScheduler reads whole; anything else it cannot read is
    an error here rather than a field read only up to its first name."""
    out = []
    for part in field.split(","):
        part = part.strip().lower()
        named = bool(_NAME_RANGE.fullmatch(part))  # "jan-mar": APScheduler reads it whole
        numbered = part if named else _numbered(part, _MONTHS, 1)
        if not named and not _NUMERIC.fullmatch(numbered):
            raise ValueError(f"month {part!r} is not understood; {_NOT_SUPPORTED}")
        out.append(numbered)
    return ",".join(out)


def _numbered(part: str, names: list[str], first: int) -> str:
    """`part` with each known name as its number; Sunday ending a range is 7 ("sat-sun")."""
    def number(m: "re.Match[str]") -> str:
        word = m.group(0)
        if word not in names:
            return word
        n = names.index(word) + first
        return "7" if n == 0 and names is _NAMES and m.start() > 0 and part[m.start() - 1] == "-" else str(n)

    return re.sub(r"[a-z]+", number, part)


class CrontabTrigger(CronTrigger):
    """A CronTrigger that fires a fixed-time job once, not twice, when the clock goes back."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        t = super().get_next_fire_time(previous_fire_time, now)  # without jitter: see _apply_jitter
        while t is not None and self._fixed_time() and _second_pass(t):
            t = super().get_next_fire_time(t, t)  # the same wall time came an hour ago: go past it
        return jittered(t, self.jitter)

    def _apply_jitter(self, next_fire_time: datetime | None, jitter: int | None, now: datetime) -> datetime | None:
        # Added once, in real time, after the second-pass check: added to the wall clock it
        # dropped the second pass's fold, and the scheduler then looped on a time long past.
        return next_fire_time

    def _fixed_time(self) -> bool:
        # From the fields, not a flag of ours, so a pickled trigger keeps the rule.
        return all(not set(str(f)) & set("*/-") for f in self.fields if f.name in ("hour", "minute"))


class CrontabOr(OrTrigger):
    """crontab's "day or weekday", its jitter added in real time as CrontabTrigger's is."""

    def _apply_jitter(self, next_fire_time: datetime | None, jitter: int | None, now: datetime) -> datetime | None:
        return jittered(next_fire_time, jitter)


def jittered(t: datetime | None, jitter: int | None) -> datetime | None:
    """t plus up to `jitter` seconds of real time. APScheduler adds wall-clock time, which in the
    hour the clock repeats drops the second pass's fold: it became the first pass, long past."""
    if t is None or not jitter:
        return t
    return datetime_utc_add(t, timedelta(seconds=random.uniform(0, jitter)))


def _second_pass(t: datetime) -> bool:
    """Whether t's wall-clock time came once already, at a larger offset (the clock went back)."""
    first = t.replace(fold=0)
    return t.fold == 1 and first.utcoffset() != t.utcoffset()


def crontab_trigger(expr: str, timezone: tzinfo | str, jitter: int | None = None) -> BaseTrigger:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields, expected 5")
    minute, hour, day, month, dow = fields

    def cron(day: str, dow: str, jitter: int | None) -> CronTrigger:
        return CrontabTrigger(minute=minute, hour=hour, day=day, month=months(month), day_of_week=weekdays(dow),
                              timezone=timezone, jitter=jitter)

    if not day.startswith("*") and not dow.startswith("*"):
        # crontab(5): with both restricted, a day matching either runs ("0 9 1 * mon": the 1st and
        # every Monday); one CronTrigger would need both (only a 1st that is a Monday).
        return CrontabOr([cron(day, "*", None), cron("*", dow, None)], jitter=jitter)
    return cron(day, dow, jitter)
