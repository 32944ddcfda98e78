"""`run_bot.py login mastodon|tumblr` and `check-config --online`: against mastodon-mock, and
Tumblr's OAuth1 endpoints answering as recorded from the real service."""
from __future__ import annotations

import importlib
import io
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from mastodon import Mastodon

from bot import cli
from bot.cli.accounts import run_login
from bot.cli.login import BASE_SCOPES, REQUEST_SCOPES
from bot_helpers import mastodon_mock_fixtures, tiny_config
from requests_helpers import BOT_TOKEN, SEED, request_config

server, mock = mastodon_mock_fixtures(SEED)


def authorise_as(username: str, out: io.StringIO, seen: dict):
    """The operator: open the printed link, pick the account, copy the code the page shows."""
    def ask(prompt: str) -> str:
        url = re.search(r"https?://\S+/oauth/authorize\S+", out.getvalue()).group(0)
        seen["scopes"] = parse_qs(urlsplit(url).query)["scope"][0].split()
        page = requests.get(url, timeout=10)
        assert f"@{username}" in page.text
        form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
        code_page = requests.post(url.split("?")[0], data={**form, "username": username}, timeout=10)
        return re.search(r"Authorization code: (\S+?)<", code_page.text).group(1)
    return ask


def login_args(tmp_path, target="mastodon", instance=None, config=None):
    return SimpleNamespace(target=target, instance=instance, config=str(config or tmp_path / "none.toml"))


def test_login_mastodon_registers_authorises_and_prints_the_export(mock, tmp_path):
    out, seen = io.StringIO(), {}
    assert run_login(login_args(tmp_path, instance=mock.base_url), out, ask=authorise_as("dreambot", out, seen)) == 0
    m = re.search(r"^export MASTODON_ACCESS_TOKEN=(\S+)$", out.getvalue(), re.M)
    assert m, out.getvalue()
    me = Mastodon(access_token=m.group(1), api_base_url=mock.base_url, version_check_mode="none")
    assert me.account_verify_credentials()["acct"] == "dreambot"
    assert "Logged in as @dreambot" in out.getvalue()
    assert sorted(seen["scopes"]) == sorted(BASE_SCOPES)  # posting only: the smallest set


def test_login_asks_for_request_scopes_and_uses_the_configs_variable(mock, tmp_path):
    config = request_config(tmp_path, mock)  # [requests] on; token in LDB_TEST_MASTODON_TOKEN
    out, seen = io.StringIO(), {}
    assert run_login(login_args(tmp_path, config=config), out, ask=authorise_as("dreambot", out, seen)) == 0
    assert sorted(seen["scopes"]) == sorted(BASE_SCOPES + REQUEST_SCOPES)
    assert re.search(r"^export LDB_TEST_MASTODON_TOKEN=\S+$", out.getvalue(), re.M)


def test_login_with_a_bad_code_or_no_server_is_one_clear_line(mock, tmp_path, capsys):
    out = io.StringIO()
    assert run_login(login_args(tmp_path, instance=mock.base_url), out, ask=lambda _: "not-a-code") == 1
    assert "did not accept the code" in capsys.readouterr().err
    assert run_login(login_args(tmp_path), out, ask=lambda _: "") == 2
    assert "--instance" in capsys.readouterr().err


def test_check_config_online_shows_the_account_and_limits(mock, tmp_path, monkeypatch):
    config = request_config(tmp_path, mock)
    (tmp_path / "inbox").mkdir()
    monkeypatch.setenv("LDB_TEST_MASTODON_TOKEN", BOT_TOKEN)
    out = io.StringIO()
    assert cli.main(["check-config", "--online", "--config", str(config)], out=out) == 0
    text = out.getvalue()
    assert f"@dreambot on {mock.base_url}" in text
    assert re.search(r"limits:\s+\d+ characters, \d+ images, alt text \d+ characters", text)


