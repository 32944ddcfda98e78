"""The accounts side of the command line: `login mastodon|tumblr` and `check-config --online`."""
from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from bot.cli.login import LoginError, login_mastodon, login_tumblr, mastodon_scopes, tumblr_blogs

TUMBLR_KEYS = ("consumer_key", "consumer_secret", "oauth_token", "oauth_secret")


def run_login(args: Any, out: TextIO, ask: Callable[[str], str] = input,
              environ: dict[str, str] | None = None) -> int:
    """`run_bot.py login mastodon --instance URL` or `run_bot.py login tumblr`."""
    import os

    from bot.config import MastodonSection, RequestsSection, TumblrSection

    environ = dict(os.environ) if environ is None else environ
    if args.target not in ("mastodon", "tumblr"):
        print("run_bot.py login: say which: `login mastodon --instance https://your.server` or "
              "`login tumblr`", file=sys.stderr)
        return 2
    mastodon, tumblr, requests_ = MastodonSection(), TumblrSection(), RequestsSection()
    cfg = _config_if_any(args.config)
    if cfg is not None:  # its variable names, instance and features decide; else the defaults
        mastodon, tumblr, requests_ = cfg.publishers.mastodon, cfg.publishers.tumblr, cfg.requests
    try:
        if args.target == "mastodon":
            instance = args.instance or (mastodon.api_base_url if cfg is not None and
                                         mastodon.api_base_url != MastodonSection().api_base_url else None)
            if not instance:
                print("run_bot.py login mastodon: which server? Add --instance https://your.server "
                      "(or set [publishers.mastodon] api_base_url in the config)", file=sys.stderr)
                return 2
            login_mastodon(instance, scopes=mastodon_scopes(requests_.enabled),
                           env_name=mastodon.access_token_env, ask=ask, out=out)
        else:
            names = {k: getattr(tumblr, f"{k}_env") for k in TUMBLR_KEYS}
            key = environ.get(names["consumer_key"]) or ask(
                "The app's OAuth consumer key (register an app at https://www.tumblr.com/oauth/apps): ").strip()
            secret = environ.get(names["consumer_secret"]) or ask("Its secret key: ").strip()
            if not key or not secret:
                print("run_bot.py login tumblr: the app's consumer key and secret are needed", file=sys.stderr)
                return 2
            login_tumblr(key, secret, env_names=names, ask=ask, out=out)
    except (LoginError, ImportError) as exc:  # ImportError: the [tumblr] extra is missing
        print(f"run_bot.py login {args.target}: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print(f"\nrun_bot.py login {args.target}: stopped; nothing was saved", file=sys.stderr)
        return 1
    return 0


def _config_if_any(path: str):
    from pathlib import Path

    from bot.config import ConfigError, load_config

    if not Path(path).is_file():
        return None
    try:
        return load_config(path, need_secrets=False)
    except ConfigError:
        return None


def check_online(cfg: Any, out: TextIO) -> list[str]:
    """Talk to each enabled platform with the configured credentials: print the account, the
    server's limits, the Tumblr blog; return one line per problem."""
    problems: list[str] = []
    p = cfg.publishers
    if p.mastodon.enabled:
        problems += _check_mastodon(cfg, out)
    if p.tumblr.enabled:
        problems += _check_tumblr(cfg, out)
    if not (p.mastodon.enabled or p.tumblr.enabled):
        print("  online:     no account to check (only the outbox is enabled)", file=out)
    return problems


def _check_mastodon(cfg: Any, out: TextIO) -> list[str]:
    from mastodon import Mastodon, MastodonError

    from bot.publishers.base import PublishError
    from bot.publishers.mastodon_api import MastodonApi

    m = cfg.publishers.mastodon
    token = cfg.secret("mastodon.access_token")
    try:
        me = Mastodon(access_token=token, api_base_url=m.api_base_url, version_check_mode="none",
                      request_timeout=m.timeout).account_verify_credentials()
    except MastodonError as exc:
        return [f"mastodon: {m.api_base_url} does not accept the token in ${m.access_token_env} "
                f"({type(exc).__name__}: {str(exc)[:200]}); run `run_bot.py login mastodon`"]
    print(f"  mastodon:   @{me['acct']} on {m.api_base_url}"
          + ("" if me.get("bot") else " (not yet marked as a bot: the first post marks it)"), file=out)
    try:
        limits = MastodonApi(m.api_base_url, token, timeout=m.timeout).limits()
    except PublishError as exc:
        return [f"mastodon: cannot read the server's limits: {exc}"]
    print(f"  limits:     {limits.max_characters} characters, {limits.max_media_attachments} images, "
          f"alt text {limits.description_limit} characters, images up to "
          f"{limits.image_size_limit / 1e6:.0f} MB and {limits.image_matrix_limit / 1e6:.1f} MP", file=out)
    return []


def _check_tumblr(cfg: Any, out: TextIO) -> list[str]:
    from bot.publishers.tumblr_wire import blog_identifier

    t = cfg.publishers.tumblr
    try:
        blogs = tumblr_blogs(*(cfg.secret(f"tumblr.{k}") for k in TUMBLR_KEYS), timeout=t.timeout)
    except ImportError as exc:  # the [tumblr] extra is missing
        return [f"tumblr: {exc}"]
    except LoginError as exc:
        return [f"tumblr: {exc}; run `run_bot.py login tumblr`"]
    def norm(blog: str) -> str:
        return blog_identifier(blog).removesuffix(".tumblr.com")

    if norm(t.blog) not in {norm(b) for b in blogs}:
        return [f"tumblr: this account cannot post to the blog {t.blog!r}; its blogs: "
                f"{', '.join(blogs) or '(none)'}"]
    print(f"  tumblr:     can post to {t.blog} (state {t.state})", file=out)
    return []
