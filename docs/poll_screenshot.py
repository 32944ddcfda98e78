"""The README's poll picture: a real poll and the winner's post, made by the bot against
mastodon-mock, drawn as a page and shot with headless Chromium.

    .venv/bin/python docs/poll_screenshot.py

runs the bot's own pipeline (build_parts, Pipeline; the default recipe with
EfficientNet-Lite0, a few minutes on a CPU) on two bundled photos: the first dream, then the
poll; five people vote (accounts made through the mock's control plane, voting through the
API); the poll's time is up (mastodon-mock never ends a poll, so the stored closing time is
moved, as the tests do); the next cycle dreams the winner and posts it. The page is drawn from
the statuses as the mock serves them (the status HTML, the poll's options and tallies, the
image and its alt text) and saved as docs/poll.jpg.
"""
from __future__ import annotations

import html
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bot.config import load_config  # noqa: E402
from bot.parts import build_parts
from bot.pipeline import Pipeline  # noqa: E402
from bot.store import Store  # noqa: E402

TOKEN = "dreambot_token"  # mock credentials, not secrets
VOTES = (1, 1, 1, 0, 3)  # what the five people choose
CONFIG = """[bot]
name = "Lucid Dream Bot"
data_dir = "data"
reload_check_seconds = 0
[schedule]
interval_minutes = 240
[[sources]]
type = "folder"
name = "inbox"
path = "inbox"
settle_seconds = 0
[picker]
allow = ["goldfish", "monarch", "daisy", "stingray", "peacock", "jellyfish", "tree frog", "starfish"]
min_classes = 2
max_classes = 2
weight_min = 0.8
[recipe]
max_pixels = 250_000
[publishers.outbox]
enabled = false
[publishers.mastodon]
enabled = true
api_base_url = "{url}"
access_token_env = "LDB_DOCS_TOKEN"
[polls]
enabled = true
options = 4
hours = 24
"""


def main() -> None:
    from mastodon_mock.config import SeedAccount, SeedConfig
    from mastodon_mock.testing import MockServer

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium")
    seed = SeedConfig(accounts=[SeedAccount(username="dreambot", display_name="Lucid Dream Bot", bot=True,
                                            access_token=TOKEN)])
    with MockServer(seed=seed) as srv, tempfile.TemporaryDirectory(prefix="ldb-poll-") as tmp:
        work = Path(tmp)
        (work / "bot.toml").write_text(CONFIG.format(url=srv.base_url))
        (work / "inbox").mkdir()
        cfg = load_config(work / "bot.toml", environ={"LDB_DOCS_TOKEN": TOKEN})
        store = Store(cfg.data_dir / "bot.db")
        pipe = Pipeline(build_parts(cfg, store), store)
        for n, photo in enumerate(("chelsea", "coffee")):
            if n:
                vote_and_close(srv, store)
            for ext in ("jpg", "json"):
                shutil.copy(ROOT / "photos" / f"{photo}.{ext}", work / "inbox" / f"{photo}.{ext}")
            result = pipe.run_cycle()
            if result.outcome != "posted" or result.errors:
                raise SystemExit(f"the cycle did not post: {result}")
        poll_row = store.latest_polls(2)[1]
        poll = own(srv, poll_row.status_id)
        winner = own(srv, store.post(2, "mastodon").remote_id)
        page = work / "poll.html"
        page.write_text(draw(poll, winner), encoding="utf-8")
        shot = work / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={work / 'profile'}", "--window-size=620,1300", f"--screenshot={shot}",
                        page.as_uri()], check=True, capture_output=True, timeout=120)
        Image.open(shot).convert("RGB").save(ROOT / "docs" / "poll.jpg", quality=85, optimize=True)
    print("wrote docs/poll.jpg")


