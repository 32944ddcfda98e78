"""The bot's TOML config: a pydantic schema, and errors an operator can act on.

`load_config(path)` returns a validated `Config` or raises `ConfigError` whose message has one
line per problem: file, dotted key, what is wrong, what is allowed. Secrets never live in the
file: the file names environment variables (`access_token_env = "MASTODON_ACCESS_TOKEN"`) and the
values are read from the environment at load time, kept as `SecretStr`.
Relative paths in the file are relative to the file's own folder, so the bot behaves the same
whatever directory it is started from.
"""
from __future__ import annotations

import os
import re
import string
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot import config_check

# Fields a caption/alt template may use; anything else in braces is an error at load time
# (str.format can reach attributes, so only plain names are allowed).
CAPTION_FIELDS = (
    "bot", "classes", "classes_words", "title", "author", "link", "licence", "credit",
    "note", "hashtags", "description", "model", "seed",
)

DEFAULT_CAPTION = "{classes}\n\n{credit}\n\n{note}\n\n{hashtags}"
DEFAULT_ALT = (
    "Machine-made picture: a neural network dreamt {classes_words} into {description}; "
    "their shapes and textures show all over the scene."
)
DEFAULT_NOTE = "Machine-made: a neural net dreamt these creatures into the photo. Not a real scene."


