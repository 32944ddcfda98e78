"""check-config on what works but lets others in (issue 27, SECURITY.md): a Redis queue with no
password that is not on this machine is warned about (whoever writes to it changes what the
workers render and the bot posts); a Redis password never shows in `status` or the logs."""
from __future__ import annotations

import io
import logging

import pytest

from bot import cli, logs
from bot.config import load_config
from bot_helpers import tiny_config


def _check(tmp_path, url: str) -> str:
    path = tiny_config(tmp_path, extra=f'[queue]\nurl = "{url}"\n')
    (tmp_path / "data").mkdir(mode=0o700, exist_ok=True)
    out = io.StringIO()
    assert cli.main(["check-config", "--config", str(path)], out=out) == 0  # a warning, not a refusal
    return out.getvalue()


@pytest.mark.parametrize("url", ["redis://redis-host:6379/0", "rediss://10.0.0.7:6380/1", "redis://[2001:db8::1]/0"])
def test_a_redis_without_password_off_this_machine_is_warned_about(tmp_path, url):
    text = _check(tmp_path, url)
    assert "warning:    queue.url:" in text and "requirepass" in text and "rediss://" in text, text


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "redis://127.0.0.1:6379/0", "redis://[::1]/0",
                                 "redis://:s3cret-pass@redis-host:6379/0", "rediss://bot:s3cret-pass@10.0.0.7/0",
                                 "redis://redis-host:6379/0?password=s3cret-pass"])
def test_a_redis_with_a_password_or_on_loopback_is_not(tmp_path, url):
    text = _check(tmp_path, url)
    assert "queue.url" not in text and "s3cret-pass" not in text, text


def test_the_redis_password_never_shows_in_status_or_the_logs(tmp_path, caplog, capsys):
    path = tiny_config(tmp_path, extra='[queue]\nurl = "redis://:s3cret-pass@127.0.0.1:1/0"\n')
    cfg = load_config(path, need_secrets=False)
    assert "s3cret-pass" in cfg.secret_values()
    out = io.StringIO()
    assert cli.main(["status", "--config", str(path)], out=out) == 0
    assert "redis://:***@127.0.0.1:1/0" in out.getvalue() and "s3cret-pass" not in out.getvalue()
    logs.add_secrets(cfg.secret_values())
    assert "s3cret-pass" not in logs.redact("cannot reach redis://:s3cret-pass@127.0.0.1:1/0")
    caplog.set_level(logging.INFO)
    assert cli.main(["worker", "--config", str(path)], out=io.StringIO()) == 1  # nothing listens on port 1
    err = capsys.readouterr().err
    assert "cannot reach the queue at redis://:***@127.0.0.1:1/0" in err, err
    assert "s3cret-pass" not in err + caplog.text
