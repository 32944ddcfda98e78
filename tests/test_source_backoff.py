"""A source that keeps failing is skipped for a while, not asked first every cycle
(bot/sources/backoff.py): before, a feed that was down was fetched again, and its error logged
with a traceback, on every cycle. The clock is the test's own; nothing waits."""
from __future__ import annotations

import dataclasses

from bot_helpers import tiny_config, write_photo


class _Flaky:
    """A source that raises while `down`, and has no photo when up."""

    name, kind = "flaky", "feed"

    def __init__(self) -> None:
        self.asked = 0
        self.down = True

    def take(self, store):
        self.asked += 1
        if self.down:
            raise TypeError("'int' object is not iterable")
        return None

    def queue_size(self, store):
        return None


def _bot(tmp_path, first, photos: int):
    """A pipeline whose sources are `first`, then the config's folder of `photos` photos, on a
    clock that moves only when the test says so ([bot] retry_seconds = 60 by default)."""
    from bot.config import load_config
    from bot.parts import build_parts
    from bot.pipeline import Pipeline
    from bot.store import Store
    from requests_helpers import fake_render

    path = tiny_config(tmp_path)
    for n in range(photos):
        write_photo(tmp_path / "inbox" / f"{n}.jpg", seed=n)
    cfg = load_config(path, environ={})
    store = Store(cfg.data_dir / "bot.db")
    parts = build_parts(cfg, store)
    pipe = Pipeline(dataclasses.replace(parts, sources=[first, *parts.sources]), store, render=fake_render)
    now = [1000.0]
    pipe.source_backoff.clock = lambda: now[0]
    return pipe, now


def test_a_failing_source_is_skipped_for_longer_each_time_and_asked_every_cycle_once_it_works(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="bot")
    flaky = _Flaky()
    pipe, now = _bot(tmp_path, flaky, photos=7)

    def cycle(at: float) -> None:
        now[0] = 1000.0 + at
        result = pipe.run_cycle()
        assert result.dream_id is not None, result.message  # the folder after it still posts

    cycle(0)  # fails: not asked for 60 s
    assert flaky.asked == 1
    cycle(30)
    assert flaky.asked == 1  # skipped
    cycle(61)  # asked again, fails again: 120 s
    assert flaky.asked == 2
    cycle(61 + 100)
    assert flaky.asked == 2  # skipped: the wait doubled
    flaky.down = False
    cycle(61 + 121)
    assert flaky.asked == 3  # asked, and it works
    cycle(61 + 122)
    cycle(61 + 123)
    assert flaky.asked == 5  # every cycle again
    pipe.store.close()

    said = [r for r in caplog.records if "flaky" in r.getMessage() and r.levelname != "DEBUG"
            and not r.getMessage().startswith("cycle ")]
    assert [r.levelname for r in said] == ["WARNING", "INFO", "INFO"], [r.getMessage() for r in said]
    assert said[0].exc_info and "TypeError" in said[0].getMessage()  # the traceback once
    assert not said[1].exc_info and "still failing" in said[1].getMessage()
    assert "works again" in said[2].getMessage()


def test_cycles_whose_only_source_is_skipped_still_fail_with_its_error(tmp_path):
    # A skipped source is no "no new photo": the cycle fails with the source's last error, so
    # failed cycles in a row still reach the admin (notify.failed_cycles) while a feed is down.
    from bot.store import CycleOutcome

    flaky = _Flaky()
    pipe, now = _bot(tmp_path, flaky, photos=0)
    pipe.parts = dataclasses.replace(pipe.parts, sources=[flaky])
    first = pipe.run_cycle()
    now[0] += 10
    second = pipe.run_cycle()
    pipe.store.close()
    assert flaky.asked == 1
    assert first.outcome == second.outcome == CycleOutcome.FAILED
    assert "TypeError" in second.message and "not asked again for 50 s" in second.message, second.message


def test_a_reloaded_source_of_the_same_name_is_asked_at_once(tmp_path):
    # A reload builds new sources (the operator may have fixed the feed's address): no backoff
    # carries over to them.
    pipe, now = _bot(tmp_path, _Flaky(), photos=2)
    pipe.run_cycle()
    fixed = _Flaky()
    fixed.down = False
    pipe.parts = dataclasses.replace(pipe.parts, sources=[fixed, *pipe.parts.sources[1:]])
    pipe.run_cycle()
    pipe.store.close()
    assert fixed.asked == 1


def test_another_error_in_a_streak_is_logged_in_full_with_its_traceback(tmp_path, caplog):
    # A feed that failed to fetch, then failed with a bug no source foresaw: the bug's traceback
    # was only an INFO line ("still failing"), never seen by an operator logging warnings.
    caplog.set_level("INFO", logger="bot")
    flaky = _Flaky()
    pipe, now = _bot(tmp_path, flaky, photos=3)
    pipe.run_cycle()
    now[0] += 61
    pipe.run_cycle()  # the same error again: one line
    flaky.take = lambda store: (_ for _ in ()).throw(KeyError("enclosure"))
    now[0] += 121
    pipe.run_cycle()
    pipe.store.close()
    said = [r for r in caplog.records if "flaky" in r.getMessage() and not r.getMessage().startswith("cycle ")]
    assert [r.levelname for r in said] == ["WARNING", "INFO", "WARNING"], [r.getMessage() for r in said]
    assert said[2].exc_info and "KeyError" in said[2].getMessage()


def test_a_source_taken_out_of_the_config_is_forgotten(tmp_path):
    flaky = _Flaky()
    pipe, now = _bot(tmp_path, flaky, photos=2)
    pipe.run_cycle()
    assert pipe.source_backoff.skipped(flaky) is not None
    pipe.parts = dataclasses.replace(pipe.parts, sources=list(pipe.parts.sources[1:]))
    pipe.run_cycle()
    pipe.store.close()
    assert pipe.source_backoff._failing == {}


def test_a_store_error_inside_a_source_is_the_cycles_not_the_sources(tmp_path):
    # A locked database while a folder notes its files is no fault of the folder: it failed the
    # cycle, and was charged to the folder, which was then not asked for a minute and more.
    import sqlite3

    from bot.store import CycleOutcome

    flaky = _Flaky()
    flaky.take = lambda store: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked"))
    pipe, now = _bot(tmp_path, flaky, photos=2)
    result = pipe.run_cycle()
    assert result.outcome == CycleOutcome.FAILED and "database is locked" in result.message
    assert pipe.source_backoff.skipped(flaky) is None  # asked again next cycle
    pipe.store.close()