class ConfigError(Exception):
    """The config cannot be used. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        from bot.logs import one_line

        self.problems = [one_line(p) for p in problems]  # a value's line break cannot split a line
        problems = self.problems
        head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the config:"
        super().__init__("\n".join([head, *("  " + p for p in problems)]))


class _Section(BaseModel):
    # strict: TOML is typed, so "yes" for a bool or "5" for a number is a mistake worth naming.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- [bot] ---------------------------------------------------------------------------------
class BotSection(_Section):
    name: str = Field("Lucid Dream Bot", min_length=1, max_length=100)
    data_dir: str = "data"
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_attempts: int = Field(5, ge=1, le=100)
    reload_check_seconds: float = Field(5.0, ge=0, le=3600)
    crash_limit: int = Field(8, ge=2, le=1000)         # the same item killing the bot this often: set aside
    retry_seconds: float = Field(60.0, gt=0, le=3600)  # first wait after a transient failure, doubling...
    retry_max_minutes: float = Field(60.0, gt=0, le=24 * 60)  # ...up to this


# --- [schedule] ----------------------------------------------------------------------------
class ScheduleSection(_Section):
    cron: str | None = None
    interval_minutes: float | None = Field(None, gt=0, le=525_600)
    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(600, ge=1, le=31_536_000)  # a year: beyond, time arithmetic
    coalesce: bool = True                                            # overflows
    jitter_seconds: int = Field(0, ge=0, le=31_536_000)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from bot.cron import crontab_trigger

        try:
            crontab_trigger(v, "UTC")
        except ValueError as exc:
            raise ValueError(
                f"not a crontab expression ({exc}); use 5 fields 'minute hour day month weekday', "
                "e.g. '0 */4 * * *'"
            ) from None
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except (ValueError, KeyError):
            raise ValueError("unknown time zone; use an IANA name such as 'UTC' or 'Europe/Paris'") from None
        return v

    @model_validator(mode="after")
    def _one_trigger(self) -> "ScheduleSection":
        if (self.cron is None) == (self.interval_minutes is None):
            raise ValueError("set exactly one of cron or interval_minutes")
        return self


# --- [[sources]] ---------------------------------------------------------------------------
class _CreditDefaults(_Section):
    name: str | None = Field(None, min_length=1, max_length=60)
    title: str | None = None
    author: str | None = None
    link: str | None = None
    licence: str | None = None


class FolderSource(_CreditDefaults):
    type: Literal["folder"]
    path: str
    # false: leave files where they are (the store still never dreams one twice)
    consume: bool = True
    settle_seconds: float = Field(5.0, ge=0, le=86_400)


class FeedSource(_CreditDefaults):
    type: Literal["feed"]
    url: str
    order: Literal["newest", "oldest"] = "newest"
    max_tries: int = Field(5, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class UrlsSource(_CreditDefaults):
    type: Literal["urls"]
    path: str
    max_tries: int = Field(5, ge=1, le=100)


SourceSection = Annotated[Union[FolderSource, FeedSource, UrlsSource], Field(discriminator="type")]


# --- [picker] ------------------------------------------------------------------------------
class PickerSection(_Section):
    min_classes: int = Field(1, ge=1, le=10)
    max_classes: int = Field(3, ge=1, le=10)
    weight_min: float = Field(1.0, gt=0, le=100)
    weight_max: float = Field(1.0, gt=0, le=100)
    allow: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    no_repeat: int = Field(50, ge=0, le=100_000)

    @model_validator(mode="after")
    def _ranges(self) -> "PickerSection":
        if self.min_classes > self.max_classes:
            raise ValueError(f"min_classes ({self.min_classes}) is above max_classes ({self.max_classes})")
        if self.weight_min > self.weight_max:
            raise ValueError(f"weight_min ({self.weight_min}) is above weight_max ({self.weight_max})")
        return self


# --- [caption] -----------------------------------------------------------------------------
class CaptionSection(_Section):
    template: str = DEFAULT_CAPTION
    alt_template: str = DEFAULT_ALT
    note: str = DEFAULT_NOTE
    hashtags: list[str] = Field(default_factory=lambda: ["deepdream", "lucidDream", "botArt"])

    @field_validator("template", "alt_template")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            parsed = list(string.Formatter().parse(v))
        except ValueError as exc:
            raise ValueError(f"not a valid template ({exc}); write fields as {{name}} and a literal brace as {{{{") from None
        for _, field, spec, conv in parsed:
            if field is None:
                continue
            if field not in CAPTION_FIELDS or spec or conv:
                raise ValueError(
                    f"unknown field {{{field}}}; allowed fields: "
                    + ", ".join("{" + f + "}" for f in CAPTION_FIELDS)
                )
        return v

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not tag.strip("# "):
                raise ValueError("hashtags must be non-empty words, e.g. ['deepdream', 'botArt']")
        return v


# --- [publishers.*] ------------------------------------------------------------------------
class OutboxSection(_Section):
    enabled: bool = True
    path: str | None = None  # default: <data_dir>/outbox


class MastodonSection(_Section):
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
        return _http_url(v)

    @field_validator("access_token_env")
    @classmethod
    def _env(cls, v: str) -> str:
        return _env_name(v)

    @field_validator("language")
    @classmethod
    def _lang(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z]{2,3}", v):
            raise ValueError("must be an ISO 639 language code such as 'en' or 'de'")
        return v


class TumblrSection(_Section):
    enabled: bool = False
    blog: str = "example"
    consumer_key_env: str = "TUMBLR_CONSUMER_KEY"
    consumer_secret_env: str = "TUMBLR_CONSUMER_SECRET"
    oauth_token_env: str = "TUMBLR_OAUTH_TOKEN"
    oauth_secret_env: str = "TUMBLR_OAUTH_SECRET"
    state: Literal["published", "queue", "draft"] = "published"
    timeout: float = Field(30.0, gt=0, le=600)

    @field_validator("consumer_key_env", "consumer_secret_env", "oauth_token_env", "oauth_secret_env")
    @classmethod
    def _env(cls, v: str) -> str:
        return _env_name(v)


class PublishersSection(_Section):
    outbox: OutboxSection = Field(default_factory=OutboxSection)
    mastodon: MastodonSection = Field(default_factory=MastodonSection)
    tumblr: TumblrSection = Field(default_factory=TumblrSection)


# --- [admin], [fetch] ----------------------------------------------------------------------
class AdminSection(_Section):
    account: str | None = None
    after_failures: int = Field(3, ge=1, le=1000)

    @field_validator("account")
    @classmethod
    def _acct(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"@?[A-Za-z0-9_]+(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?", v):
            raise ValueError("must be a Mastodon account such as '@me@mastodon.example'")
        return v


class FetchSection(_Section):
    max_bytes: int = Field(20_000_000, ge=1024, le=500_000_000)
    connect_timeout: float = Field(10.0, gt=0, le=300)
    read_timeout: float = Field(30.0, gt=0, le=600)
    total_timeout: float = Field(120.0, gt=0, le=3600)
    max_redirects: int = Field(5, ge=0, le=20)
    allow_private: bool = False
    user_agent: str = "LucidDreamBot/0.1 (art bot; fetches one photo per post)"


# --- [requests] ----------------------------------------------------------------------------
class RequestsSection(_Section):
    """Dream requests: people mention the bot on Mastodon with a photo and class names."""

    enabled: bool = False
    poll_seconds: float = Field(60.0, ge=1, le=3600)
    daily_limit: int = Field(3, ge=1, le=1000)        # per account, per UTC day
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
class QueueSection(_Section):
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

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if not v:
            return None  # "" in the file: the embedded queue
        if not re.match(r"^rediss?://", v):
            raise ValueError(f"{v!r} is not a Redis URL; write e.g. 'redis://localhost:6379/0' (or leave it out "
                             "for the embedded queue)")
        return v

    @field_validator("shared_dir")
    @classmethod
    def _dir(cls, v: str | None) -> str | None:
        return v or None  # "" in the file: pictures travel in the queue


# --- the whole file ------------------------------------------------------------------------
class Config(_Section):
    bot: BotSection = Field(default_factory=BotSection)
    schedule: ScheduleSection = Field(default_factory=lambda: ScheduleSection(interval_minutes=240))
    sources: list[SourceSection] = Field(min_length=1)
    picker: PickerSection = Field(default_factory=PickerSection)
    recipe: dict[str, Any] = Field(default_factory=dict)
    caption: CaptionSection = Field(default_factory=CaptionSection)
    publishers: PublishersSection = Field(default_factory=PublishersSection)
    admin: AdminSection = Field(default_factory=AdminSection)
    fetch: FetchSection = Field(default_factory=FetchSection)
    requests: RequestsSection = Field(default_factory=RequestsSection)
    queue: QueueSection = Field(default_factory=QueueSection)

    _path: Path = PrivateAttr(default=Path("config.toml"))
    _secrets: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    # --- derived values ---------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    def resolve(self, p: str) -> Path:
        """A path from the file, relative to the file's folder."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (self._path.parent / q).resolve()

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.bot.data_dir)

    @property
    def outbox_dir(self) -> Path:
        p = self.publishers.outbox.path
        return self.resolve(p) if p else self.data_dir / "outbox"

    def source_names(self) -> list[str]:
        return [s.name or f"{s.type}-{i + 1}" for i, s in enumerate(self.sources)]

    def base_recipe(self):  # -> dreamer.Recipe (import kept lazy: dreamer is heavy-ish)
        return _build_recipe(self.recipe)

    def secret(self, key: str) -> str:
        """A resolved secret, e.g. 'mastodon.access_token'; KeyError if it was not loaded."""
        return self._secrets[key].get_secret_value()

    def secret_values(self) -> list[str]:
        return [s.get_secret_value() for s in self._secrets.values() if s.get_secret_value()]

    def enabled_publishers(self) -> list[str]:
        return [n for n in ("outbox", "mastodon", "tumblr") if getattr(self.publishers, n).enabled]


