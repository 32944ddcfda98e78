"""Dream requests survive the bot being killed (SIGKILL) anywhere in the queue, and the mock's
fault injection (5xx, 429 with rate-limit headers, timeouts, malformed bodies): in the end
every request has exactly one reply."""
from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from bot_helpers import mastodon_mock_fixtures, wait_for

from bot.publishers.mastodon_text import html_to_text
from bot.requests.worker import build_worker
from bot.store import Busy, Store
from requests_helpers import SEED, add_fault, ask, bot_statuses, fake_render, load, replies_to, request_config

ROOT = Path(__file__).resolve().parent.parent

CRASHER = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from bot.requests import client as client_mod
    from bot.requests.worker import build_worker
    from bot.store import Store
    from requests_helpers import fake_render, load

    cfg = load(sys.argv[1])
    when = sys.argv[2]
    calls = {{"render": 0, "reply": 0}}

    def render(image, recipe):
        calls["render"] += 1
        if when == "mid-render" and calls["render"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return fake_render(image, recipe)

    real_reply = client_mod.RequestsClient.reply
    def reply(self, **kw):
        calls["reply"] += 1
        if calls["reply"] == 2:
            if when == "before-reply":
                os.kill(os.getpid(), signal.SIGKILL)
            real_reply(self, **kw)                   # the reply is made...
            os.kill(os.getpid(), signal.SIGKILL)     # ...and the bot dies before recording it
        return real_reply(self, **kw)
    client_mod.RequestsClient.reply = reply

    build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=render).tick()
""")


server, mock = mastodon_mock_fixtures(SEED)


@pytest.mark.parametrize("when", ["mid-render", "before-reply", "after-reply"])
def test_sigkill_mid_queue_loses_nothing_and_doubles_nothing(mock, tmp_path, when):
    path = request_config(tmp_path, mock)
    reqs = [ask(mock, who, text, seed=i) for i, (who, text) in
            enumerate([("ann", "goldfish"), ("bob", "stingray"), ("ann", "peacock")])]
    script = tmp_path / "crash.py"
    script.write_text(CRASHER.format(root=str(ROOT), tests=str(ROOT / "tests")))
    proc = subprocess.run([sys.executable, str(script), str(path), when], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    before = [len(replies_to(mock, r["id"])) for r in reqs]
    assert before[0] == 1 and before[2] == 0
    assert before[1] == (1 if when == "after-reply" else 0)

    cfg = load(path)
    store = Store(cfg.data_dir / "bot.db")
    assert store.request_counts()["replied"] == 1  # the first one, recorded
    build_worker(cfg, store, render=fake_render).tick()  # the restarted bot
    for r in reqs:
        got = replies_to(mock, r["id"])
        assert len(got) == 1, [html_to_text(s["content"]) for s in got]
        assert len(got[0]["media_attachments"]) == 1
    assert store.request_counts() == {"replied": 3}
    assert len(bot_statuses(mock)) == 3


def test_after_a_long_outage_the_reply_is_found_not_repeated(mock, tmp_path):
    """Idempotency keys expire (about an hour): the bot must find its own reply by its ref."""
    cfg = load(request_config(tmp_path, mock))
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=fake_render)
    req = ask(mock, "ann", "goldfish")
    worker.tick()
    row = store.request(1)
    # as if the bot died after posting: the store still says "rendered, one attempt"
    store.update_request(1, state="rendered", reply_id=None, reply_attempts=1)
    # and the server forgot the idempotency key: any new post would be a second status
    import bot.publishers.mastodon_api as mastodon_mod

    orig = mastodon_mod.idempotency_key
    mastodon_mod.idempotency_key = lambda k: "fresh-" + k
    try:
        build_worker(cfg, store, render=fake_render).tick()
    finally:
        mastodon_mod.idempotency_key = orig
    assert len(replies_to(mock, req["id"])) == 1
    assert store.request(1).state == "replied" and store.request(1).reply_id == row.reply_id


FAULTS = [
    ("5xx on notifications", r"^/api/v1/notifications", dict(type="status", status=503), None),
    ("5xx on posting", r"^/api/v1/statuses/?$", dict(type="status", status=502), ["POST"]),
    ("429 with rate-limit headers", r"^/api/v1/statuses/?$",
     dict(type="ratelimit", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "300",
                                     "Retry-After": "1"}), ["POST"]),
    # The mock holds a "timeout" request (at least 30 s) while the bot gives up and tries
    # again. The held request then fails in the mock (the client is gone, so its body can no
    # longer be read): an answer lost before the server acted. An answer lost after the
    # server acted is the "after-reply" kill above.
    ("timeout on posting", r"^/api/v1/statuses/?$", dict(type="timeout"), ["POST"]),
    ("malformed status body", r"^/api/v1/statuses/\d+$", dict(type="malformed"), ["GET"]),
    ("malformed notifications", r"^/api/v1/notifications", dict(type="malformed"), None),
    ("5xx on media upload", r"^/api/v2/media", dict(type="status", status=500), ["POST"]),
    ("5xx on status check", r"^/api/v1/statuses/\d+$", dict(type="status", status=500), ["GET"]),
]


def tick_until(worker, done, timeout=120.0):
    """Tick like the scheduler does until `done()`: the worker's own backoff and the rate
    limits decide when it tries again (nothing is reset between ticks)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        worker.tick()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"not done within {timeout:g}s")


