"""Dream requests end to end against mastodon-mock: a second account mentions the bot with a
photo and class names; the bot's reply arrives with the dream. Plus every refusal reply,
limits, visibility, deleted requests, the notification policy, and the cursor."""
from __future__ import annotations

import io
import json
import random

import pytest
import requests

from bot.publishers.mastodon_text import html_to_text
from bot.requests.listen import poll
from bot.requests.worker import build_worker
from bot.store import Store
from bot_helpers import photo_bytes, mastodon_mock_fixtures
from requests_helpers import (
    SEED, ask, bot_statuses, client_for, fake_render, load, replies_to, request_config,
)


server, mock = mastodon_mock_fixtures(SEED)


def make_worker(tmp_path, srv, extra="", render=fake_render, **kw):
    cfg = load(request_config(tmp_path, srv, extra, **kw))
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=render)
    worker.rng = random.Random(5)
    return worker, store


def only_reply(srv, status_id):
    found = replies_to(srv, status_id)
    assert len(found) == 1, [html_to_text(s["content"]) for s in found]
    return found[0]


def text_of(status):
    return html_to_text(status["content"])


def test_request_with_photo_gets_the_dream_as_a_reply_with_the_real_engine(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock, render=None)  # the real engine, tiny net
    req = ask(mock, "ann", "goldfish and stingray please")
    result = worker.tick()
    assert result.answered == 1 and result.errors == 0
    reply = only_reply(mock, req["id"])
    text = text_of(reply)
    assert text.startswith("@ann ") and "goldfish × stingray" in text
    assert [m["acct"] for m in reply["mentions"]] == ["ann"]
    assert reply["in_reply_to_id"] == req["id"]
    assert reply["visibility"] == "unlisted"  # public request -> unlisted reply by default
    media = reply["media_attachments"]
    assert len(media) == 1 and "goldfish and stingray" in media[0]["description"]
    row = store.request(1)
    assert row.state == "replied" and row.reply_id == reply["id"]
    assert worker.tick().answered == 0  # nothing new: no second reply
    assert len(replies_to(mock, req["id"])) == 1


@pytest.mark.parametrize("visibility,expected", [("private", "private"), ("direct", "direct"),
                                                 ("unlisted", "unlisted")])
def test_reply_is_never_wider_than_the_request(mock, tmp_path, visibility, expected):
    worker, _ = make_worker(tmp_path, mock)
    req = ask(mock, "ann", "peacock", visibility=visibility)
    worker.tick()
    reply = only_reply(mock, req["id"])
    assert reply["visibility"] == expected


def test_reply_mentions_only_the_requester(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock)
    req = ask(mock, "ann", "@bob ostrich")
    worker.tick()
    reply = only_reply(mock, req["id"])
    assert [m["acct"] for m in reply["mentions"]] == ["ann"]


@pytest.mark.parametrize("text,image,expect", [
    ("goldfsh", True, "Did you mean: goldfish"),
    ("", True, "Which creatures"),
    ("goldfish", False, "I need a photo"),
    ("goldfish, stingray, peacock, ostrich", True, "more than 3 classes"),
    ("crane", True, "could mean several classes"),
    ("goldfish:12", True, "weight"),
    ("goldfish", b"this is not an image at all", "could not use that image"),
])
def test_every_bad_request_gets_an_explanation(mock, tmp_path, text, image, expect):
    worker, store = make_worker(tmp_path, mock)
    req = ask(mock, "ann", text, image=image)
    worker.tick()
    reply = only_reply(mock, req["id"])
    assert expect in text_of(reply)
    assert reply["media_attachments"] == []
    assert store.request(1).state == "refused"


def test_huge_image_is_refused_plainly(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock, "max_image_pixels = 10_000")
    req = ask(mock, "ann", "goldfish", image=photo_bytes(1, size=(200, 100)))
    worker.tick()
    assert "too big" in text_of(only_reply(mock, req["id"]))


def test_request_text_never_reaches_the_reply_unescaped(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock)
    req = ask(mock, "ann", "#spam <b>https://evil.example/x</b> @bob@evil.example")
    worker.tick()
    reply = only_reply(mock, req["id"])
    assert [m["acct"] for m in reply["mentions"]] == ["ann"]
    assert reply["tags"] == []
    assert "evil.example" not in reply["content"] and "<b>" not in text_of(reply)
    assert "<a" not in reply["content"].replace('<a href="https://mock.local/@ann"', "")


def test_image_from_the_replied_post_only_when_it_is_their_own(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock)
    ann = client_for(mock, "ann")
    m = ann.media_post(io.BytesIO(photo_bytes(4)), mime_type="image/png", file_name="a.png")
    own = ann.status_post("my holiday photo", media_ids=[m["id"]])
    req = ask(mock, "ann", "goldfish", image=False, in_reply_to_id=own["id"])
    bob = client_for(mock, "bob")
    m2 = bob.media_post(io.BytesIO(photo_bytes(5)), mime_type="image/png", file_name="b.png")
    bobs = bob.status_post("bob's photo", media_ids=[m2["id"]])
    req2 = ask(mock, "ann", "goldfish", image=False, in_reply_to_id=bobs["id"])
    worker.tick()
    assert len(only_reply(mock, req["id"])["media_attachments"]) == 1  # dreamt from her own post
    assert "I need a photo" in text_of(only_reply(mock, req2["id"]))  # not someone else's


