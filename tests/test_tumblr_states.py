"""Tumblr posts made queued or as drafts, against the local Tumblr (tests/tumblr_server.py).
Tumblr publishes them later under a new id (the one they were made with becomes their
"genesis" id, which no longer finds them), so until then they have no URL, however the bot
learns of them: from the answer to its post, or by finding it again after a crash."""
from __future__ import annotations

import pytest

from bot.config import load_config
from bot.parts import build_publishers
from bot.publishers import tumblr
from bot.publishers.base import Post
from bot.publishers.tumblr_npf import TumblrState
from bot_helpers import write_photo
from tumblr_server import KEYS, TumblrServer

BLOG = "dreams"


@pytest.fixture
def server(monkeypatch):
    with TumblrServer(BLOG) as srv:
        monkeypatch.setattr(tumblr, "API_ROOT", srv.api_root)
        yield srv


@pytest.fixture
def post(tmp_path):
    return Post("post-1", write_photo(tmp_path / "dream.png"), "a dream", "a photo, dreamt")


def publisher(state: str) -> tumblr.TumblrPublisher:
    return tumblr.TumblrPublisher(BLOG, *KEYS.values(), state=state)


@pytest.mark.parametrize("state", ["queue", "draft"])
def test_a_post_not_published_at_once_has_no_url_however_the_bot_learns_of_it(server, post, state):
    pub = publisher(state)
    made = pub.publish(post)
    assert made.url is None
    found = pub.find_existing(post)  # as after a crash between posting and recording it
    assert found is not None and (found.remote_id, found.url) == (made.remote_id, None)
    assert [p["state"] for p in server.posts] == [state]


def test_a_queued_post_found_once_tumblr_published_it_has_its_new_id_and_url(server, post):
    pub = publisher("queue")
    made = pub.publish(post)
    server.publish_queue()
    [published] = server.posts
    found = pub.find_existing(post)
    assert found is not None and found.remote_id == published["id"] != made.remote_id
    assert found.url == f"https://{BLOG}.tumblr.com/post/{published['id']}"


def test_a_published_post_has_its_url_from_the_start(server, post):
    pub = publisher("published")
    made = pub.publish(post)
    assert made.url == f"https://www.tumblr.com/{BLOG}/{made.remote_id}"
    found = pub.find_existing(post)
    assert found is not None and found.remote_id == made.remote_id
    assert found.url == f"https://{BLOG}.tumblr.com/post/{made.remote_id}"


@pytest.mark.parametrize("state", ["published", "queue", "draft"])
def test_the_state_the_config_names_is_the_state_the_post_is_made_in(server, post, tmp_path, state):
    # The file writes a plain string; the section and the publisher share one enum, and the
    # post reaches Tumblr with the same string.
    toml = tmp_path / "bot.toml"
    toml.write_text(f'[[sources]]\ntype = "folder"\npath = "in"\n[publishers.outbox]\nenabled = false\n'
                    f'[publishers.tumblr]\nenabled = true\nblog = "{BLOG}"\nstate = "{state}"\n', encoding="utf-8")
    env = {f"TUMBLR_{k.upper()}": v for k, v in KEYS.items()}
    cfg = load_config(toml, environ=env)
    assert cfg.publishers.tumblr.state is TumblrState(state)
    pub = build_publishers(cfg)["tumblr"]
    assert isinstance(pub, tumblr.TumblrPublisher) and pub.state is TumblrState(state)
    pub.publish(post)
    assert [p["state"] for p in server.posts] == [state]


@pytest.mark.parametrize("state", list(TumblrState))
def test_a_publisher_in_any_state_can_look_for_its_posts(server, post, state):
    # find_existing looks where a post made in this state may be: every state has somewhere.
    assert publisher(state).find_existing(post) is None  # an empty blog, asked without error


def test_a_state_tumblr_does_not_know_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"one of published, queue, draft, private, not 'later'"):
        publisher("later")