def requests_in_flight(srv) -> int:
    """Requests the in-process mock is still working on: uvicorn's own set of request tasks
    (the mock's control plane does not list held requests)."""
    return len(srv._server.server_state.tasks)


@pytest.mark.parametrize("name,regex,effect,methods", FAULTS, ids=[f[0] for f in FAULTS])
def test_faults_end_with_exactly_one_reply(mock, tmp_path, name, regex, effect, methods):
    cfg = load(request_config(tmp_path, mock, bot_extra="retry_seconds = 0.05\nretry_max_minutes = 0.01\n"))
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=fake_render)
    req = ask(mock, "ann", "goldfish and stingray")
    add_fault(mock, regex, count=1 if effect["type"] == "timeout" else 2, methods=methods, **effect)
    tick_until(worker, lambda: store.request_counts().get("replied"))
    worker.tick()
    requests.delete(f"{mock.base_url}/api/v1/_mock/faults", timeout=10)
    # whatever the mock still holds (the "timeout" request) has ended before we count
    assert wait_for(lambda: requests_in_flight(mock) == 0, timeout=180, every=0.2), requests_in_flight(mock)
    got = replies_to(mock, req["id"])
    assert len(got) == 1 and len(got[0]["media_attachments"]) == 1, name
    assert store.request_counts() == {"replied": 1}
    assert len(bot_statuses(mock)) == 1


def test_find_reply_looks_in_the_replies_then_the_bots_own_timeline(mock, tmp_path):
    from bot.publishers.marker import post_ref

    cfg = load(request_config(tmp_path, mock))
    worker = build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=fake_render)
    req = ask(mock, "ann", "goldfish", image=False)
    assert worker.client.find_reply(req["id"], "k-456") is None
    posted = worker.client.reply(in_reply_to_id=req["id"], text=f"@ann hi\n{post_ref('k-456')}",
                                 visibility="direct", key="k-456")
    assert worker.client.find_reply(req["id"], "k-456").remote_id == posted.remote_id
    assert worker.client.find_reply(req["id"], "k-other") is None
    add_fault(mock, r"/context$", count=1, type="status", status=404)  # the request is hidden now
    assert worker.client.find_reply(req["id"], "k-456").remote_id == posted.remote_id
    assert faults_left(mock) == []  # the fallback really ran with the context gone


def faults_left(srv):
    return requests.get(f"{srv.base_url}/api/v1/_mock/faults", timeout=10).json()


KILLED_WHILE = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from bot.requests import client as client_mod
    from bot.requests.worker import build_worker
    from bot.store import Store
    from requests_helpers import fake_render, load

    def die(*args, **kw):
        os.kill(os.getpid(), signal.SIGKILL)   # e.g. the out-of-memory killer, every time

    cfg, step = load(sys.argv[1]), sys.argv[2]
    if step == "replying":                     # before anything is sent
        client_mod.RequestsClient.reply = die
    build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=die if step == "dreaming" else fake_render).tick()
