"""Whole cycles with the tiny net: into the outbox, through failures, crashes (SIGKILL between
"intended" and "confirmed"), retries on one publisher only, the admin message, and secrets."""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot import cli, logs
from bot.config import load_config
from bot.parts import build_parts
from bot.pipeline import Pipeline, _file_lock
from bot.publishers.base import PublishError
from bot.publishers.outbox import OutboxPublisher
from bot.store import Store
from bot_helpers import tiny_config, write_photo

ROOT = Path(__file__).resolve().parent.parent


def outbox_posts(cfg) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(cfg.outbox_dir.glob("*.json"))]


def post_states(cfg) -> list[tuple]:
    db = sqlite3.connect(cfg.data_dir / "bot.db")
    try:
        return db.execute("SELECT dream_id, publisher, state, attempts FROM posts ORDER BY dream_id, publisher").fetchall()
    finally:
        db.close()


def test_once_cycle_into_the_outbox_with_the_tiny_model(tmp_path):
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    out = io.StringIO()
    assert cli.main(["--once", "--config", str(path)], out=out) == 0
    assert out.getvalue().startswith("posted: dream 1: ")
    cfg = load_config(path)
    [post] = outbox_posts(cfg)
    names = post["caption"].split("\n")[0].split(" × ")
    assert set(names) <= {"goldfish", "stingray", "peacock", "ostrich"} and names
    assert "Source photo: “harbour” by Test Photographer (CC0)" in post["caption"]
    assert post["alt_text"].startswith(f"Machine-made picture: a neural network dreamt {names[0]}")
    assert "into the photo “harbour”" in post["alt_text"]
    assert post["source_image"].endswith(".source.jpg")  # the gallery's "before"
    assert (cfg.outbox_dir / post["image"]).stat().st_size > 0
    assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
    assert post_states(cfg) == [(1, "outbox", "confirmed", 1)]
    # the dream keeps its recipe (tiny net, the picker's classes and seed) so it can be made again
    store = Store(cfg.data_dir / "bot.db")
    dream = store.dream(1)
    recipe = json.loads(store._query("SELECT recipe_json FROM dreams")[0]["recipe_json"])
    assert recipe["model"] == "tiny" and recipe["seed"] == dream.seed
    assert sorted(recipe["classes"]) == sorted(names)
    assert dream.file_path.with_suffix(".json").exists()  # save_image's sidecar
    # nothing new: the next cycle is idle, not a failure
    out = io.StringIO()
    assert cli.main(["--once", "--config", str(path)], out=out) == 0
    assert out.getvalue().startswith("idle: no new photo")
    out = io.StringIO()
    assert cli.main(["status", "--config", str(path)], out=out) == 0
    status = out.getvalue()
    assert "outbox: 1 confirmed, 0 pending, 0 intended, 0 failed" in status
    assert "inbox (folder): 0 waiting" in status and "last cycle:" in status


class FlakyPublisher(OutboxPublisher):
    """A second platform (its own folder) that is down for the first `down` calls."""

    def __init__(self, folder, name, down=1):
        super().__init__(folder)
        self.name = name
        self.down = down
        self.calls = 0

    def publish(self, post):
        self.calls += 1
        if self.calls <= self.down:
            raise PublishError("503 Service Unavailable", transient=True)
        return super().publish(post)


class CountingOutbox(OutboxPublisher):
    def __init__(self, folder):
        super().__init__(folder)
        self.calls = 0

    def publish(self, post):
        self.calls += 1
        return super().publish(post)


def make_pipeline(path, publishers=None, render=None) -> Pipeline:
    cfg = load_config(path, environ={"LDB_TOKEN": "x" * 12})
    parts = build_parts(cfg)
    if publishers is not None:
        parts = dataclasses.replace(parts, publishers=publishers(cfg), polls=None)
    return Pipeline(parts, Store(cfg.data_dir / "bot.db"), render=render)


FAST_RETRY = "reload_check_seconds = 0\nretry_seconds = 0.05\nretry_max_minutes = 0.005\n"  # backoff 0.05 s .. 0.3 s


