"""Soak: the bot killed with SIGKILL at random moments (and at random named points), under
random server faults, over a few photos and dream requests; then left alone to finish.

    .venv/bin/python benchmarks/soak.py [--photos 4] [--requests 4] [--kills 12] [--seed 1]

A mastodon-mock server (faults injected through its control plane: 5xx, 429 with
Retry-After, malformed bodies) and `run_bot.py run` processes with the tiny random-weight
net, an embedded render queue, a 3 s schedule and a fast backoff. Each round starts the bot,
maybe injects a fault, and kills it after a random delay, or lets it run into a random
failpoint (bot/failpoints.py). Then the faults are cleared and a clean bot runs until every
photo and request is done (or `--settle` seconds pass).

It prints, for photos and requests:
- lost: neither posted/answered nor listed as ended with a reason (a crash loop is listed);
- doubled: more than one status for one photo or one request;
- orphaned: what a dead process left and nobody cleaned up: photos still taken, posts still
  intended, requests still busy, render queue entries with no live waiter, dead workers'
  records, dream pictures never recorded.
Expected: 0 / 0 / 0. Not a test: it prints figures.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

FAULTS = [
    ("503 on media upload", r"^/api/v2/media$", {"type": "status", "status": 503}, ["POST"]),
    ("500 on status post", r"^/api/v1/statuses/?$", {"type": "status", "status": 500}, ["POST"]),
    ("429 on status post", r"^/api/v1/statuses/?$",
     {"type": "ratelimit", "headers": {"Retry-After": "2", "X-RateLimit-Remaining": "0"}}, ["POST"]),
    ("malformed status read", r"^/api/v1/statuses/\d+$", {"type": "malformed"}, ["GET"]),
    ("502 on notifications", r"^/api/v1/notifications", {"type": "status", "status": 502}, None),
    ("503 on the bot's timeline", r"^/api/v1/accounts/\d+/statuses", {"type": "status", "status": 503}, ["GET"]),
]
POINTS = ["dream", "recorded", "upload", "posted", "render"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--requests", type=int, default=4)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-rate", type=float, default=0.6, help="chance of a fault each round")
    ap.add_argument("--settle", type=float, default=600, help="seconds the clean bot gets to finish")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    import requests
    from mastodon_mock.testing import MockServer

    from bot_helpers import write_photo
    from requests_helpers import BOT_TOKEN, SEED, add_fault, ask, request_config

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ldb-soak-") as tmp, MockServer(seed=SEED) as srv:
        tmp_path = Path(tmp)
        path = request_config(tmp_path, srv, requests_extra="\n[queue]\nlease_seconds = 2\n",
                              bot_extra="retry_seconds = 0.2\nretry_max_minutes = 0.05\n")
        for i in range(args.photos):
            write_photo(tmp_path / "inbox" / f"photo{i}.png", 100 + i, age=600 - i)
        names = ["goldfish", "stingray", "peacock", "ostrich"]
        asked = [ask(srv, ["ann", "bob"][i % 2], names[i % 4], seed=200 + i) for i in range(args.requests)]
        env = {**os.environ, "LDB_TEST_MASTODON_TOKEN": BOT_TOKEN}
        log = (tmp_path / "bot.log").open("a")

        def bot(kill_at: str | None = None) -> subprocess.Popen:
            e = dict(env)
            if kill_at:
                e["LUCID_TEST_KILL_AT"] = kill_at
            # a cycle every 3 s, as no config may ask (tests/fast_bot.py)
            return subprocess.Popen([sys.executable, str(ROOT / "tests" / "fast_bot.py"), "3", "run",
                                     "--config", str(path)],
                                    cwd=ROOT, env=e, stdout=log, stderr=subprocess.STDOUT)

        faults_used, point_kills, timed_kills = [], 0, 0
        for _ in range(args.kills):
            if rng.random() < args.fault_rate:
                name, regex, effect, methods = rng.choice(FAULTS)
                add_fault(srv, regex, count=rng.randint(1, 3), methods=methods, **effect)
                faults_used.append(name)
            point = rng.choice(POINTS) if rng.random() < 0.4 else None
            proc = bot(point)
            try:
                proc.wait(rng.uniform(2.0, 10.0) if point is None else 15)  # a point may never come
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                timed_kills += 1
            elif proc.returncode == -signal.SIGKILL:
                point_kills += 1
        requests.delete(f"{srv.base_url}/api/v1/_mock/faults", timeout=10)

        # the clean run: until every photo and request is done, or --settle
        log.flush()
        mark = (tmp_path / "bot.log").stat().st_size
        proc = bot()
        deadline = time.monotonic() + args.settle
        try:
            # it has started (swept, resumed) once the scheduler says so; then until all is done
            while time.monotonic() < deadline and "started; schedule" not in (tmp_path / "bot.log").read_text()[mark:]:
                time.sleep(0.5)
            while time.monotonic() < deadline and not done(tmp_path, srv, asked, args.photos):
                time.sleep(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
        lost, doubled, orphaned, ended, detail = tally(tmp_path, srv, asked, args.photos, path)

    print(f"soak: {args.photos} photos, {args.requests} requests, {args.kills} rounds "
          f"({timed_kills} killed at a random moment, {point_kills} at a named point), "
          f"{len(faults_used)} faults ({', '.join(sorted(set(faults_used))) or 'none'}), "
          f"{time.monotonic() - started:.0f} s")
    for line in detail:
        print("  " + line)
    print(f"ended with a reason (listed in status): {ended}")
    print(f"lost / doubled / orphaned: {lost} / {doubled} / {orphaned}")
    return 0 if (lost, doubled, orphaned) == (0, 0, 0) else 1


def _statuses(srv) -> list[dict]:
    from requests_helpers import client_for

    c = client_for(srv, "dreambot")
    me = c.account_verify_credentials()
    out, max_id = [], None
    while True:
        page = c.account_statuses(me["id"], limit=40, max_id=max_id)
        out += page
        if len(page) < 40:
            return out
        max_id = page[-1]["id"]


def _open_store(tmp_path: Path):
    from bot.store import Store

    return Store(tmp_path / "data" / "bot.db")


def done(tmp_path: Path, srv, asked, photos: int) -> bool:
    db = tmp_path / "data" / "bot.db"
    if not db.exists():
        return False
    store = _open_store(tmp_path)
    try:
        inbox = [p for p in (tmp_path / "inbox").glob("*.png")]
        counts = store.request_counts()
        open_requests = sum(counts.get(s, 0) for s in ("accepted", "rendering", "rendered", "refusing"))
        return (not inbox and not store.open_posts() and open_requests == 0
                and sum(counts.values()) == len(asked))
    finally:
        store.close()


def tally(tmp_path: Path, srv, asked, photos: int, path: Path):
    from bot import queue
    from bot.queue.sweep import orphans
    from bot.config import load_config
    from bot.publishers.marker import contains_ref, post_ref
    from bot.publishers.mastodon_text import html_to_text
    from requests_helpers import replies_to

    store = _open_store(tmp_path)
    statuses = [html_to_text(s["content"]) for s in _statuses(srv)]
    lost = doubled = 0
    detail = []
    ended = store.ended_count()
    # photos: each should be a dream with exactly one status, or listed as ended
    dreams = store._query("SELECT d.post_key, s.sha256 FROM dreams d JOIN sources s ON s.id = d.source_id")
    for r in dreams:
        n = sum(1 for t in statuses if contains_ref(t, post_ref(r["post_key"])))
        if n > 1:
            doubled += 1
            detail.append(f"photo {r['sha256'][:8]}: {n} statuses")
        elif n == 0 and not store._query(
                "SELECT 1 FROM posts p JOIN dreams d ON d.id = p.dream_id WHERE d.post_key = ? "
                "AND p.state = 'failed' AND p.transient = 0", (r["post_key"],)):  # ended, with a reason
            lost += 1
            detail.append(f"photo {r['sha256'][:8]}: dreamt but never posted")
    left = sorted(p.name for p in (tmp_path / "inbox").glob("*.png"))
    failed = sorted(p.name for p in (tmp_path / "inbox" / "failed").glob("*.png"))
    undreamt = photos - len(dreams) - len(failed)
    if left or undreamt > 0:
        lost += max(len(left), undreamt)
        detail.append(f"photos never dreamt: {left or undreamt}")
    if len(failed) > sum(1 for e in store.ended_items(1000) if e["kind"] == "photo"):
        lost += 1
        detail.append(f"photos in failed/ without a listed reason: {failed}")
    # requests: exactly one reply each, unless listed as ended
    for i, req in enumerate(asked, 1):
        n = len(replies_to(srv, req["id"]))
        row = store.request(i)
        if n > 1:
            doubled += 1
            detail.append(f"request {i}: {n} replies")
        elif n == 0 and not (row.state == "ignored" and row.error):
            lost += 1
            detail.append(f"request {i}: no reply ({row.state})")
    # orphans
    sources = store.source_counts()
    orphaned = sources.get("taken", 0) + store.open_posts().get("intended", 0)
    orphaned += sum(1 for r in store.open_requests(due_only=False) if r.busy)
    found = orphans(queue.RenderQueue.from_config(load_config(path, need_secrets=False)))
    recorded = {Path(f).name for f in store.dream_files()}
    stray = [p for p in (tmp_path / "data" / "dreams").glob("*.png") if p.name not in recorded]
    orphaned += len(found["keys"]) + len(found["files"]) + len(found["workers"]) + len(stray)
    detail.append(f"posts: {len(dreams)} dreams, {len(statuses)} bot statuses (replies and DMs included); "
                  f"requests: {store.request_counts()}")
    if orphaned:
        detail.append(f"orphans: sources {sources}, queue {found}, stray dreams {[p.name for p in stray]}")
    store.close()
    return lost, doubled, orphaned, ended, detail


if __name__ == "__main__":
    sys.exit(main())
