"""`run_bot.py login mastodon|tumblr`: get the bot's credentials without reading API docs.

Mastodon: register an app on the instance (Mastodon.py), ask for the smallest scopes the config
needs, send the operator to the authorisation page and take the code it shows. Tumblr: OAuth1's
three legs with requests-oauthlib (request token, the operator authorises in a browser, access
token). Both end by checking the credentials and printing the `export` lines for the variables
the config names; nothing is written to disk.
"""
from __future__ import annotations

import shlex
from typing import Any, Callable, TextIO
from urllib.parse import urlsplit

from bot.config.services import http_url

OOB = "urn:ietf:wg:oauth:2.0:oob"  # Mastodon shows the code on the page instead of redirecting
APP_NAME = "Lucid Dream Bot"
APP_WEBSITE = "https://github.com/lucid-dream-bot"
TUMBLR_OAUTH = "https://www.tumblr.com/oauth"
TUMBLR_API = "https://api.tumblr.com/v2"

# What posting needs: the bot's own account (read, and its bot flag), media and statuses.
BASE_SCOPES = ("read:accounts", "write:accounts", "write:media", "write:statuses")
# Dream requests also read mentions and the posts they answer, and accept strangers' mentions.
REQUEST_SCOPES = ("read:notifications", "read:statuses", "write:notifications")


class LoginError(Exception):
    """The login could not finish; the message says why and what to try."""


def mastodon_scopes(requests_enabled: bool) -> list[str]:
    return sorted(BASE_SCOPES + (REQUEST_SCOPES if requests_enabled else ()))


def login_mastodon(instance: str, *, scopes: list[str], env_name: str, ask: Callable[[str], str],
                   out: TextIO, timeout: float = 30) -> str:
    """The access token for the account the operator authorises on `instance`."""
    from mastodon import Mastodon, MastodonError

    instance = instance.rstrip("/")
    if not instance.startswith(("https://", "http://")):
        instance = "https://" + instance
    try:
        http_url(instance)  # the config's own check: an unclosed [ or a bad port was a traceback
    except ValueError as exc:
        raise LoginError(f"{instance} is not a server address: {exc}") from None
    # OAuth over plain http only to this machine (a test server); anywhere else it must be https.
    local = urlsplit(instance).hostname in ("127.0.0.1", "localhost", "::1")
    try:
        client_id, client_secret = Mastodon.create_app(
            APP_NAME, scopes=scopes, redirect_uris=OOB, website=APP_WEBSITE, api_base_url=instance,
            request_timeout=timeout)
        app = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=instance,
                       version_check_mode="none", request_timeout=timeout)
        url = app.auth_request_url(scopes=scopes, redirect_uris=OOB, allow_http=local)
    except MastodonError as exc:
        raise LoginError(f"cannot register the app on {instance}: {exc}") from None
    print(f"1. Open this link, log in as the bot's account and allow access ({' '.join(scopes)}):",
          file=out)
    print(f"   {url}", file=out)
    code = ask("2. Paste the authorisation code it shows: ").strip()
    if not code:
        raise LoginError("no code given; run login again when you have it")
    try:
        token = app.log_in(code=code, redirect_uri=OOB, scopes=scopes, allow_http=local)
        me = Mastodon(access_token=token, api_base_url=instance, version_check_mode="none",
                      request_timeout=timeout).account_verify_credentials()
    except MastodonError as exc:
        raise LoginError(f"{instance} did not accept the code: {exc}") from None
    print(f"Logged in as @{me['acct']} on {instance}. Put this in the bot's environment "
          "(and never in the config file):", file=out)
    print(f"export {env_name}={shlex.quote(token)}", file=out)
    return token


def login_tumblr(consumer_key: str, consumer_secret: str, *, env_names: dict[str, str],
                 ask: Callable[[str], str], out: TextIO, callback: str = "https://localhost/",
                 timeout: float = 30) -> tuple[str, str]:
    """(oauth_token, oauth_secret) for the Tumblr account the operator authorises."""
    from bot.extras import require

    oauth = require("requests_oauthlib", "tumblr")
    session = oauth.OAuth1Session(consumer_key, client_secret=consumer_secret, callback_uri=callback)
    try:
        session.fetch_request_token(f"{TUMBLR_OAUTH}/request_token", timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - oauthlib, requests and Tumblr each raise their own
        raise LoginError(f"Tumblr refused the app's keys ({_why(exc)}); check the consumer key and "
                         "secret at https://www.tumblr.com/oauth/apps") from None
    print("1. Open this link, log in as the blog's owner and allow access:", file=out)
    print(f"   {session.authorization_url(f'{TUMBLR_OAUTH}/authorize')}", file=out)
    answer = ask("2. Tumblr then sends the browser to the app's callback address (it may show an "
                 "error page). Paste that whole address from the address bar: ").strip()
    try:
        session.parse_authorization_response(answer)
        tokens = session.fetch_access_token(f"{TUMBLR_OAUTH}/access_token", timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        raise LoginError(f"Tumblr did not accept the authorisation ({_why(exc)}); paste the whole "
                         "address, with its oauth_verifier") from None
    token, secret = tokens["oauth_token"], tokens["oauth_token_secret"]
    blogs = tumblr_blogs(consumer_key, consumer_secret, token, secret, timeout=timeout)
    print(f"Logged in; this account can post to: {', '.join(blogs) or '(no blogs)'}. Put this in "
          "the bot's environment (and never in the config file):", file=out)
    for key, value in (("consumer_key", consumer_key), ("consumer_secret", consumer_secret),
                       ("oauth_token", token), ("oauth_secret", secret)):
        print(f"export {env_names[key]}={shlex.quote(value)}", file=out)
    return token, secret


def tumblr_blogs(consumer_key: str, consumer_secret: str, token: str, secret: str, *,
                 timeout: float = 30) -> list[str]:
    """The names of the blogs the account behind these credentials can post to."""
    import requests

    from bot.extras import require

    auth = require("requests_oauthlib", "tumblr").OAuth1(consumer_key, consumer_secret, token, secret)
    try:
        resp = requests.get(f"{TUMBLR_API}/user/info", auth=auth, timeout=timeout)
        body: Any = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise LoginError(f"cannot read the Tumblr account: {_why(exc)}") from None
    if resp.status_code != 200:
        msg = (body.get("meta") or {}).get("msg") if isinstance(body, dict) else None
        raise LoginError(f"Tumblr answered {resp.status_code} {msg or ''} for the account".strip())
    user = ((body.get("response") or {}).get("user") or {}) if isinstance(body, dict) else {}
    return [str(b.get("name")) for b in user.get("blogs") or [] if isinstance(b, dict) and b.get("name")]


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
