"""A remix thread as people see it, for the README: the bot posts a dream on a mastodon-mock,
ann replies "stingray and peacock", bob replies to that remix "more stingray"; the thread is
rendered from the mock's statuses as a small HTML page and screenshot with headless Chromium.

    .venv/bin/python docs/remix_thread.py

writes docs/remix_thread.jpg. It runs the real bot (pipeline and request worker) with the
default net at a small size (three dreams: 20 minutes on two CPU cores shared with others).
"""
from __future__ import annotations

import html
import io
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bot.publishers.mastodon_text import html_to_text  # noqa: E402

DOCS = ROOT / "docs"
TOKENS = {"dreambot": "dreambot_token", "ann": "ann_token", "bob": "bob_token"}  # the mock's, not secrets
NAMES = {"dreambot": "Lucid Dream Bot", "ann": "Ann", "bob": "Bob"}
COLOURS = {"dreambot": "#6364ff", "ann": "#d9480f", "bob": "#2b8a3e"}


def config(folder: Path, base_url: str) -> Path:
    (folder / "inbox").mkdir(parents=True)
    shutil.copy(ROOT / "photos" / "coffee.jpg", folder / "inbox" / "coffee.jpg")
    shutil.copy(ROOT / "photos" / "coffee.json", folder / "inbox" / "coffee.json")
    path = folder / "bot.toml"
    path.write_text(f"""
[bot]
name = "Lucid Dream Bot"
data_dir = "data"
reload_check_seconds = 0
[schedule]
interval_minutes = 60
[[sources]]
type = "folder"
path = "inbox"
settle_seconds = 0
[picker]
allow = ["goldfish", "monarch"]
min_classes = 2
max_classes = 2
[recipe]
preset = "quick"
max_pixels = 250_000
[publishers.outbox]
enabled = false
[publishers.mastodon]
enabled = true
api_base_url = "{base_url}"
access_token_env = "LDB_DOCS_MASTODON_TOKEN"
[fetch]
allow_private = true
[requests]
enabled = true
""", encoding="utf-8")
    return path


def reply(srv, who: str, text: str, to: dict) -> dict:
    c = srv.client(who)
    return c.status_post(f"@dreambot {text}", in_reply_to_id=to["id"], visibility="public")


def page(statuses: list[dict], folder: Path) -> Path:
    """The thread, one card a status (the mock's own text and pictures)."""
    cards = []
    for n, s in enumerate(statuses):
        who = s["account"]["username"]
        pics = ""
        for k, m in enumerate(s["media_attachments"]):
            data = requests.get(m["url"], timeout=30).content
            name = f"m{n}-{k}.jpg"
            Image.open(io.BytesIO(data)).convert("RGB").save(folder / name, quality=90)
            pics += f'<img src="{name}" alt="{html.escape(m.get("description") or "")}">'
        text = html.escape(html_to_text(s["content"])).split("\nref-")[0].replace("\n", "<br>")
        indent = "reply" if s.get("in_reply_to_id") else ""
        cards.append(f'<div class="card {indent}"><div class="who"><span class="av" style="background:'
                     f'{COLOURS[who]}">{NAMES[who][0]}</span><b>{NAMES[who]}</b> <span>@{who}</span></div>'
                     f'<p>{text}</p>{pics}</div>')
    out = folder / "thread.html"
    out.write_text("""<!doctype html><meta charset="utf-8"><style>
body{margin:0;background:#f2f3f7;font:15px/1.4 system-ui,sans-serif;color:#1b1d26}
.card{background:#fff;margin:10px;padding:12px 14px;border-radius:10px;box-shadow:0 1px 2px #0002}
.card.reply{margin-left:34px;border-left:3px solid #c9cbe0}
.who{display:flex;align-items:center;gap:8px}.who span{color:#666}
.av{display:inline-flex;width:30px;height:30px;border-radius:50%;color:#fff!important;align-items:center;
justify-content:center;font-weight:bold}
p{margin:8px 0;overflow-wrap:anywhere}img{width:100%;border-radius:8px;display:block}
</style>""" + "".join(cards), encoding="utf-8")
    return out


def main() -> None:
    import logging
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from mastodon_mock.config import SeedAccount, SeedConfig
    from mastodon_mock.testing import MockServer

    from bot.config import load_config
    from bot.parts import build_parts
    from bot.pipeline import Pipeline
    from bot.requests.worker import build_worker
    from bot.store import Store

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium")
    seed = SeedConfig(accounts=[SeedAccount(username=u, display_name=NAMES[u], access_token=t)
                                for u, t in TOKENS.items()])
    with tempfile.TemporaryDirectory() as tmp, MockServer(seed=seed) as srv:
        folder = Path(tmp)
        os.environ["LDB_DOCS_MASTODON_TOKEN"] = TOKENS["dreambot"]
        cfg = load_config(config(folder, srv.base_url))
        store = Store(cfg.data_dir / "bot.db")
        result = Pipeline(build_parts(cfg, store), store, rng=random.Random(7)).run_cycle()
        post = srv.client("dreambot").status(store.post(result.dream_id, "mastodon").remote_id)
        worker = build_worker(cfg, store)
        worker.rng = random.Random(7)
        ask = reply(srv, "ann", "stingray and peacock", post)
        worker.tick()
        remixed = [s for s in srv.client("ann").status_context(ask["id"])["descendants"]
                   if s["account"]["username"] == "dreambot"][0]
        reply(srv, "bob", "more stingray", remixed)
        worker.tick()
        thread = [post] + srv.client("ann").status_context(post["id"])["descendants"]
        index = page(thread, folder)
        shot = folder / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={folder / 'profile'}", "--window-size=420,2200",
                        f"--screenshot={shot}", index.as_uri()], check=True, capture_output=True, timeout=120)
        im = Image.open(shot).convert("RGB")
        im = im.crop((0, 0, im.width, _content_height(im)))
        target = DOCS / "remix_thread.jpg"
        im.save(target, quality=85, optimize=True)
        print(target)


def _content_height(im: Image.Image) -> int:
    """The screenshot down to the last card (the window is taller than the thread)."""
    bg = im.getpixel((2, im.height - 1))
    for y in range(im.height - 1, 0, -1):
        if any(im.getpixel((x, y)) != bg for x in range(0, im.width, 7)):
            return min(im.height, y + 10)
    return im.height


if __name__ == "__main__":
    main()
