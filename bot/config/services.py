"""The config's sections for what the bot talks to: publishers ([publishers.*]), the admin,
fetching ([fetch]), dream requests ([requests]) and the render queue ([queue]); the secrets
they name; and what every section shares (`Section`, URL and variable-name checks)."""
from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.publishers.tumblr_npf import TumblrState


class Section(BaseModel):
    # strict: TOML is typed, so "yes" for a bool or "5" for a number is a mistake worth naming.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- [publishers.*] ------------------------------------------------------------------------
class OutboxSection(Section):
    enabled: bool = True
    path: str | None = None  # default: <data_dir>/outbox


class MastodonSection(Section):
    enabled: bool = False
    api_base_url: str = "https://mastodon.example"
    access_token_env: str = "MASTODON_ACCESS_TOKEN"
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    language: str | None = None
    spoiler_text: str | None = None
    timeout: float = Field(30.0, gt=0, le=600)
    processing_wait: float = Field(60.0, gt=0, le=3600)

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @field_validator("access_token_env")
    @classmethod
    def _env(cls, v: str) -> str:
        return env_name(v)

    @field_validator("language")
    @classmethod
    def _lang(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z]{2,3}", v):
            raise ValueError("must be an ISO 639 language code such as 'en' or 'de'")
        return v


class TumblrSection(Section):
    enabled: bool = False
    blog: str = "example"
    consumer_key_env: str = "TUMBLR_CONSUMER_KEY"
    consumer_secret_env: str = "TUMBLR_CONSUMER_SECRET"
    oauth_token_env: str = "TUMBLR_OAUTH_TOKEN"
    oauth_secret_env: str = "TUMBLR_OAUTH_SECRET"
    # The file names a state by its string; the section holds the publisher's own enum.
    state: Literal[TumblrState.PUBLISHED, TumblrState.QUEUE, TumblrState.DRAFT] = TumblrState.PUBLISHED
    timeout: float = Field(30.0, gt=0, le=600)

    @field_validator("consumer_key_env", "consumer_secret_env", "oauth_token_env", "oauth_secret_env")
    @classmethod
    def _env(cls, v: str) -> str:
        return env_name(v)


class PublishersSection(Section):
    outbox: OutboxSection = Field(default_factory=OutboxSection)
    mastodon: MastodonSection = Field(default_factory=MastodonSection)
    tumblr: TumblrSection = Field(default_factory=TumblrSection)


# --- [admin], [fetch] ----------------------------------------------------------------------
class AdminSection(Section):
    account: str | None = None
    after_failures: int = Field(3, ge=1, le=1000)

    @field_validator("account")
    @classmethod
    def _acct(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"@?[A-Za-z0-9_]+(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?", v):
            raise ValueError("must be a Mastodon account such as '@me@mastodon.example'")
        return v


class FetchSection(Section):
    max_bytes: int = Field(20_000_000, ge=1024, le=500_000_000)
    connect_timeout: float = Field(10.0, gt=0, le=300)
    read_timeout: float = Field(30.0, gt=0, le=600)
    total_timeout: float = Field(120.0, gt=0, le=3600)
    max_redirects: int = Field(5, ge=0, le=20)
    allow_private: bool = False
    user_agent: str = "LucidDreamBot/0.1 (art bot; fetches one photo per post)"

    @field_validator("user_agent")
    @classmethod
    def _agent(cls, v: str) -> str:
        # What an HTTP header can carry: requests sends it as Latin-1 (an emoji was a
        # UnicodeEncodeError on every fetch) and refuses a line break or a leading space.
        sendable = all(c == "\t" or (c.isprintable() and ord(c) < 256) for c in v)
        if not sendable or v[:1].isspace():
            raise ValueError("must be one line of plain text an HTTP header can carry (Latin-1 letters, digits, "
                             "punctuation; no emoji or line breaks; not starting with a space), e.g. "
                             "'MyDreamBot/1.0 (+https://me.example)'")
        return v


