"""Text from outside (a feed's title, author, licence, link, description) is posted as the bot's
own words, yet must never mention anyone nor put the post in a hashtag's timeline (issue 27,
finding 3). A real feed on loopback, the bot's `--once`, mastodon-mock and the local Tumblr;
the texts they received are read with Mastodon's own mention and hashtag patterns."""
from __future__ import annotations

import io
import re

import pytest

from bot import cli
from bot.caption import inert, inert_link
from bot.publishers.mastodon_text import html_to_text
from bot_helpers import LocalServer, mastodon_mock_fixtures, photo_bytes, tiny_config
from requests_helpers import BOT_TOKEN, SEED

pytest.importorskip("requests_oauthlib", reason="the [tumblr] extra is not installed")
from tests.tumblr_server import KEYS, TumblrServer  # noqa: E402

server, mock = mastodon_mock_fixtures(SEED)

# Mastodon's own patterns (app/models/account.rb MENTION_RE, app/models/tag.rb HASHTAG_RE),
# in Python's spelling: a mention is "@" after no word character, "/" nor "="; a hashtag is
# "#" or "＃" after no word character, "/", ")" nor "=".
MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*(?:@[\w]+(?:[.-]+[\w]+)*)?)", re.I)
HASHTAG = re.compile(r"(?<![=/)\w])[#＃]([\w_][\w\u00b7\u30fb\u200c]*)", re.I)

HOSTILE = "Sunset @ann @Gargron@mastodon.social @everyone #nsfw ＃crypto"


def feed(base: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Photos</title>
<link>{base}/</link><description>d</description><copyright>CC BY #free @bob</copyright>
<item><title>{HOSTILE}</title><link>{base}/e/1?@bob#top</link><dc:creator>@bob@mastodon.social #art</dc:creator>
  <description>&lt;img src="/img/1.png" alt="a harbour, hello @ann #spam #more"&gt;</description>
  <pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>
</channel></rss>""".encode()


CAPTION = '''[caption]
template = """{classes}: {title} by {author} ({licence}) {link}
{description}
{hashtags}"""
alt_template = "A dream of {classes_words} into {description}. {credit}"
hashtags = ["deepdream", "botArt"]
'''


def _live(text: str) -> tuple[list[str], list[str]]:
    return MENTION.findall(text), [t.lower() for t in HASHTAG.findall(text)]


def test_feed_text_mentions_nobody_and_tags_nothing_on_mastodon_and_tumblr(tmp_path, mock, monkeypatch):
    import bot.publishers.tumblr as tumblr_mod

    with LocalServer() as srv, TumblrServer("dreamblog") as tumblr:
        srv.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(srv.url("")))
        srv.routes["/img/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(7))
        sources = f'[[sources]]\ntype = "feed"\nname = "photos"\nurl = "{srv.url("/feed.xml")}"\n'
        extra = (f'[publishers.outbox]\nenabled = false\n'
                 f'[publishers.mastodon]\nenabled = true\napi_base_url = "{mock.base_url}"\n'
                 f'access_token_env = "LDB_TEST_MASTODON_TOKEN"\ntimeout = 5\nprocessing_wait = 10\n'
                 f'[publishers.tumblr]\nenabled = true\nblog = "dreamblog"\ntimeout = 10\n'
                 f'[fetch]\nallow_private = true\n{CAPTION}')
        path = tiny_config(tmp_path, sources=sources, extra=extra)
        monkeypatch.setenv("LDB_TEST_MASTODON_TOKEN", BOT_TOKEN)
        for k, v in KEYS.items():
            monkeypatch.setenv(f"TUMBLR_{k.upper()}", v)
        monkeypatch.setattr(tumblr_mod, "API_ROOT", tumblr.api_root)
        out = io.StringIO()
        assert cli.main(["--once", "--config", str(path)], out=out) == 0
        assert out.getvalue().startswith("posted:"), out.getvalue()

        client = mock.client("dreambot")
        [status] = client.account_statuses(client.account_lookup("dreambot")["id"])
        [post] = tumblr.posts
    text = html_to_text(status["content"])
    alt = status["media_attachments"][0]["description"]
    assert "Sunset" in text and "harbour" in text and "Sunset" in alt  # the words are all there...
    # ...but on the server: nobody mentioned, only the bot's own tags
    assert status["mentions"] == []
    assert sorted(t["name"].lower() for t in status["tags"]) == ["botart", "deepdream"]
    mentions, tags = _live(text)
    assert mentions == [] and sorted(tags) == ["botart", "deepdream"], text
    assert _live(alt) == ([], []), alt
    # Tumblr: the tags field is the bot's own tags and the post's reference, the text has no live sign
    assert [t.lower() for t in post["tags"][:-1]] == ["deepdream", "botart"]
    for block in post["content"]:
        body = block.get("text") or block.get("alt_text") or ""
        assert _live(body) == ([], []), body
        if block.get("alt_text"):
            assert "Sunset" in block["alt_text"]


def test_inert_text_reads_the_same_and_links_stay_links():
    assert inert(HOSTILE).replace("\u2060", "") == HOSTILE
    assert _live(inert(HOSTILE)) == ([], [])
    assert inert(None) == ""
    link = inert_link("https://photos.example/e/1?a=b,@bob<#top/ü")
    assert re.fullmatch(r"https://photos\.example/e/1\?a=b,[\w%]+/%C3%BC", link) and _live(link) == ([], [])
    assert inert_link("https://photos.example/e/1") == "https://photos.example/e/1"


def test_the_admins_message_about_a_given_up_request_mentions_the_admin_only(tmp_path, mock):
    # Issue 27, finding 4: a direct status goes to everyone it mentions; "@ann's request"
    # (and a feed title or an error quoting someone) must not bring ann into the admin's DM.
    from bot.config import load_config
    from bot.notify import ended_items
    from bot.publishers.mastodon import MastodonPublisher
    from bot.publishers.mastodon_api import MastodonApi
    from bot.store import Store

    path = tiny_config(tmp_path, extra=f'[publishers.mastodon]\nenabled = true\napi_base_url = "{mock.base_url}"\n'
                                       '[admin]\naccount = "@bob"\n')
    cfg = load_config(path, need_secrets=False)
    store = Store(tmp_path / "bot.db")
    rid = store.add_request(None, status_id="9", account_id="1", acct="ann", visibility="public", thread_key="9",
                            state="accepted", reply_key="k", status_json="{}")
    store.give_up_request(rid, "the server said 500 to @robo #outage")
    sender = MastodonPublisher(MastodonApi(mock.base_url, BOT_TOKEN, timeout=10, processing_wait=10))
    ended_items(store, cfg.admin, cfg.bot.name, sender)
    client = mock.client("dreambot")
    [dm] = client.account_statuses(client.account_lookup("dreambot")["id"])
    assert dm["visibility"] == "direct"
    assert [m["acct"] for m in dm["mentions"]] == ["bob"] and dm["tags"] == []
    text = html_to_text(dm["content"])
    assert "ann" in text and "request 9" in text and "outage" in text  # still says whose and why
    assert _live(text) == (["bob"], []), text
    store.close()
