"""The data folder is the bot's user's alone (issue 27, finding 6): it holds the database with
requests and direct messages (their JSON), requesters' photos in the queue and their dreams.
Made by the bot, the folder is 0700 and those files 0600 whatever the umask; an existing
folder open to others is reported by check-config."""
from __future__ import annotations

import io
import os
import random
import stat

import pytest

from bot import cli, queue
from bot.folders import make_missing
from bot.requests.worker import build_worker
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures
from requests_helpers import SEED, ask, fake_render, load, request_config

server, mock = mastodon_mock_fixtures(SEED)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    yield
    os.umask(old)


def test_what_the_bot_makes_in_its_data_folder_is_its_users_alone(tmp_path, mock, open_umask):
    cfg = load(request_config(tmp_path, mock))
    made = make_missing(cfg.model_dump(), cfg.path)  # what `run` does first
    assert cfg.data_dir in [o.path for o in made]
    store = Store(cfg.data_dir / "bot.db")
    worker = build_worker(cfg, store, render=fake_render)
    worker.rng = random.Random(5)
    ask(mock, "ann", "goldfish please", visibility="direct")
    assert worker.tick().answered == 1
    queue.RenderQueue.from_config(cfg)  # the embedded queue keeps requesters' photos in queue.db
    assert mode(cfg.data_dir) == 0o700
    private = [cfg.data_dir / n for n in ("bot.db", "bot.db-wal", "bot.db-shm", "queue.db")]
    dreams = list((cfg.data_dir / "requests").iterdir())
    assert dreams and mode(cfg.data_dir / "requests") == 0o700
    for path in private + dreams:
        assert mode(path) == 0o600, f"{path.name} is {mode(path):o}"
    store.close()


def test_a_store_in_a_new_folder_makes_it_private(tmp_path, open_umask):
    store = Store(tmp_path / "fresh" / "deeper" / "bot.db")
    assert mode(tmp_path / "fresh" / "deeper") == 0o700 and mode(tmp_path / "fresh" / "deeper" / "bot.db") == 0o600
    store.close()
    loose = tmp_path / "old"
    loose.mkdir()
    (loose / "bot.db").touch(mode=0o644)  # an older bot's database, made with the umask
    Store(loose / "bot.db").close()
    assert mode(loose / "bot.db") == 0o600


def test_check_config_says_when_the_data_folder_is_open_to_others(tmp_path, open_umask):
    from bot_helpers import tiny_config

    path = tiny_config(tmp_path)
    (tmp_path / "data").mkdir(mode=0o755)
    out = io.StringIO()
    assert cli.main(["check-config", "--config", str(path)], out=out) == 0
    assert f"chmod 700 {tmp_path / 'data'}" in out.getvalue(), out.getvalue()
    os.chmod(tmp_path / "data", 0o700)
    out = io.StringIO()
    assert cli.main(["check-config", "--config", str(path)], out=out) == 0
    assert "chmod" not in out.getvalue()