def test_check_config_online_refuses_a_bad_token(mock, tmp_path, monkeypatch, capsys):
    config = request_config(tmp_path, mock)
    (tmp_path / "inbox").mkdir()
    monkeypatch.setenv("LDB_TEST_MASTODON_TOKEN", "revoked-token")
    assert cli.main(["check-config", "--online", "--config", str(config)], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "does not accept the token in $LDB_TEST_MASTODON_TOKEN" in err and "revoked-token" not in err


# --- Tumblr, with its endpoints answering as the real service does ---------------------------

def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


needs_tumblr = pytest.mark.skipif(not _installed("requests_oauthlib"), reason="the [tumblr] extra is not installed")

USER_INFO = {  # GET /v2/user/info, trimmed from a real answer
    "meta": {"status": 200, "msg": "OK"},
    "response": {"user": {"name": "lastvisibledog", "likes": 0, "following": 3, "default_post_format": "html",
                          "blogs": [{"name": "last-visible-dog", "title": "Last visible dog", "primary": True,
                                     "url": "https://last-visible-dog.tumblr.com/", "type": "public"}]}},
}


def _oauth_params(request) -> dict[str, str]:
    header = request.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    return dict(re.findall(r'(oauth_\w+)="([^"]*)"', header))


@needs_tumblr
@responses.activate
def test_login_tumblr_three_legs_and_the_exports(tmp_path, monkeypatch):
    responses.post("https://www.tumblr.com/oauth/request_token",
                   body="oauth_token=reqTok&oauth_token_secret=reqSec&oauth_callback_confirmed=true")
    responses.post("https://www.tumblr.com/oauth/access_token", body="oauth_token=accTok&oauth_token_secret=accSec")
    responses.get("https://api.tumblr.com/v2/user/info", json=USER_INFO)
    monkeypatch.setenv("TUMBLR_CONSUMER_KEY", "ck")
    monkeypatch.setenv("TUMBLR_CONSUMER_SECRET", "cs")
    out = io.StringIO()

    def operator(prompt: str) -> str:
        url = re.search(r"https://www\.tumblr\.com/oauth/authorize\S+", out.getvalue()).group(0)
        assert parse_qs(urlsplit(url).query)["oauth_token"] == ["reqTok"]
        return "https://localhost/?oauth_token=reqTok&oauth_verifier=verif42#_=_"

    assert run_login(login_args(tmp_path, target="tumblr"), out, ask=operator) == 0
    legs = [c.request for c in responses.calls]
    assert _oauth_params(legs[0])["oauth_consumer_key"] == "ck" and "oauth_callback" in _oauth_params(legs[0])
    assert _oauth_params(legs[1])["oauth_verifier"] == "verif42" and _oauth_params(legs[1])["oauth_token"] == "reqTok"
    assert _oauth_params(legs[2])["oauth_token"] == "accTok"
    text = out.getvalue()
    assert "can post to: last-visible-dog" in text
    for line in ("export TUMBLR_OAUTH_TOKEN=accTok", "export TUMBLR_OAUTH_SECRET=accSec",
                 "export TUMBLR_CONSUMER_KEY=ck", "export TUMBLR_CONSUMER_SECRET=cs"):
        assert line in text.splitlines()


@needs_tumblr
@responses.activate
def test_login_tumblr_with_wrong_app_keys(tmp_path, capsys):
    responses.post("https://www.tumblr.com/oauth/request_token", status=401, body="oauth_signature does not match")
    answers = iter(["bad-key", "bad-secret"])
    assert run_login(login_args(tmp_path, target="tumblr"), io.StringIO(), ask=lambda _: next(answers), environ={}) == 1
    assert "Tumblr refused the app's keys" in capsys.readouterr().err


def _tumblr_config(tmp_path, blog: str):
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return tiny_config(tmp_path, extra=f'[publishers.tumblr]\nenabled = true\nblog = "{blog}"\n')


@needs_tumblr
@pytest.mark.parametrize("blog, ok", [("last-visible-dog", True), ("last-visible-dog.tumblr.com", True),
                                      ("someone-else", False)])
@responses.activate
def test_check_config_online_finds_the_tumblr_blog(blog, ok, tmp_path, monkeypatch, capsys):
    responses.get("https://api.tumblr.com/v2/user/info", json=USER_INFO)
    for k in ("CONSUMER_KEY", "CONSUMER_SECRET", "OAUTH_TOKEN", "OAUTH_SECRET"):
        monkeypatch.setenv(f"TUMBLR_{k}", k.lower())
    out = io.StringIO()
    code = cli.main(["check-config", "--online", "--config", str(_tumblr_config(tmp_path, blog))], out=out)
    if ok:
        assert code == 0 and f"tumblr:     can post to {blog}" in out.getvalue()
    else:
        assert code == 1 and "cannot post to the blog 'someone-else'; its blogs: last-visible-dog" in capsys.readouterr().err


def test_tumblr_without_its_extra_says_which_to_install(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "requests_oauthlib", None)  # as if not installed
    for k in ("CONSUMER_KEY", "CONSUMER_SECRET", "OAUTH_TOKEN", "OAUTH_SECRET"):
        monkeypatch.setenv(f"TUMBLR_{k}", k.lower())
    assert run_login(login_args(tmp_path, target="tumblr"), io.StringIO(), ask=lambda _: "x") == 1
    assert "pip install 'lucid-dream-bot[tumblr]'" in capsys.readouterr().err
    code = cli.main(["check-config", "--online", "--config", str(_tumblr_config(tmp_path, "b"))], out=io.StringIO())
    assert code == 1 and "lucid-dream-bot[tumblr]" in capsys.readouterr().err