# --- [requests] ----------------------------------------------------------------------------
class RequestsSection(Section):
    """Dream requests: people mention the bot on Mastodon with a photo and class names."""

    enabled: bool = False
    poll_seconds: float = Field(60.0, ge=1, le=3600)
    daily_limit: int = Field(3, ge=1, le=1000)        # per account, per UTC day
    dive_daily_limit: int = Field(1, ge=0, le=1000)   # "@bot dive goldfish" per account and day (0: none)
    dive_frames: int = Field(48, ge=2, le=1000)       # a requested dive's length ([dive] gives the rest)
    queue_cap: int = Field(20, ge=1, le=10_000)       # requests waiting, all accounts
    max_classes: int = Field(3, ge=1, le=10)
    max_per_thread: int = Field(3, ge=1, le=100)      # bot replies in one reply chain
    max_image_pixels: int = Field(40_000_000, ge=10_000, le=500_000_000)
    max_age_hours: float = Field(24.0, gt=0, le=24 * 30)
    blocked_accounts: list[str] = Field(default_factory=list)
    blocked_domains: list[str] = Field(default_factory=list)
    allow_others_public_posts: bool = False
    reply_visibility: Literal["public", "unlisted", "private", "direct"] = "unlisted"
    also_publish: bool = False
    acknowledge: bool = False
    accept_strangers: bool = True
    streaming: bool = False
    # Remix by reply (bot/requests/remix.py): a reply to one of the bot's posts, without an
    # image, dreams that post's photo again; the photo is kept remix_keep_days (0: not kept).
    remix: bool = True
    remix_daily_limit: int = Field(5, ge=0, le=1000)   # per account, per UTC day (0: none)
    remix_keep_days: float = Field(30.0, ge=0, le=3650)

    @field_validator("blocked_accounts")
    @classmethod
    def _accts(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.fullmatch(r"@?[A-Za-z0-9_.-]+(@[A-Za-z0-9.-]+)?", a):
                raise ValueError(f"{a!r} is not an account; write 'name@server.example' (or 'name' for a local one)")
        return [a.lstrip("@").lower() for a in v]

    @field_validator("blocked_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        for d in v:
            if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", d):
                raise ValueError(f"{d!r} is not a domain; write e.g. 'spam.example'")
        return [d.lower() for d in v]


# --- [queue] -------------------------------------------------------------------------------
class QueueSection(Section):
    """Rendering on a task queue: embedded (SQLite, in-process) unless `url` names a Redis."""

    url: str | None = None                    # "redis://host:6379/0": renders run on `run_bot.py worker`s
    shared_dir: str | None = None             # pictures through a folder every machine mounts
    picture_cap_mb: float = Field(16.0, gt=0, le=512)   # else pictures travel in the queue, up to this
    parallel: int = Field(1, ge=1, le=64)     # renders the bot keeps in flight (about the number of workers)
    workers: int = Field(1, ge=1, le=64)      # consumer threads (in-process, or per `worker` process)
    lease_seconds: float = Field(30.0, ge=1, le=3600)   # a worker silent this long is dead; its job goes again
    max_retries: int = Field(3, ge=0, le=20)  # transient render failures, with backoff
    retry_delay_seconds: float = Field(5.0, ge=0, le=3600)
    render_timeout_minutes: float = Field(60.0, gt=0, le=24 * 60)
    batch: int = Field(1, ge=1, le=64)        # jobs a worker dreams in one net batch (a GPU's gain; 1: one by one)
    batch_wait_seconds: float = Field(0.5, ge=0, le=60)  # how long a batch waits for companions to fill

    @model_validator(mode="after")
    def _batch_fits(self) -> "QueueSection":
        # A batch is made of jobs that consumer threads hold at once, so it needs K threads, and
        # with the embedded queue K renders in flight from the bot (workers elsewhere may be fed
        # by other bots too, so a Redis queue's parallel is the operator's call).
        k = self.batch
        if k > self.workers:
            raise ValueError(f"batch = {k} dreams up to {k} jobs together, but workers = {self.workers} "
                             f"consumer thread(s) hold only {self.workers} at a time: set workers = {k} or more "
                             "(or batch = 1)")
        if k > self.parallel and not self.url:
            raise ValueError(f"batch = {k} with the embedded queue, but the bot keeps only parallel = "
                             f"{self.parallel} render(s) in flight, so no batch ever fills: set parallel = {k} "
                             "or more (or batch = 1)")
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if not v:
            return None  # "" in the file: the embedded queue
        if not re.match(r"^rediss?://", v):
            raise ValueError("not a Redis URL; write e.g. 'redis://localhost:6379/0' (or leave it out "
                             "for the embedded queue)")
        if why := url_address_problem(v):
            raise ValueError(f"{why}; write e.g. 'redis://localhost:6379/0'")
        db = urlsplit(v).path.strip("/")
        if db and not (db.isascii() and db.isdigit()):
            # redis-py ignores a path that is no number and uses database 0 without a word.
            raise ValueError("what follows the host must be a database number such as /0 (/ ? # @ : in a "
                             "password must be percent-encoded); write e.g. 'redis://localhost:6379/0'")
        return v

    @field_validator("shared_dir")
    @classmethod
    def _dir(cls, v: str | None) -> str | None:
        return v or None  # "" in the file: pictures travel in the queue


SECRET_FIELDS = {
    "mastodon": {"access_token": "access_token_env"},
    "tumblr": {
        "consumer_key": "consumer_key_env",
        "consumer_secret": "consumer_secret_env",
        "oauth_token": "oauth_token_env",
        "oauth_secret": "oauth_secret_env",
    },
}


def http_url(v: str) -> str:
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError("must be an http:// or https:// URL")
    if why := url_address_problem(v):
        raise ValueError(why)
    if not urlsplit(v).hostname:
        raise ValueError("the URL has no host")
    return v


def url_address_problem(v: str) -> str | None:
    """Why a URL's host or port cannot be read, else None. Checked at load, because every
    client (requests, Mastodon.py, redis-py) otherwise fails on it only when it is first used,
    some with a traceback on every command that shows the URL. The message never quotes the
    URL: a password in it may be what broke it."""
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 -- reading it is the check: out of range or not a number
    except ValueError:
        return ("not a valid URL: its host or port cannot be read (the port must be a number 0-65535, an IPv6 "
                "address goes in [brackets], and / ? # @ : in a user name or password must be percent-encoded)")
    return None


_VAR_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def looks_like_variable(name: str) -> bool:
    """Whether an *_env value reads as a variable name (MASTODON_ACCESS_TOKEN) rather than a pasted
    secret: upper case words of a sensible length. Only then is it ever shown back."""
    words = name.split("_")
    return (bool(_VAR_NAME.fullmatch(name)) and len(name) <= 64 and all(len(w) <= 16 for w in words)
            and sum(c.isdigit() for c in name) <= 4)


def env_name(v: str) -> str:
    bare = v.removeprefix("$").removeprefix("{").removesuffix("}") if v.startswith("$") else v
    if bare != v and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", bare):
        # "$TOKEN" is how a shell reads a variable; here the file names it, and the bot reads it.
        shown = f": {bare}" if looks_like_variable(bare) else " (the value is not shown: it may be a secret)"
        raise ValueError(f"write the variable's name without the ${shown}")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", v):
        raise ValueError("must be the NAME of an environment variable (letters, digits, _), "
                         "not the secret itself")
    return v
