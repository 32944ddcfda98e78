"""A newcomer's first hour with the bot (issue 14): copy config/example.toml, run check-config,
then `--once`, with no folder made by hand and no `init` step in between.

Only what a test machine cannot have is changed in the copy: the example's feed (NASA, on the
internet) is served by a local server, which the fetch policy must then be allowed to reach,
and the model is the tiny random net (no weights to load, seconds per dream). Every path,
folder and source stays as the example has it."""
from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot import cli
from bot.cli.accounts import run_login
from bot_helpers import LocalServer, mastodon_mock_fixtures, photo_bytes, write_photo
from requests_helpers import SEED

server, mock = mastodon_mock_fixtures(SEED)

ROOT = Path(__file__).resolve().parent.parent


def feed(base: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Photos</title><link>{base}/</link><description>d</description>
<item><title>A harbour</title><link>{base}/e/1</link>
  <enclosure url="{base}/img/1.png" type="image/png" length="100"/>
  <pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>
</channel></rss>""".encode()


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the example no longer says {old!r}; update this test"
    return text.replace(old, new)


@pytest.fixture
def newcomer(tmp_path):
    """The example copied to <tmp>/conf/bot.toml, its feed served locally."""
    with LocalServer() as srv:
        srv.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(srv.url("")))
        srv.routes["/img/1.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(7))
        conf = tmp_path / "conf"
        conf.mkdir()
        path = conf / "bot.toml"
        shutil.copy(ROOT / "config" / "example.toml", path)
        text = path.read_text(encoding="utf-8")
        text = replace_once(text, 'url = "https://www.nasa.gov/feeds/iotd-feed/"', f'url = "{srv.url("/feed.xml")}"')
        text = replace_once(text, "allow_private = false", "allow_private = true")
        text = replace_once(text, 'model = "efficientnet-lite0"', 'model = "tiny"\nsteps = 3')
        path.write_text(text, encoding="utf-8")
        yield path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


def test_copy_check_config_once_works_with_no_folder_made_by_hand(newcomer, capsys):
    root = newcomer.parent.parent
    queue, urls, data = root / "queue", newcomer.parent / "urls.txt", root / "data"

    # check-config: OK, and honest about what is not there yet; it makes nothing itself.
    code, out = run("check-config", "--config", str(newcomer))
    assert code == 0, capsys.readouterr().err
    for path, what in ((data, "the data folder"), (data / "outbox", "the outbox"),
                       (queue, "the folder of source inbox"), (urls, "the URL list of source picks")):
        assert f"to make:    {path} ({what}; made when the bot starts" in out, out
    assert not queue.exists() and not urls.exists() and not data.exists()

    # status before the first run: a folder not made yet is said to be so, never "(remote feed)".
    code, out = run("status", "--config", str(newcomer))
    assert code == 0
    assert f"inbox (folder): {queue} not made yet (the bot makes it when it starts)" in out, out
    assert f"picks (urls): {urls} not made yet" in out and out.count("remote feed") == 1

    # --once: makes what the bot owns, says so, and posts the feed's photo to the outbox.
    code, out = run("--once", "--config", str(newcomer))
    err = capsys.readouterr().err
    assert code == 0 and out.startswith("posted:"), out + err
    assert queue.is_dir() and urls.read_text().startswith("# One photo URL per line")
    assert f"made the folder of source inbox {queue}" in err and f"made the URL list of source picks {urls}" in err
    [meta] = [json.loads(p.read_text()) for p in (data / "outbox").glob("*.json")]
    assert "A harbour" in (data / "outbox" / "index.html").read_text() and meta["image"]

    # The folder it made is the inbox: a photo dropped there is the next dream.
    write_photo(queue / "beach.png", seed=3)
    code, out = run("--once", "--config", str(newcomer))
    assert code == 0 and out.startswith("posted:"), out + capsys.readouterr().err
    assert (queue / "done" / "beach.png").is_file()
    assert len(list((data / "outbox").glob("*.json"))) == 2
    code, out = run("check-config", "--config", str(newcomer))
    assert code == 0 and "to make:" not in out


def test_a_new_operator_logs_in_checks_online_and_posts_to_mastodon(newcomer, mock, monkeypatch, capsys):
    """The rest of issue 14's "done when": the operator's own edits are the account's (enable
    Mastodon, name the server), `login` gives the token, `check-config --online` passes and
    `--once` posts; still no folder made by hand."""
    from test_login import authorise_as

    text = newcomer.read_text(encoding="utf-8")
    text = replace_once(text, '[publishers.mastodon]\nenabled = false', '[publishers.mastodon]\nenabled = true')
    text = replace_once(text, 'api_base_url = "https://mastodon.example"', f'api_base_url = "{mock.base_url}"')
    newcomer.write_text(text, encoding="utf-8")
    monkeypatch.delenv("MASTODON_ACCESS_TOKEN", raising=False)

    code, _ = run("check-config", "--config", str(newcomer))  # the token is what is missing, and it says so
    assert code == 2 and "environment variable MASTODON_ACCESS_TOKEN is not set" in capsys.readouterr().err

    out = io.StringIO()
    login = SimpleNamespace(target="mastodon", instance=None, config=str(newcomer))
    assert run_login(login, out, ask=authorise_as("dreambot", out, {})) == 0
    token = re.search(r"^export MASTODON_ACCESS_TOKEN=(\S+)$", out.getvalue(), re.M).group(1)
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", token)

    code, out = run("check-config", "--online", "--config", str(newcomer))
    assert code == 0 and f"@dreambot on {mock.base_url}" in out and "to make:" in out, out + capsys.readouterr().err

    code, out = run("--once", "--config", str(newcomer))
    assert code == 0 and out.startswith("posted:"), out + capsys.readouterr().err
    client = mock.client("dreambot")
    [status] = client.account_statuses(client.account_lookup("dreambot")["id"])
    assert status["media_attachments"] and "A harbour" in status["content"]
    assert (newcomer.parent.parent / "queue").is_dir()