""")


@pytest.mark.parametrize("step", ["dreaming", "replying", "a step this bot does not know"])
def test_a_request_that_keeps_killing_the_bot_gets_an_apology_or_is_given_up(mock, tmp_path, caplog, step):
    """Killed while dreaming, nothing was sent: an apology. Killed while replying, the reply may
    have gone out: given up and listed, never a second reply. A step this bot does not know
    (a newer bot's) ends as a reply would, and the log says so."""
    path = request_config(tmp_path, mock, bot_extra="crash_limit = 2\n")
    req = ask(mock, "ann", "goldfish")
    script = tmp_path / "crash.py"
    script.write_text(KILLED_WHILE.format(root=str(ROOT), tests=str(ROOT / "tests")))
    for _ in range(2):
        killed_at = "dreaming" if step == "dreaming" else "replying"
        proc = subprocess.run([sys.executable, str(script), str(path), killed_at], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    cfg = load(path)
    store = Store(cfg.data_dir / "bot.db")
    dreaming = step == "dreaming"
    raw = store._query("SELECT busy, typeof(busy) AS t, state FROM requests WHERE id = 1")[0]
    assert tuple(raw) == (("dream", "text", "rendering") if dreaming else ("reply", "text", "rendered"))
    assert store.request(1).busy is (Busy.DREAM if dreaming else Busy.REPLY)
    if step == "a step this bot does not know":
        with sqlite3.connect(cfg.data_dir / "bot.db") as other:
            other.execute("UPDATE requests SET busy = 'upload' WHERE id = 1")
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        build_worker(cfg, store, render=fake_render).tick()  # counts the second crash: a crash loop
    got = replies_to(mock, req["id"])
    if dreaming:
        [reply] = got
        assert "keeps knocking me over" in html_to_text(reply["content"]) and reply["media_attachments"] == []
        assert store.request(1).state == "refused"
    else:
        assert got == [] and bot_statuses(mock) == []
        r = store.request(1)
        assert (r.state, r.busy, r.reply_attempts, r.crashes) == ("ignored", None, 2, 2)
        [ended] = store.ended_items()
        assert ended["what"] == f"@ann's request {req['id']}"
        assert ended["reason"] == "killed while replying 2 times in a row"
    unknown = f"request {req['id']} is busy with a step this bot does not know ('upload')" in caplog.text
    assert unknown == (step == "a step this bot does not know")


def _made_hours_ago(store, request_id, hours):
    """As if the request was made `hours` ago (the bot was down, or its server, meanwhile)."""
    import json
    from datetime import datetime, timedelta, timezone

    status = json.loads(store.request(request_id).status_json)
    status["created_at"] = (datetime.now(timezone.utc) - timedelta(hours=hours)).isoformat()
    store.update_request(request_id, status_json=json.dumps(status))


def test_a_late_dream_says_sorry_and_a_too_late_one_is_an_apology(mock, tmp_path):
    from bot.requests.worker import TickResult

    cfg = load(request_config(tmp_path, mock, requests_extra="max_age_hours = 24\n"))
    store = Store(cfg.data_dir / "bot.db")
    calls = []
    worker = build_worker(cfg, store, render=lambda im, r: calls.append(1) or fake_render(im, r))
    late, too_late, lost = ask(mock, "ann", "goldfish"), ask(mock, "bob", "stingray"), ask(mock, "ann", "peacock")
    worker._listen(TickResult())  # stored; then, before they are handled, time passes
    for rid, hours in ((1, 3), (2, 30), (3, 50)):
        _made_hours_ago(store, rid, hours)
    worker.tick()
    [reply] = replies_to(mock, late["id"])
    text = html_to_text(reply["content"])
    assert "Sorry for the wait (3 h)" in text and "Here is your photo" in text and reply["media_attachments"]
    [reply] = replies_to(mock, too_late["id"])  # past max_age_hours: no dream out of the blue, an apology
    assert "could not answer this within 24 hours" in html_to_text(reply["content"])
    assert reply["media_attachments"] == [] and len(calls) == 1
    assert replies_to(mock, lost["id"]) == []  # past twice that: given up, and listed
    assert [r.state for r in map(store.request, (1, 2, 3))] == ["replied", "refused", "ignored"]
    [ended] = store.ended_items()
    assert ended["kind"] == "request" and "could not be answered within 48 h" in ended["reason"]


def test_a_dream_that_waited_past_max_age_for_its_reply_becomes_an_apology(mock, tmp_path):
    cfg = load(request_config(tmp_path, mock, requests_extra="max_age_hours = 24\n",
                              bot_extra="retry_seconds = 0.05\nretry_max_minutes = 0.01\n"))
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=fake_render)
    req = ask(mock, "ann", "goldfish")
    add_fault(mock, r"^/api/v2/media$", count=1, methods=["POST"], type="status", status=503)
    worker.tick()
    assert store.request(1).state == "rendered" and replies_to(mock, req["id"]) == []
    _made_hours_ago(store, 1, 30)  # the server stayed down for a day
    tick_until(worker, lambda: store.request(1).state != "rendered")
    [reply] = replies_to(mock, req["id"])
    assert "could not answer this within 24 hours" in html_to_text(reply["content"])
    assert reply["media_attachments"] == [] and store.request(1).state == "refused"


def test_a_used_up_media_limit_holds_back_images_only(mock, tmp_path):
    """Media uploads have their own rate limit: when it is used up a dream reply waits
    (without an attempt counted), while replies without an image still go out."""
    cfg = load(request_config(tmp_path, mock))
    store = Store(cfg.data_dir / "bot.db")
    first = ask(mock, "ann", "goldfish")
    worker = build_worker(cfg, store, render=fake_render)
    worker.client.api.limits()  # learn the general limit (X-RateLimit-Limit of an API call)
    add_fault(mock, r"^/api/v2/media$", count=1, methods=["POST"], type="ratelimit",
              headers={"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "Retry-After": "600"})
    worker.tick()
    assert replies_to(mock, first["id"]) == [] and store.request(1).reply_attempts == 1
    second, no_photo = ask(mock, "bob", "stingray"), ask(mock, "bob", "peacock", image=False)
    fresh = build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=fake_render)  # e.g. after a restart
    result = fresh.tick()  # the first dream is not due (Retry-After), the second waits, the third is refused
    assert (result.stored, result.answered, result.waiting, result.errors) == (2, 1, 1, 0)
    assert "I need a photo" in html_to_text(replies_to(mock, no_photo["id"])[0]["content"])
    assert replies_to(mock, first["id"]) == replies_to(mock, second["id"]) == []
    waiting = store.request(2)
    assert (waiting.state, waiting.reply_attempts, waiting.retries) == ("rendered", 0, 0)  # not even tried
    assert waiting.retry_at is not None
    assert fresh.client.rate_wait(media=True) > 500 and fresh.client.rate_wait(media=False) == 0