def vote_and_close(srv, store: Store) -> None:
    poll_id = own(srv, store.running_poll().status_id)["poll"]["id"]
    for choice in VOTES:
        person = requests.post(f"{srv.base_url}/api/v1/_mock/dev_user", json={}, timeout=10).json()
        requests.post(f"{srv.base_url}/api/v1/polls/{poll_id}/votes", json={"choices": [choice]}, timeout=10,
                      headers={"Authorization": f"Bearer {person['access_token']}"}).raise_for_status()
    past = (datetime.now(timezone.utc) - timedelta(minutes=3)).isoformat(timespec="seconds")
    db = sqlite3.connect(store.path)
    with db:
        db.execute("UPDATE polls SET closes_at = ? WHERE state = 'open'", (past,))
    db.close()


def own(srv, status_id: str) -> dict:
    r = requests.get(f"{srv.base_url}/api/v1/statuses/{status_id}", headers={"Authorization": f"Bearer {TOKEN}"},
                     timeout=10)
    r.raise_for_status()
    return r.json()


def draw(poll: dict, winner: dict) -> str:
    return f"""<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; padding: 14px; background: #eef0f4; font: 15px/1.4 system-ui, sans-serif; color: #1f232b; }}
.status {{ background: #fff; border-radius: 10px; padding: 14px 16px; margin-bottom: 12px; }}
.who {{ display: flex; gap: 10px; align-items: center; margin-bottom: 8px; }}
.avatar {{ width: 40px; height: 40px; border-radius: 8px; background: linear-gradient(135deg, #6364ff, #37c2b0); }}
.name {{ font-weight: 700; }} .acct {{ color: #606984; font-size: 13px; }}
.bot {{ font-size: 11px; border: 1px solid #606984; border-radius: 4px; padding: 0 4px; margin-left: 4px; }}
.content p {{ margin: 0 0 10px; }} .content a {{ color: #4f51d9; text-decoration: none; }}
.option {{ position: relative; margin: 6px 0; padding: 4px 8px; border-radius: 4px; overflow: hidden; }}
.bar {{ position: absolute; inset: 0 auto 0 0; background: #d9dbf7; z-index: 0; }}
.bar.won {{ background: #aeb0f5; }} .option span {{ position: relative; }}
.pct {{ display: inline-block; width: 3.2em; font-weight: 700; }}
.meta {{ color: #606984; font-size: 13px; margin-top: 6px; }}
img {{ width: 100%; border-radius: 8px; display: block; }}
.alt {{ color: #606984; font-size: 12px; margin-top: 6px; }}
</style>{card(poll, poll_block(poll))}{card(winner, media_block(winner))}"""


def card(status: dict, extra: str) -> str:
    acct = status["account"]
    return (f'<div class="status"><div class="who"><div class="avatar"></div><div><div class="name">'
            f'{html.escape(acct["display_name"])}<span class="bot">BOT</span></div><div class="acct">'
            f'@{html.escape(acct["acct"])}</div></div></div><div class="content">{status["content"]}</div>'
            f"{extra}</div>")


def poll_block(status: dict) -> str:
    poll = status["poll"]
    total = sum(o["votes_count"] for o in poll["options"]) or 1
    top = max(o["votes_count"] for o in poll["options"])
    rows = []
    for o in poll["options"]:
        pct = round(100 * o["votes_count"] / total)
        won = " won" if o["votes_count"] == top else ""
        rows.append(f'<div class="option"><div class="bar{won}" style="width:{pct}%"></div>'
                    f'<span><span class="pct">{pct}%</span>{html.escape(o["title"])}</span></div>')
    people = poll["votes_count"]
    return "".join(rows) + f'<div class="meta">{people} people · Closed</div>'


def media_block(status: dict) -> str:
    media = status["media_attachments"][0]
    return (f'<img src="{html.escape(media["url"])}" alt="{html.escape(media["description"] or "")}">'
            f'<div class="alt">ALT: {html.escape(media["description"] or "")}</div>')


if __name__ == "__main__":
    main()
