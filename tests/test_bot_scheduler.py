"""The scheduler: real APScheduler jobs, hot reload of the config (good edits applied, bad ones
kept out), and a failing cycle that does not stop the next one."""
from __future__ import annotations

import logging
import os
import time

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import ScheduleSection, load_config
from bot.scheduler import BotRunner, next_runs
from bot.store import Store
from bot_helpers import tiny_config, wait_for, write_photo
from fast_bot import fast_trigger


@pytest.fixture
def runner_for(tmp_path):
    made = []

    def make(path, **kw):
        cfg = load_config(path)
        r = BotRunner(cfg, Store(cfg.data_dir / "bot.db"), blocking=False, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.shutdown()


def rewrite(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a visibly newer mtime


def test_valid_edit_is_applied(tmp_path, runner_for, caplog):
    path = tiny_config(tmp_path)
    runner = runner_for(path)
    runner.start()
    job = runner.scheduler.get_job("cycle")
    assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval.total_seconds() == 3600
    assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time == 600
    old_parts = runner.pipeline.parts
    assert runner.check_reload() is None  # unchanged

    rewrite(path, "interval_minutes = 60", 'cron = "15 3 * * *"\ntimezone = "Australia/Sydney"\n'
                                           "misfire_grace_seconds = 30\ncoalesce = false")
    rewrite(path, 'allow = ["goldfish", "stingray", "peacock", "ostrich"]', 'allow = ["tench"]')
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        assert runner.check_reload() is True
    job = runner.scheduler.get_job("cycle")
    assert isinstance(job.trigger, CronTrigger) and str(job.trigger.timezone) == "Australia/Sydney"
    assert job.next_run_time.astimezone(job.trigger.timezone).strftime("%H:%M") == "03:15"
    assert job.coalesce is False and job.misfire_grace_time == 30
    assert runner.pipeline.parts is not old_parts
    assert runner.pipeline.parts.picker.ids == [0]  # tench
    assert "config reloaded (changed: schedule, picker)" in caplog.text
    assert runner.store.get_meta("scheduler")["next_run"] == job.next_run_time.isoformat(timespec="seconds")


def test_a_source_added_while_running_gets_its_folder(tmp_path, runner_for, caplog):
    """As at start: a folder (or URL list) the bot owns is made when a reload brings it."""
    (tmp_path / "inbox").mkdir()
    path = tiny_config(tmp_path)
    runner = runner_for(path)
    runner.start()
    rewrite(path, 'licence = "CC0"\n', 'licence = "CC0"\n[[sources]]\ntype = "folder"\nname = "more"\n'
                                       'path = "drops/more"\nsettle_seconds = 0\n')
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        assert runner.check_reload() is True
    assert (tmp_path / "drops" / "more").is_dir()
    assert f"made the folder of source more {tmp_path / 'drops' / 'more'}" in caplog.text


def test_a_changed_data_dir_waits_for_a_restart(tmp_path, runner_for, caplog):
    """The store is open on the data folder the bot started with: a reload naming another one
    is applied otherwise, but the cycles (lock, dreams) stay where they were, reload after reload."""
    path = tiny_config(tmp_path)
    runner = runner_for(path)
    runner.start()
    rewrite(path, 'data_dir = "data"', 'data_dir = "elsewhere"')
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        assert runner.check_reload() is True
    assert f"bot.data_dir changed to {tmp_path / 'elsewhere'}; that needs a restart, still using " \
           f"{tmp_path / 'data'}" in caplog.text
    rewrite(path, "interval_minutes = 60", "interval_minutes = 7")  # a second reload, the config still elsewhere
    assert runner.check_reload() is True and runner.cfg.schedule.interval_minutes == 7
    assert runner.pipeline.data_dir == runner.pipeline.parts.data_dir == tmp_path / "data"
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    result = runner.pipeline.run_cycle()
    assert result.outcome == "posted", result.message
    dream = runner.store.dream(result.dream_id).file_path
    assert dream.parent == tmp_path / "data" / "dreams" and dream.is_file()
    assert not (tmp_path / "elsewhere" / "dreams").exists() and not (tmp_path / "elsewhere" / "bot.lock").exists()


def test_invalid_edit_is_kept_out(tmp_path, runner_for, caplog):
    path = tiny_config(tmp_path)
    runner = runner_for(path)
    runner.start()
    parts = runner.pipeline.parts
    next_run = runner.scheduler.get_job("cycle").next_run_time
    rewrite(path, "interval_minutes = 60", "interval_minutes = -5")
    rewrite(path, 'allow = ["goldfish",', 'allow = ["goldfsh",')
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        assert runner.check_reload() is False
    assert "keeping the running config" in caplog.text
    assert "schedule.interval_minutes: must be at least 1 minute" in caplog.text and "(got -5)" in caplog.text
    assert "picker.allow[0]: unknown class 'goldfsh'" in caplog.text
    assert runner.pipeline.parts is parts
    assert runner.scheduler.get_job("cycle").next_run_time == next_run
    caplog.clear()
    assert runner.check_reload() is None  # reported once, not at every poll
    # fixing the file applies it
    rewrite(path, "interval_minutes = -5", "interval_minutes = 5")
    rewrite(path, 'allow = ["goldfsh",', 'allow = ["goldfish",')
    assert runner.check_reload() is True
    assert runner.scheduler.get_job("cycle").trigger.interval.total_seconds() == 300


def test_the_watch_job_picks_up_edits_by_itself(tmp_path, runner_for):
    path = tiny_config(tmp_path, bot="reload_check_seconds = 0.2\n")
    runner = runner_for(path)
    runner.start()
    rewrite(path, "interval_minutes = 60", "interval_minutes = 7")
    assert wait_for(lambda: runner.cfg.schedule.interval_minutes == 7), "the edit was never picked up"
    assert runner.scheduler.get_job("cycle").trigger.interval.total_seconds() == 420


def test_failed_cycle_then_next_cycle_runs(tmp_path, runner_for, monkeypatch):
    # every 0.6 s (no config may ask for that: fast_bot.py); the first render fails, the second works
    monkeypatch.setattr(ScheduleSection, "trigger", fast_trigger(0.6))
    path = tiny_config(tmp_path, schedule="interval_minutes = 1\nmisfire_grace_seconds = 5\n")
    for i in range(3):
        write_photo(tmp_path / "inbox" / f"{i}.png", i, age=100 - i)
    calls = []

    def render(image, recipe, progress=None):
        import dreamer

        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated crash in the render")
        return dreamer.dream(image, recipe)

    runner = runner_for(path, render=render)
    runner.start()

    def outcomes():
        return [r[0] for r in runner.store._query("SELECT outcome FROM cycles WHERE outcome IS NOT NULL ORDER BY id")]

    wait_for(lambda: "posted" in outcomes(), every=0.2)
    runner.shutdown()
    assert outcomes()[0] == "failed" and "posted" in outcomes(), outcomes()


def test_next_runs_for_status():
    from datetime import datetime, timezone

    now = datetime(2025, 3, 1, 10, 30, tzinfo=timezone.utc)
    runs = next_runs(ScheduleSection(cron="0 */4 * * *"), 3, now)
    assert [t.strftime("%H:%M") for t in runs] == ["12:00", "16:00", "20:00"]
    runs = next_runs(ScheduleSection(interval_minutes=90), 2, now)
    assert [t.strftime("%H:%M") for t in runs] == ["12:00", "13:30"]


def test_run_bot_serves_and_stops_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    path = tiny_config(tmp_path, schedule="interval_minutes = 1\n")
    write_photo(tmp_path / "inbox" / "a.png", 1)
    # run_bot.py with a cycle every 0.6 s
    proc = subprocess.Popen([sys.executable, str(root / "tests" / "fast_bot.py"), "0.6", "--config", str(path),
                             "--dry-run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        outbox = tmp_path / "data" / "outbox"
        deadline = time.time() + 120
        while time.time() < deadline and not list(outbox.glob("*.json")):
            time.sleep(0.2)
        assert list(outbox.glob("*.json")), "no post within 2 minutes"
        status = subprocess.run([sys.executable, str(root / "run_bot.py"), "status", "--config", str(path)],
                                capture_output=True, text=True, timeout=120)
        assert f"running: yes (pid {proc.pid})" in status.stdout, status.stdout + status.stderr
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Test Bot started" in err and "outbox: dream 1 posted" in err and "stopped" in err
    assert "Traceback" not in err


def test_a_cycle_a_dead_process_left_unfinished_runs_again_at_start(tmp_path, runner_for):
    """The bot died mid-cycle (a cycle row with no end, its photo taken): the restarted bot
    resumes it at once instead of waiting for the next scheduled run (an hour here)."""
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "a.png", 1)
    cfg = load_config(path)
    store = Store(cfg.data_dir / "bot.db")
    store.start_cycle()
    store.take_source("inbox", None, "not-this-photo", {})
    runner = runner_for(path)
    runner.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        outcomes = [r[0] for r in store._query("SELECT outcome FROM cycles WHERE outcome IS NOT NULL ORDER BY id")]
        if "posted" in outcomes:
            break
        time.sleep(0.2)
    assert outcomes == ["interrupted", "posted"], outcomes
    assert store.source_counts() == {"interrupted": 1, "dreamt": 1}