def test_others_public_post_with_operator_consent(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock, "allow_others_public_posts = true")
    bob = client_for(mock, "bob")
    m2 = bob.media_post(io.BytesIO(photo_bytes(5)), mime_type="image/png", file_name="b.png")
    bobs = bob.status_post("bob's photo", media_ids=[m2["id"]])
    req = ask(mock, "ann", "goldfish", image=False, in_reply_to_id=bobs["id"])
    worker.tick()
    assert len(only_reply(mock, req["id"])["media_attachments"]) == 1


def test_daily_limit_says_when_to_ask_again(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock, "daily_limit = 2")
    reqs = [ask(mock, "ann", "goldfish", seed=i) for i in range(3)]
    worker.tick()
    assert all(len(replies_to(mock, r["id"])) == 1 for r in reqs)
    last = text_of(only_reply(mock, reqs[2]["id"]))
    assert "today's dream requests" in last and "UTC" in last
    assert only_reply(mock, reqs[2]["id"])["media_attachments"] == []
    assert len(only_reply(mock, reqs[0]["id"])["media_attachments"]) == 1
    # told once: a fourth mention today gets no further reply
    extra = ask(mock, "ann", "goldfish", seed=9)
    worker.tick()
    assert replies_to(mock, extra["id"]) == []
    # bob has his own allowance
    b = ask(mock, "bob", "goldfish")
    worker.tick()
    assert len(only_reply(mock, b["id"])["media_attachments"]) == 1


def test_queue_cap(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock, "queue_cap = 1")
    a = ask(mock, "ann", "goldfish")
    b = ask(mock, "bob", "goldfish")
    worker.tick()
    assert len(only_reply(mock, a["id"])["media_attachments"]) == 1
    assert "queue is full" in text_of(only_reply(mock, b["id"]))


def test_bots_nobot_and_blocked_get_no_reply(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock, 'blocked_accounts = ["bob"]')
    reqs = [ask(mock, who, "goldfish") for who in ("robo", "quiet", "bob")]
    heard = poll(worker.client, store, worker.settings.requests, worker.client.own_account_id())
    assert (heard.seen, heard.stored, heard.ignored) == (3, 3, 3)
    worker.tick()
    assert all(replies_to(mock, r["id"]) == [] for r in reqs)
    states = {store.request(i).acct: (store.request(i).state, store.request(i).why_ignored) for i in (1, 2, 3)}
    assert states == {"robo": ("ignored", "a bot account"), "quiet": ("ignored", "#nobot in the profile"),
                      "bob": ("ignored", "blocked account")}


def test_replies_per_thread_are_capped(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock, "max_per_thread = 2")
    req = ask(mock, "ann", "goldfish")
    worker.tick()
    first = only_reply(mock, req["id"])
    again = ask(mock, "ann", "stingray", in_reply_to_id=first["id"])
    worker.tick()
    second = only_reply(mock, again["id"])
    third = ask(mock, "ann", "peacock", in_reply_to_id=second["id"])
    worker.tick()
    assert replies_to(mock, third["id"]) == []  # a loop would stop here


def test_deleted_request_gets_no_reply(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock)
    req = ask(mock, "ann", "goldfish")
    worker._listen(type("R", (), {"stored": 0, "errors": 0})())  # stored, not yet answered
    client_for(mock, "ann").status_delete(req["id"])
    worker.tick()
    assert store.request(1).state == "ignored"
    assert bot_statuses(mock) == []


def test_same_status_is_handled_once_and_cursor_persists(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock)
    a = ask(mock, "ann", "goldfish")
    worker.tick()
    # a new worker on the same store (a restart) neither repeats nor misses
    b = ask(mock, "bob", "stingray")
    cfg = load(tmp_path / "bot.toml")
    worker2 = build_worker(cfg, Store(cfg.data_dir / "bot.db"), render=fake_render)
    worker2.tick()
    assert len(replies_to(mock, a["id"])) == 1 and len(replies_to(mock, b["id"])) == 1
    assert store.request_counts() == {"replied": 2}


def test_more_mentions_than_a_page_are_all_read_oldest_first(mock, tmp_path, monkeypatch):
    import bot.publishers.mastodon_api as api_mod

    monkeypatch.setattr(api_mod, "PAGE", 2)
    worker, store = make_worker(tmp_path, mock, "daily_limit = 10\nqueue_cap = 10")
    reqs = [ask(mock, "ann", "goldfish", image=False) for _ in range(5)]
    worker.tick()
    ids = [store.request(i).status_id for i in range(1, 6)]
    assert ids == [r["id"] for r in reqs]