def cycle_until(pipe, done, timeout=120.0):
    """Run cycles until `done(result)` (a retry becomes due after its backoff), bounded."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pipe.run_cycle()
        if done(r):
            return r
        time.sleep(0.02)
    raise AssertionError(f"not done after {timeout:g}s: {r}")


def test_failed_publisher_is_retried_alone(tmp_path):
    path = tiny_config(tmp_path, bot=FAST_RETRY)
    write_photo(tmp_path / "inbox" / "a.png", 1)
    box, mirror = {}, {}

    def pubs(cfg):
        box["p"] = CountingOutbox(cfg.outbox_dir)
        mirror["p"] = FlakyPublisher(tmp_path / "mirror", "mirror", down=1)
        return {"outbox": box["p"], "mirror": mirror["p"]}

    pipe = make_pipeline(path, pubs)
    r = pipe.run_cycle()
    assert r.outcome == "failed" and r.posts == {"outbox": "confirmed", "mirror": "failed"}
    r = pipe.run_cycle()  # before the backoff is over: not tried
    assert r.outcome == "idle" and mirror["p"].calls == 1
    r = cycle_until(pipe, lambda r: r.outcome != "idle")
    assert r.outcome == "posted" and "finished earlier posts: mirror dream 1" in r.message
    assert box["p"].calls == 1 and mirror["p"].calls == 2  # the outbox was not posted again
    assert len(list((tmp_path / "mirror").glob("*.json"))) == 1
    cfg = load_config(path)
    assert post_states(cfg) == [(1, "mirror", "confirmed", 2), (1, "outbox", "confirmed", 1)]


def test_transient_failures_back_off_and_never_run_out(tmp_path):
    """A server down for longer than the old attempt limit (bot.max_attempts = 2 here): the
    post waits longer each time, and goes out once the server is back."""
    path = tiny_config(tmp_path, bot=FAST_RETRY + "max_attempts = 2\n")
    write_photo(tmp_path / "inbox" / "a.png", 1)
    flaky = {}
    pipe = make_pipeline(path, lambda cfg: flaky.setdefault("p", {"mirror": FlakyPublisher(tmp_path / "m", "mirror",
                                                                                          down=7)}))
    waits = []

    def failed_again(r):
        row = pipe.store.post(1, "mirror")
        if row.state == "failed" and (not waits or waits[-1][0] != row.failures):
            waits.append((row.failures, row.retry_at))
        return row.state == "confirmed"

    cycle_until(pipe, failed_again)
    assert flaky["p"]["mirror"].calls == 8 and [f for f, _ in waits] == list(range(1, 8))
    row = pipe.store.post(1, "mirror")
    assert (row.state, row.attempts, row.failures) == ("confirmed", 8, 0)
    assert pipe.store.ended_items() == []


def test_backoff_doubles_up_to_its_cap_and_honours_retry_after():
    from bot.retry import Backoff

    b = Backoff(first=60, cap=3600)
    assert [b.delay(n) for n in (1, 2, 3, 4, 6, 7, 50, 10_000)] == [60, 120, 240, 480, 1920, 3600, 3600, 3600]
    assert b.delay(1, retry_after=900) == 900 and b.delay(7, retry_after=20) == 3600


def test_permanent_failure_not_retried_and_attempts_capped(tmp_path):
    path = tiny_config(tmp_path, bot="reload_check_seconds = 0\nmax_attempts = 2\n")
    write_photo(tmp_path / "inbox" / "a.png", 1)

    class Rejecting(OutboxPublisher):
        name = "picky"
        calls = 0

        def publish(self, post):
            Rejecting.calls += 1
            raise PublishError("422 image rejected", transient=Rejecting.calls > 1)

    pipe = make_pipeline(path, lambda cfg: {"picky": Rejecting(tmp_path / "p")})
    pipe.run_cycle()
    pipe.run_cycle()
    assert Rejecting.calls == 1  # not transient: left for the operator
    assert pipe.store.recent_failures()[0]["error"] == "422 image rejected"
    [ended] = pipe.store.ended_items()  # and listed for `status` and the admin
    assert (ended["kind"], ended["reason"]) == ("post", "422 image rejected")
    out = io.StringIO()
    assert cli.main(["status", "--config", str(path)], out=out) == 0
    assert "ended without being posted" in out.getvalue()
    assert f"{ended['what']}: 422 image rejected" in out.getvalue()


def test_unexpected_errors_end_a_post_after_max_attempts(tmp_path):
    path = tiny_config(tmp_path, bot=FAST_RETRY + "max_attempts = 3\n")
    write_photo(tmp_path / "inbox" / "a.png", 1)

    class Buggy(OutboxPublisher):
        name = "buggy"
        calls = 0

        def publish(self, post):
            Buggy.calls += 1
            raise KeyError("a bug, not the platform")

    pipe = make_pipeline(path, lambda cfg: {"buggy": Buggy(tmp_path / "p")})
    cycle_until(pipe, lambda r: pipe.store.post(1, "buggy").transient is False)
    assert Buggy.calls == 3
    assert pipe.store.ended_items()[0]["reason"].startswith("gave up after 3 unexpected errors in a row: KeyError")


def test_a_failing_cycle_does_not_stop_the_next(tmp_path):
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "a.png", 1)
    calls = []

    def render(image, recipe, progress=None):
        import dreamer

        calls.append(recipe)
        if len(calls) == 1:
            raise RuntimeError("out of memory (simulated)")
        return dreamer.dream(image, recipe)

    pipe = make_pipeline(path, render=render)
    r = pipe.run_cycle()
    assert r.outcome == "failed" and "out of memory" in r.errors[0]
    assert (tmp_path / "inbox" / "failed" / "a.png").exists()
    # the operator puts it back; it was failed once, not dreamt, so it may be tried again
    (tmp_path / "inbox" / "failed" / "a.png").rename(tmp_path / "inbox" / "a.png")
    r = pipe.run_cycle()
    assert r.outcome == "posted", r
    assert pipe.store.consecutive_failures() == (0, False)


def test_admin_told_once_after_n_failures(tmp_path):
    path = tiny_config(tmp_path, extra=(
        '[publishers.mastodon]\nenabled = true\napi_base_url = "https://m.example"\n'
        'access_token_env = "LDB_TOKEN"\n[admin]\naccount = "@boss@m.example"\nafter_failures = 2\n'))

    class Mastodonish(OutboxPublisher):
        """Stands in for the Mastodon publisher: fails to post, but can send a DM."""
        name = "mastodon"

        def __init__(self, folder):
            super().__init__(folder)
            self.dms = []

        def publish(self, post):
            raise PublishError("502 Bad Gateway", transient=True)

        def send_direct(self, acct, text, key=None):
            self.dms.append((acct, text))

    m = {}
    pipe = make_pipeline(path, lambda cfg: m.setdefault("p", {"mastodon": Mastodonish(tmp_path / "m")}))
    for i in range(4):
        write_photo(tmp_path / "inbox" / f"{i}.png", i)
        assert pipe.run_cycle().outcome == "failed"
    dms = m["p"]["mastodon"].dms
    assert len(dms) == 1
    acct, text = dms[0]
    assert acct == "@boss@m.example" and "2 cycles in a row have failed" in text and "mastodon" in text


def test_one_cycle_at_a_time_across_processes(tmp_path):
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "a.png", 1)
    pipe = make_pipeline(path)
    with _file_lock(pipe.data_dir / "bot.lock") as got:
        assert got
        assert pipe.run_cycle().outcome == "skipped"
    assert pipe.run_cycle().outcome == "posted"


def test_a_cycle_waits_for_a_retry_run_and_nothing_waits_for_a_cycle(tmp_path):
    """In one process: a cycle that finds a retry run holding the lock waits for it (retries
    are short, and a cycle must not be lost to one); a retry run or a second cycle that finds a
    cycle running is skipped."""
    import threading

    from bot.pipeline import CycleResult, Run

    pipe = make_pipeline(tiny_config(tmp_path))
    inside, go, waiting = threading.Event(), threading.Event(), threading.Event()

    class SeesWaiters:  # the pipeline's lock, telling when someone waits for it
        def __init__(self, lock):
            self.lock = lock

        def acquire(self, blocking=True, timeout=-1):
            if blocking and threading.current_thread() is not holder:
                waiting.set()
            return self.lock.acquire(blocking, timeout)

        def release(self):
            self.lock.release()

    def busy(parts):  # a run in progress until `go`
        inside.set()
        go.wait(60)
        return CycleResult("idle", "held")

    pipe._lock = SeesWaiters(pipe._lock)
    got = {}
    holder = threading.Thread(target=lambda: pipe._locked(busy, Run.RETRY))
    holder.start()
    assert inside.wait(60)
    cycle = threading.Thread(target=lambda: got.setdefault("cycle", pipe.run_cycle()))
    cycle.start()
    assert waiting.wait(60), "the cycle did not wait for the retry run"
    go.set()
    holder.join(60)
    cycle.join(120)
    assert got["cycle"].outcome != "skipped"  # it ran once the retry run was over

    inside.clear(), go.clear()
    holder = threading.Thread(target=lambda: pipe._locked(busy, Run.CYCLE))
    holder.start()
    assert inside.wait(60)
    assert pipe.retry_due().outcome == "skipped"
    assert pipe.run_cycle().outcome == "skipped"
    go.set()
    holder.join(60)


CRASHER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from bot.config import load_config
    from bot.parts import build_parts
    from bot.pipeline import Pipeline
    from bot.publishers.outbox import OutboxPublisher
    from bot.store import Store

    cfg = load_config(sys.argv[1])
    when = sys.argv[2]

    class DiesMidPublish(OutboxPublisher):
        def publish(self, post):
            if when == "before-call":
                os.kill(os.getpid(), signal.SIGKILL)
            result = super().publish(post)   # the post is made...
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the bot dies before recording it

    parts = build_parts(cfg)
    parts.publishers["outbox"] = DiesMidPublish(cfg.outbox_dir)
    Pipeline(parts, Store(cfg.data_dir / "bot.db")).run_cycle()
""")


