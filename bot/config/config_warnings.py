"""What `check-config` says and `run` logs as warnings: a config that loads and works, but not as
it reads (keys the bot does not use) or lets others in (SECURITY.md). Never a reason to refuse
the file."""
from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from bot.config.recipe import build_recipe
from bot.folders import data_dir_problem

if TYPE_CHECKING:
    from bot.config.sections import Config


def config_warnings(cfg: "Config") -> list[str]:
    """What `check-config` says and `run` logs as warnings: the file works, but not as it reads."""
    return security_warnings(cfg) + recipe_warnings(cfg.recipe)


def recipe_warnings(table: Mapping[str, Any]) -> list[str]:
    """[recipe] keys that load but do nothing in the bot. Warned, not refused: such files load
    today, and a recipe pasted from a picture's sidecar has them."""
    warnings = []
    if "seed" in table:
        warnings.append("recipe.seed: not used: the bot picks a new seed for each dream, so that no two are "
                        "alike; each dream's seed is in its recipe (the picture's metadata, its .json sidecar, "
                        "{seed} in a caption), and `dream PHOTO --recipe DREAM` makes that dream again; "
                        "remove seed here")
    # A still is one picture, and a dive's frames and camera are [dive]'s (DiveSection.recipe).
    warnings += [f"recipe.{key}: not used: a still is one picture, and a dive takes its {key} from [dive]; "
                 f"set dive.{key} instead and remove it here" for key in ("frames", "zoom", "rotate") if key in table]
    return warnings + _unread_by_mode(table)


def _unread_by_mode(table: Mapping[str, Any]) -> list[str]:
    """layer, guide_layer and guide where the recipe's mode does not read them."""
    try:
        recipe = build_recipe(dict(table))
    except ValueError:
        return []  # refused, and said, by recipe_problems
    # Which modes read each key (dreamer/plan.py objective_for; an octave's own layer is another key).
    reads = {"layer": ("deepdream", "guide"), "guide_layer": ("guide",), "guide": ("guide",)}
    return [f"recipe.{key}: not used with mode = {str(recipe.mode)!r}: only mode {' or '.join(map(repr, modes))} "
            f"reads it; remove it, or set the mode that uses it" for key, modes in reads.items()
            if table.get(key) and recipe.mode not in modes]


def security_warnings(cfg: "Config") -> list[str]:
    """What works but lets others in (SECURITY.md): said by `check-config` and logged by `run`,
    never a reason to refuse the config."""
    warnings = []
    if why := data_dir_problem(cfg.data_dir):
        warnings.append(f"bot.data_dir: {why}")
    if why := _outbox_holds_data(cfg):
        warnings.append(f"publishers.outbox.path: {why}")
    if cfg.queue.url and (why := redis_url_problem(cfg.queue.url)):
        warnings.append(f"queue.url: {why}")
    return warnings


def _outbox_holds_data(cfg: "Config") -> str | None:
    """A warning when the outbox (the folder meant to be served) is or holds the data folder."""
    if not cfg.publishers.outbox.enabled or not cfg.publishers.outbox.path:
        return None  # the default outbox lies inside the data folder
    outbox, data = (Path(os.path.realpath(p)) for p in (cfg.outbox_dir, cfg.data_dir))
    if not data.is_relative_to(outbox):
        return None
    return (f"the outbox {outbox} holds bot.data_dir ({data}): a web server that serves the outbox serves the "
            "database, requests and direct messages too; put the outbox in a folder of its own, or leave "
            "its path out (then it is bot.data_dir's outbox/ folder)")


def redis_url_problem(url: str) -> str | None:
    """A warning for a Redis that anyone on the network could write to, else None. Whoever
    writes to the queue can change what every worker renders and what the bot posts."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if parts.password or "password=" in parts.query or parts.scheme == "unix" or _loopback(host):
        return None
    return (f"the Redis at {host} is not on this machine and the URL has no password: anyone who can reach it "
            "can read requesters' photos and change every render. Give Redis a password (requirepass, or an "
            "ACL user) and put it in the URL (redis://:PASSWORD@host:6379/0), keep it on a private network, "
            "and use rediss:// across machines; see SECURITY.md")


def shown_url(url: str) -> str:
    """`url` with its password masked, for `status` and the logs."""
    parts = urlsplit(url)
    if "password=" in parts.query:
        parts = parts._replace(query=re.sub(r"(?<![^&])password=[^&]*", "password=***", parts.query))
    if not parts.password:
        return parts.geturl()
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}***@{parts.netloc.rpartition('@')[2]}").geturl()


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