def test_mentions_from_strangers_arrive_despite_a_filtering_policy(mock, tmp_path):
    resp = requests.patch(f"{mock.base_url}/api/v2/notifications/policy", timeout=10,
                          headers={"Authorization": "Bearer dreambot_token"},
                          json={"for_not_following": "filter", "for_new_accounts": "filter"})
    resp.raise_for_status()
    req = ask(mock, "ann", "goldfish")  # filtered before the bot starts: include_filtered finds it
    worker, _ = make_worker(tmp_path, mock)
    worker.tick()
    assert len(replies_to(mock, req["id"])) == 1
    policy = requests.get(f"{mock.base_url}/api/v2/notifications/policy", timeout=10,
                          headers={"Authorization": "Bearer dreambot_token"}).json()
    assert policy["for_not_following"] == "accept" and policy["for_new_accounts"] == "accept"
    req2 = ask(mock, "bob", "stingray")
    worker.tick()
    assert len(replies_to(mock, req2["id"])) == 1


def test_old_mentions_are_not_answered_on_first_start(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock, "max_age_hours = 0.0001")
    req = ask(mock, "ann", "goldfish")
    import time
    from datetime import datetime, timezone

    made = req["created_at"]  # Mastodon.py's aware datetime
    while (datetime.now(timezone.utc) - made).total_seconds() <= 0.0001 * 3600:  # until it is too old
        time.sleep(0.05)
    worker.tick()
    assert replies_to(mock, req["id"]) == []
    assert store.request(1).state == "ignored"


def test_denied_class_is_refused(mock, tmp_path):
    worker, _ = make_worker(tmp_path, mock, picker='deny = ["goldfish"]\n')
    req = ask(mock, "ann", "goldfish")
    worker.tick()
    assert "don't dream goldfish" in text_of(only_reply(mock, req["id"]))


def test_surprise_me_picks_from_the_picker_pool(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock)
    req = ask(mock, "ann", "surprise me")
    worker.tick()
    reply = only_reply(mock, req["id"])
    classes = json.loads(store.request(1).classes_json)
    assert len(classes) == 1 and classes[0][1] in ("goldfish", "stingray", "peacock", "ostrich")
    assert classes[0][1] in text_of(reply)


def test_public_request_also_goes_to_the_outbox_when_the_operator_allows(mock, tmp_path):
    from bot.parts import build_parts
    from bot.pipeline import Pipeline

    path = request_config(tmp_path, mock, "also_publish = true")
    path.write_text(path.read_text().replace("[publishers.outbox]\nenabled = false", "[publishers.outbox]\nenabled = true"))
    cfg = load(path)
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=fake_render)
    pub = ask(mock, "ann", "goldfsh <script>alert(1)</script> #evil")  # unknown class: refused, not published
    ok = ask(mock, "bob", "stingray")
    ask(mock, "ann", "peacock", visibility="private")  # answered, but not published
    worker.tick()
    assert "don't know" in text_of(only_reply(mock, pub["id"]))
    parts = build_parts(cfg, store)
    parts.publishers.pop("mastodon")
    Pipeline(parts, store, render=fake_render).run_cycle()
    posts = [json.loads(p.read_text()) for p in sorted(cfg.outbox_dir.glob("*.json"))]
    assert len(posts) == 1  # only the public, answered request
    assert "stingray" in posts[0]["caption"] and "Dreamt on request" in posts[0]["caption"]
    page = (cfg.outbox_dir / "index.html").read_text()
    assert "<script>alert" not in page and "evil" not in page


def test_optional_queued_note_then_the_dream(mock, tmp_path):
    worker, store = make_worker(tmp_path, mock, "acknowledge = true")
    a = ask(mock, "ann", "goldfish")
    b = ask(mock, "bob", "stingray", visibility="direct")
    worker.tick()
    for req, pos in ((a, 1), (b, 2)):
        got = replies_to(mock, req["id"])
        assert len(got) == 2
        note = [s for s in got if not s["media_attachments"]]
        assert len(note) == 1 and f"number {pos} in the queue" in text_of(note[0])
    assert [s["visibility"] for s in replies_to(mock, b["id"])] == ["direct", "direct"]
    worker.tick()
    assert len(replies_to(mock, a["id"])) == 2  # no second note


def test_an_engine_that_keeps_failing_ends_in_an_apology_not_silence(mock, tmp_path):
    def broken(image, recipe):
        raise RuntimeError("out of memory")

    worker, store = make_worker(tmp_path, mock, render=broken)
    req = ask(mock, "ann", "goldfish")
    for _ in range(worker.settings.bot.max_attempts):
        result = worker.tick()
        assert (result.answered, result.waiting, result.errors) == (0, 0, 1)
        store.update_request(1, retry_at=None)
    assert worker.tick().answered == 1  # the apology
    reply = only_reply(mock, req["id"])
    assert "something went wrong" in text_of(reply) and "out of memory" not in text_of(reply)
    assert store.request(1).state == "refused"