@pytest.mark.parametrize("when,posted_before_restart", [("after-post", 1), ("before-call", 0)])
def test_kill_between_intended_and_confirmed_leaves_exactly_one_post(tmp_path, when, posted_before_restart):
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "only.png", 1)
    script = tmp_path / "crash.py"
    script.write_text(CRASHER.format(root=str(ROOT)))
    proc = subprocess.run([sys.executable, str(script), str(path), when], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    cfg = load_config(path)
    assert post_states(cfg) == [(1, "outbox", "intended", 1)]
    assert len(outbox_posts(cfg)) == posted_before_restart

    out = io.StringIO()
    assert cli.main(["--once", "--config", str(path)], out=out) == 0  # the restarted bot
    assert "finished earlier posts: outbox dream 1" in out.getvalue()
    posts = outbox_posts(cfg)
    assert len(posts) == 1  # neither lost nor doubled
    attempts = 1 if when == "after-post" else 2  # found by find_existing vs posted again
    assert post_states(cfg) == [(1, "outbox", "confirmed", attempts)]
    page = (cfg.outbox_dir / "index.html").read_text()
    assert page.count("<article") == 1


# --- secrets ----------------------------------------------------------------------------------
TOKEN = "ldb-SECRET-9d8c7b6a5f4e"


class LeakyPlatform(OutboxPublisher):
    """A platform library that puts the credentials in its errors and debug logs."""
    name = "mastodon"

    def __init__(self, folder, token):
        super().__init__(folder)
        self.token = token

    def publish(self, post):
        logging.getLogger("mastodon.http").debug("POST /api/v2/media Authorization: Bearer %s", self.token)
        raise PublishError(f"401 Unauthorized for token {self.token}", transient=True)

    def find_existing(self, post):
        raise RuntimeError(f"lookup failed with Authorization: Bearer {self.token}")

    def send_direct(self, acct, text, key=None):
        raise RuntimeError(f"DM failed, token {self.token}")


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_secrets_never_reach_logs_store_or_outbox(tmp_path, fmt):
    path = tiny_config(tmp_path, extra=(
        '[publishers.mastodon]\nenabled = true\napi_base_url = "https://m.example"\n'
        'access_token_env = "LDB_TOKEN"\n[admin]\naccount = "@boss@m.example"\nafter_failures = 1\n'))
    cfg = load_config(path, environ={"LDB_TOKEN": TOKEN})
    assert cfg.secret("mastodon.access_token") == TOKEN
    logs.add_secrets(cfg.secret_values())
    stream = io.StringIO()
    handler = logs.setup(fmt, "DEBUG", stream)
    try:
        base = build_parts(cfg.model_copy(update={"publishers": cfg.publishers.model_copy(update={
            "mastodon": cfg.publishers.mastodon.model_copy(update={"enabled": False})})}))
        parts = dataclasses.replace(base, publishers={"outbox": OutboxPublisher(cfg.outbox_dir),
                                                      "mastodon": LeakyPlatform(tmp_path / "m", TOKEN)})
        pipe = Pipeline(parts, Store(cfg.data_dir / "bot.db"))
        for i in range(2):
            write_photo(tmp_path / "inbox" / f"{i}.png", i)
            assert pipe.run_cycle().outcome == "failed"
        pipe.store.close()
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "401 Unauthorized for token [secret]" in text  # the error is logged, masked
    assert TOKEN not in text
    if fmt == "json":
        for line in text.splitlines():
            json.loads(line)
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaked == [], leaked
    # the store kept the errors, masked
    db = sqlite3.connect(cfg.data_dir / "bot.db")
    errors = [r[0] for r in db.execute("SELECT error FROM posts WHERE error IS NOT NULL")]
    db.close()
    assert errors and all("[secret]" in e for e in errors)
    out = io.StringIO()
    cli.main(["status", "--config", str(path)], out=out)
    assert TOKEN not in out.getvalue() and "[secret]" in out.getvalue()


# --- the whole bot against a Mastodon server (mastodon-mock on a loopback port) ---------------
def test_cycle_posts_to_mastodon_and_outbox_and_dms_the_admin(tmp_path, monkeypatch):
    import mastodon_mock.testing as mm  # a test extra: missing, the test fails
    import requests
    from mastodon_mock.config import SeedAccount, SeedConfig

    seed = SeedConfig(accounts=[SeedAccount(username="dreambot", access_token="bot-token-0123456789"),
                                SeedAccount(username="boss", access_token="boss-token-0123456789")])
    with mm.MockServer(seed=seed) as srv:
        path = tiny_config(tmp_path, extra=(
            f'[publishers.mastodon]\nenabled = true\napi_base_url = "{srv.base_url}"\n'
            'access_token_env = "LDB_MASTO"\nvisibility = "unlisted"\nlanguage = "en"\n'
            '[admin]\naccount = "@boss"\nafter_failures = 1\n'))
        monkeypatch.setenv("LDB_MASTO", "bot-token-0123456789")
        write_photo(tmp_path / "inbox" / "harbour.png", 1)
        out = io.StringIO()
        assert cli.main(["--once", "--config", str(path)], out=out) == 0, out.getvalue()
        cfg = load_config(path)
        states = {p: s for _, p, s, _ in post_states(cfg)}
        assert states == {"outbox": "confirmed", "mastodon": "confirmed"}
        auth = {"Authorization": "Bearer bot-token-0123456789"}
        me = requests.get(f"{srv.base_url}/api/v1/accounts/verify_credentials", headers=auth, timeout=10).json()
        assert me["bot"] is True
        statuses = requests.get(f"{srv.base_url}/api/v1/accounts/{me['id']}/statuses", headers=auth, timeout=10).json()
        assert len(statuses) == 1
        status = statuses[0]
        [box] = outbox_posts(cfg)
        assert status["visibility"] == "unlisted"
        assert box["caption"].split("\n")[0] in status["content"].replace("&#215;", "×")
        [media] = status["media_attachments"]
        assert media["type"] == "image" and media["description"] == box["alt_text"]

        # a failing cycle tells the admin by direct message (after_failures = 1)
        def failing_render(image, recipe, progress=None):
            raise RuntimeError("GPU on fire (simulated)")

        write_photo(tmp_path / "inbox" / "second.png", 2)
        assert cli.main(["--once", "--config", str(path)], out=io.StringIO(), render=failing_render) == 1
        boss = {"Authorization": "Bearer boss-token-0123456789"}
        convos = requests.get(f"{srv.base_url}/api/v1/conversations", headers=boss, timeout=10).json()
        assert len(convos) == 1
        dm = convos[0]["last_status"]
        assert dm["visibility"] == "direct" and "GPU on fire" in dm["content"]


def test_a_dream_picture_never_recorded_is_removed(tmp_path):
    """A process killed between saving the dream's picture and recording it leaves a file
    nothing points to; the next cycle removes it, and only it."""
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "a.png", 1)
    pipe = make_pipeline(path)
    assert pipe.run_cycle().outcome == "posted"
    dreams = pipe.data_dir / "dreams"
    kept = sorted(p.name for p in dreams.iterdir())
    stray = [dreams / "20240101-000000-deadbeef.png", dreams / "20240101-000000-deadbeef.json"]
    for p in stray:
        p.write_bytes(b"left by a dead process")
    (dreams / "notes.txt").write_text("the operator's")
    assert pipe.run_cycle().outcome == "idle"
    assert sorted(p.name for p in dreams.iterdir()) == sorted(kept + ["notes.txt"])


