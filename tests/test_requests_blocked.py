"""Blocking an account of the bot's own server by its full handle (issue 27, finding 7):
Mastodon sends local accounts without a domain ("bob", not "bob@mock.local"), so
`blocked_accounts = ["bob@mock.local"]` must still keep bob's mentions unanswered."""
from __future__ import annotations

import random
from urllib.parse import urlsplit

from bot.requests.worker import build_worker
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures
from requests_helpers import SEED, ask, client_for, fake_render, load, replies_to, request_config

server, mock = mastodon_mock_fixtures(SEED)


def test_a_local_account_blocked_by_its_full_handle_gets_no_reply(mock, tmp_path):
    bob = client_for(mock, "bob").account_lookup("bob")
    assert bob["acct"] == "bob"  # local: no domain in what the server sends
    here = urlsplit(bob["url"]).hostname
    cfg = load(request_config(tmp_path, mock, f'blocked_accounts = ["@Bob@{here}", "quiet@elsewhere.example"]'))
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=fake_render)
    worker.rng = random.Random(5)
    blocked = ask(mock, "bob", "goldfish")
    # "quiet@elsewhere.example" is someone else: the local quiet is not blocked by it
    # (quiet is ignored for its #NoBot profile, not as a blocked account)
    quiet = ask(mock, "quiet", "goldfish")
    fine = ask(mock, "ann", "goldfish")
    worker.tick()
    assert replies_to(mock, blocked["id"]) == [] and len(replies_to(mock, fine["id"])) == 1
    by_acct = {store.request(i).acct: (store.request(i).state, store.request(i).why_ignored) for i in (1, 2, 3)}
    assert by_acct["bob"] == ("ignored", "blocked account")
    assert by_acct["quiet"] == ("ignored", "#nobot in the profile")
    assert replies_to(mock, quiet["id"]) == []
    store.close()
