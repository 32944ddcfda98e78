"""Choices the config file writes as strings (a feed's order, the log format) are read as the
enums the code branches on: the file is unchanged, a bad value still gets one clear line, and
the choice does what it says."""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot import cli, logs
from bot.config import ConfigError, load_config
from bot.config.sections import FeedOrder
from bot.sources import build_sources
from bot.sources.feed import FeedSource
from bot.sources.fetch import FetchPolicy
from bot_helpers import LocalServer

FOLDER = '[[sources]]\ntype = "folder"\npath = "in"\n'


def config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bot.toml"
    p.write_text(text, encoding="utf-8")
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    return [line.removeprefix(f"{path}: ") for line in info.value.problems]


def feed(dated: bool) -> bytes:
    # Items a, b, c (c the newest), listed out of date order when dated, newest first when not.
    items = [("b", 2), ("c", 3), ("a", 1)] if dated else [("c", 3), ("b", 2), ("a", 1)]
    body = "".join(f"<item><title>{t}</title><link>https://x.example/{t}</link>"
                   + (f"<pubDate>Mon, 0{d} Jan 2024 00:00:00 GMT</pubDate>" if dated else "") + "</item>"
                   for t, d in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{body}</channel></rss>'.encode()


@pytest.mark.parametrize("dated", [True, False])
@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_the_feed_order_the_config_names_is_the_order_entries_come_in(tmp_path, order, dated):
    with LocalServer() as srv:
        srv.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(dated))
        cfg = load_config(config(tmp_path, f'[fetch]\nallow_private = true\n[[sources]]\ntype = "feed"\n'
                                           f'url = "{srv.url("/feed.xml")}"\norder = "{order}"\n'), environ={})
        assert cfg.sources[0].order is FeedOrder(order)
        [src] = build_sources(cfg)
        assert isinstance(src, FeedSource) and src.order is FeedOrder(order)
        titles = [e.title for e in src.entries()[1]]
    assert titles == (["c", "b", "a"] if order == "newest" else ["a", "b", "c"])


def test_a_feed_order_it_does_not_know_is_refused(tmp_path):
    path = config(tmp_path, '[[sources]]\ntype = "feed"\nurl = "https://x.example/f"\norder = "Oldest"\n')
    assert problems(path) == ["sources[0].order: 'Oldest' is not allowed; allowed: 'newest' or 'oldest'"]
    with pytest.raises(ValueError):  # in code too: not silently neither order
        FeedSource("f", "https://x.example/f", FetchPolicy(), order="Oldest")


@pytest.mark.parametrize("fmt, flag, as_json", [("plain", False, False), ("json", False, True), ("plain", True, True)])
def test_the_log_format_the_config_names_is_the_format_lines_are_written_in(tmp_path, capsys, fmt, flag, as_json):
    path = config(tmp_path, FOLDER + f'[bot]\nlog_format = "{fmt}"\n')
    assert load_config(path, environ={}).bot.log_format is logs.LogFormat(fmt)
    try:
        assert cli.main(["status", "--config", str(path), *(["--log-json"] if flag else [])], out=io.StringIO()) == 0
        capsys.readouterr()
        logging.getLogger("bot.test").warning("a line")
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        logs.setup(logs.LogFormat.PLAIN, "INFO")
    if as_json:
        assert json.loads(line)["message"] == "a line"
    else:
        assert line.endswith("a line") and not line.startswith("{")


def test_a_log_format_it_does_not_know_is_refused(tmp_path):
    path = config(tmp_path, FOLDER + '[bot]\nlog_format = "JSON"\n')
    assert problems(path) == ["bot.log_format: 'JSON' is not allowed; allowed: 'plain' or 'json'"]
    with pytest.raises(ValueError):  # in code too: not silently plain
        logs.setup("xml", "INFO", stream=io.StringIO())