class Killed(BaseException):
    """Stands in for the process dying mid-dream: no `except Exception` on the way catches it,
    so the cycle is left unfinished and its photo 'taken', as SIGKILL would leave them."""


def test_a_photo_a_dead_cycle_took_is_dreamt_again_and_set_aside_at_the_crash_limit(tmp_path, caplog):
    path = tiny_config(tmp_path, bot="reload_check_seconds = 0\ncrash_limit = 3\n")
    write_photo(tmp_path / "inbox" / "panorama.png", 1, age=120)
    write_photo(tmp_path / "inbox" / "harbour.png", 2, age=60)
    kills = []

    def render(image, recipe, progress=None):
        import dreamer

        if image.convert("RGB").getpixel((0, 0)) == (37, 11, 53):  # panorama (seed 1), every time
            kills.append(1)
            raise Killed()
        return dreamer.dream(image, recipe)

    caplog.set_level(logging.INFO, logger="bot")
    pipe = make_pipeline(path, render=render)
    with pytest.raises(Killed):
        pipe.run_cycle()  # the oldest photo, panorama, kills the bot
    store = pipe.store
    assert store.source_counts() == {"taken": 1}
    with pytest.raises(Killed):
        pipe.run_cycle()  # a restart: panorama is resumed (1 crash) and kills it again
    assert "the last cycle was interrupted (the bot was stopped or died); resuming" in caplog.messages
    assert "1 photo(s) were interrupted mid-dream; they will be dreamt again" in caplog.messages
    with pytest.raises(Killed):
        pipe.run_cycle()  # 2 crashes: still below the limit of 3, dreamt again
    caplog.clear()
    r = pipe.run_cycle()  # the 3rd crash sets panorama aside; harbour goes on
    why = "killed during the dream 3 times in a row: too big for this machine?"
    assert f"crash loop: photo “panorama” from inbox: {why}" in caplog.messages
    assert r.outcome == "posted" and len(kills) == 3, r
    assert (tmp_path / "inbox" / "failed" / "panorama.png").exists()
    assert (tmp_path / "inbox" / "failed" / "panorama.png.txt").read_text().strip() == why
    assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
    assert [(e["kind"], e["reason"]) for e in store.ended_items()] == [("photo", why)]


def test_an_expected_error_ends_the_cycle_with_its_own_words_and_no_traceback(tmp_path, caplog):
    # one class, no repeats of the last dream's: the second photo cannot be given classes
    path = tiny_config(tmp_path, picker='allow = ["goldfish"]\nmin_classes = 1\nmax_classes = 1\nno_repeat = 5\n')
    write_photo(tmp_path / "inbox" / "a.png", 1, age=120)
    write_photo(tmp_path / "inbox" / "b.png", 2, age=60)
    pipe = make_pipeline(path)
    assert pipe.run_cycle().outcome == "posted"
    caplog.set_level(logging.INFO, logger="bot")
    r = pipe.run_cycle()
    said = ("every combination of 1-1 classes from the 1 allowed was used in the last 5 dreams; "
            "allow more classes or lower picker.no_repeat")
    assert (r.outcome, r.errors) == ("failed", [said])  # no "PickError:" in front of it
    [record] = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert record.getMessage() == f"cycle failed: {said}"
    assert not record.exc_info  # the message says it all: no traceback in the log
