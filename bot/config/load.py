"""The bot's TOML config: loading a file into a validated `Config`, with errors an operator can act on.

`load_config(path)` returns a validated `Config` or raises `ConfigError` whose message has one
line per problem: file, dotted key, what is wrong, what is allowed. Secrets never live in the
file: the file names environment variables (`access_token_env = "MASTODON_ACCESS_TOKEN"`) and the
values are read from the environment at load time, kept as `SecretStr`.
Relative paths in the file are relative to the file's own folder, so the bot behaves the same
whatever directory it is started from.

The sections themselves are bot/config/sections.py and bot/config/services.py (re-exported
by the package), the [recipe] table bot/config/recipe.py, the error lines bot/config/errors.py, and the
checks across sections and outside the file bot/config/check.py.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from bot.config import check as config_check
from bot.config.errors import ConfigError, pydantic_problems
from bot.config.sections import Config
from bot.logs import one_line


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    need_secrets: bool = True,
) -> Config:
    """Read, validate and resolve a config file. `need_secrets=False` (dry runs, which post
    only to the outbox) skips reading the publishers' environment variables."""
    p = Path(path)
    return config_from_dict(read_toml(p), path=p, environ=environ, need_secrets=need_secrets)


def read_toml(path: Path) -> dict[str, Any]:
    """The file's table; ConfigError (one line) when it cannot be read or is not TOML."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{where}: file not found; copy config/example.toml and edit it, "
                           "or try config/demo.toml"]) from None
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read the file: {exc}"]) from None
    try:
        # utf-8-sig: a BOM (Windows editors write one) is no TOML, and no reason to refuse the file.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # "Unicode" in Windows editors
            what = "is UTF-16 text"
        else:
            line = raw[:exc.start].count(b"\n") + 1
            what = f"is not UTF-8 text (line {line} has a character in another encoding)"
        raise ConfigError([f"{where}: the file {what}; save it as UTF-8 (the editor's 'Save as' encoding)"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{where}: not valid TOML: {exc}"]) from None
    except RecursionError:  # tomllib parses nested arrays and tables by recursion
        raise ConfigError([f"{where}: not valid TOML for this bot: a value is nested too deeply "
                           "(arrays or tables inside each other hundreds of times)"]) from None


def config_from_dict(
    data: dict[str, Any],
    *,
    path: Path,
    environ: Mapping[str, str] | None = None,
    need_secrets: bool = True,
) -> Config:
    where = str(path)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        # Also report what can be checked in the sections that did validate, so one run
        # lists every problem instead of one batch at a time.
        env = (os.environ if environ is None else environ) if need_secrets else None
        lines = pydantic_problems(exc, data) + config_check.without_schema(data, path, env)
        raise ConfigError([f"{where}: {line}" for line in dict.fromkeys(lines)]) from None
    cfg._path = path.resolve()
    problems = config_check.after_schema(cfg, data)
    if need_secrets:
        problems += config_check.load_secrets(cfg, os.environ if environ is None else environ)
    if problems:
        raise ConfigError([f"{where}: {line}" for line in problems])
    return cfg


def check_file(path: str | Path, *, need_secrets: bool = True,
               environ: Mapping[str, str] | None = None) -> tuple["Config | None", list[str]]:
    """`check-config`: the config (None if unusable) and every problem, the file's and the
    environment's, each line starting with the file's name."""
    where = str(Path(path))
    try:
        data: dict[str, Any] | None = read_toml(Path(path))
    except ConfigError:
        data = None  # load_config says what is wrong with the file
    try:
        cfg, problems = load_config(path, need_secrets=need_secrets, environ=environ), []
    except ConfigError as exc:
        cfg, problems = None, list(exc.problems)
    if data is not None:
        problems += [one_line(f"{where}: {line}") for line in config_check.environment_problems(data, Path(path))]
    return cfg, list(dict.fromkeys(problems))