SECRET_FIELDS = {
    "mastodon": {"access_token": "access_token_env"},
    "tumblr": {
        "consumer_key": "consumer_key_env",
        "consumer_secret": "consumer_secret_env",
        "oauth_token": "oauth_token_env",
        "oauth_secret": "oauth_secret_env",
    },
}


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    need_secrets: bool = True,
) -> Config:
    """Read, validate and resolve a config file. `need_secrets=False` (dry runs, which post
    only to the outbox) skips reading the publishers' environment variables."""
    p = Path(path)
    where = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{where}: file not found; copy config/example.toml and edit it, "
                           "or try config/demo.toml"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{where}: cannot read the file: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{where}: not valid TOML: {exc}"]) from None
    return config_from_dict(data, path=p, environ=environ, need_secrets=need_secrets)


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
        lines = _pydantic_problems(exc, data) + config_check.without_schema(data, path, env)
        raise ConfigError([f"{where}: {line}" for line in dict.fromkeys(lines)]) from None
    cfg._path = path.resolve()
    problems = config_check.after_schema(cfg, data)
    if need_secrets:
        problems += config_check.load_secrets(cfg, os.environ if environ is None else environ)
    if problems:
        raise ConfigError([f"{where}: {line}" for line in problems])
    return cfg


# --- the recipe table ----------------------------------------------------------------------
def _build_recipe(table: dict[str, Any]):
    from dreamer.recipe import Recipe

    data = dict(table)
    preset = data.pop("preset", None)
    if preset is not None:
        try:
            from dreamer.presets import get_preset  # presets land later; a clear error until then
        except ImportError:
            raise ValueError(f"recipe: preset = {preset!r}: presets are not available in this version; "
                             "write the recipe settings in the [recipe] table") from None
        if not isinstance(preset, str):
            raise ValueError(f"recipe: preset = {preset!r}: must be a preset name such as 'subtle'")
        base = get_preset(preset).to_dict()
        base.pop("classes", None)
        data = {**base, **data}
    return Recipe.from_dict(data)


