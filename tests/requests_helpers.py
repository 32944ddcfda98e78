"""Shared pieces for the dream-request tests: a mastodon-mock with a bot and some people."""
from __future__ import annotations

import io
from pathlib import Path

import requests
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.config import load_config
from bot_helpers import photo_bytes, tiny_config

BOT_TOKEN = "dreambot_token"  # mock credentials, not secrets
SEED = SeedConfig(accounts=[
    SeedAccount(username="dreambot", display_name="Lucid Dream Bot", access_token=BOT_TOKEN),
    SeedAccount(username="ann", access_token="ann_token"),
    SeedAccount(username="bob", access_token="bob_token"),
    SeedAccount(username="robo", bot=True, access_token="robo_token"),
    SeedAccount(username="quiet", note="<p>Please no bots here #NoBot</p>", access_token="quiet_token"),
])


def client_for(srv, username):
    c = srv.client(username)
    c.ratelimit_method = "throw"
    return c


def request_config(tmp_path: Path, srv, requests_extra: str = "", picker: str | None = None,
                   bot_extra: str = "") -> Path:
    extra = (
        f'[publishers.outbox]\nenabled = false\n'
        f'[publishers.mastodon]\nenabled = true\napi_base_url = "{srv.base_url}"\n'
        f'access_token_env = "LDB_TEST_MASTODON_TOKEN"\ntimeout = 5\nprocessing_wait = 10\n'
        f'[fetch]\nallow_private = true\n'
        f'[requests]\nenabled = true\npoll_seconds = 1\n{requests_extra}\n'
    )
    kw: dict = {} if picker is None else {"picker": picker}
    if bot_extra:
        kw["bot"] = "reload_check_seconds = 0\n" + bot_extra
    return tiny_config(tmp_path, extra=extra, **kw)


def load(path: Path):
    return load_config(path, environ={"LDB_TEST_MASTODON_TOKEN": BOT_TOKEN})


def ask(srv, who: str, text: str, *, image: bool | bytes = True, visibility: str = "public",
        in_reply_to_id=None, seed: int = 3):
    """`who` posts `text` mentioning the bot, with a photo unless image=False."""
    c = client_for(srv, who)
    media_ids = None
    if image:
        data = image if isinstance(image, bytes) else photo_bytes(seed)
        m = c.media_post(io.BytesIO(data), mime_type="image/png", file_name="photo.png", description="my cat")
        media_ids = [m["id"]]
    return c.status_post(f"@dreambot {text}", media_ids=media_ids, visibility=visibility,
                         in_reply_to_id=in_reply_to_id)


def replies_to(srv, status_id, viewer="dreambot"):
    c = client_for(srv, viewer)
    ctx = c.status_context(status_id)
    return [s for s in ctx["descendants"] if s["account"]["username"] == "dreambot"]


def bot_statuses(srv):
    c = client_for(srv, "dreambot")
    me = c.account_verify_credentials()
    return list(c.account_statuses(me["id"], limit=40))


def add_fault(srv, path_regex, count=1, methods=None, **effect):
    rule = {"match": {"methods": methods, "path": None, "path_regex": path_regex}, "effect": effect, "count": count}
    r = requests.post(f"{srv.base_url}/api/v1/_mock/faults", json=rule, timeout=10)
    r.raise_for_status()


def fake_render(image, recipe):
    """Stands in for the engine where the dream itself is not under test: same size, flipped."""
    from PIL import ImageOps

    # a scheduled deep dream (guide, random) dreams no class; a request always does (lucid)
    assert recipe.classes or recipe.mode != "lucid", "the recipe must carry the requested classes"
    return ImageOps.mirror(image)


def worker_for(tmp_path: Path, srv):
    """A request worker on a config answering `srv`'s mentions, rendering with fake_render."""
    from bot.requests.worker import build_worker
    from bot.store import Store

    cfg = load(request_config(tmp_path, srv))
    return build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=fake_render)


def reply_text(srv, status_id) -> str:
    """The text of the bot's one reply to `status_id`."""
    from bot.publishers.mastodon_text import html_to_text

    [reply] = replies_to(srv, status_id)
    return html_to_text(reply["content"])