def _recipe_problem(message: str) -> str:
    # RecipeError says "recipe: key = value: what"; turn it into "recipe.key: what".
    m = re.match(r"^recipe: (\w+(?:\[\d+\])?(?:\.\w+)?) = (.*?): (.*)$", message)
    if m:
        return f"recipe.{m.group(1)}: {m.group(3)} (got {m.group(2)})"
    return message if message.startswith("recipe") else f"recipe: {message}"


# --- pydantic errors -> one line each ------------------------------------------------------
def _pydantic_problems(exc: ValidationError, data: Any) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = _strip_tags(err["loc"])
        key = _dotted(loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            lines.append(f"{key}: unknown key; allowed here: {', '.join(allowed) or '(none)'}")
        elif kind == "missing":
            lines.append(f"{key}: required key is missing")
        elif kind in ("union_tag_not_found", "union_tag_invalid"):
            got = f" (got {err['input'].get('type')!r})" if isinstance(err["input"], dict) and "type" in err["input"] else ""
            lines.append(f"{key}.type: unknown or missing source type{got}; allowed: 'folder', 'feed', 'urls'")
        elif kind == "literal_error":
            lines.append(f"{key}: {err['input']!r} is not allowed; allowed: {err['ctx']['expected']}")
        else:
            msg = err["msg"]
            for prefix in ("Value error, ", "Assertion failed, "):
                msg = msg.removeprefix(prefix)
            msg = msg.replace("Input should be", "must be").replace("Input", "value")
            shown = err.get("input")
            # An *_env key may hold a pasted secret by mistake: never echo it back.
            hide = isinstance(shown, (dict, list)) or str(loc[-1] if loc else "").endswith("_env")
            got = "" if hide else f" (got {shown!r})"
            lines.append(f"{key}: {msg}{got}")
    return lines


def _strip_tags(loc: tuple) -> tuple:
    # A discriminated union puts the tag in the location: sources.0.folder.path -> sources[0].path
    out = []
    for i, part in enumerate(loc):
        if part in ("folder", "feed", "urls") and i > 0 and isinstance(loc[i - 1], int):
            continue
        out.append(part)
    return tuple(out)


def _dotted(loc: tuple) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s


def _allowed_keys(loc: tuple) -> list[str]:
    """The keys a table at `loc` (pydantic's location, source tags included) may have."""
    tagged = {"folder": FolderSource, "feed": FeedSource, "urls": UrlsSource}
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        if part in tagged and not (isinstance(model, type) and issubclass(model, BaseModel)):
            model = tagged[part]  # the source type the table says it is
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = _model_of(model.model_fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_of(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is list:
        return _model_of(typing.get_args(annotation)[0])
    if origin is Annotated:
        return _model_of(typing.get_args(annotation)[0])
    return annotation


def _http_url(v: str) -> str:
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError("must be an http:// or https:// URL")
    return v


def _env_name(v: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", v):
        raise ValueError("must be the NAME of an environment variable (letters, digits, _), "
                         "not the secret itself")
    return v


from bot.dryrun import only_outbox  # noqa: E402,F401  (its home moved; imported from here too)
