"""Config errors an operator can act on: `ConfigError` (one line per problem) and pydantic's
validation errors turned into such lines (file, dotted key, what is wrong, what is allowed)."""
from __future__ import annotations

import re
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from bot.config.sections import Config, FeedSection, FolderSection, UrlsSection
from bot.logs import one_line


class ConfigError(Exception):
    """The config cannot be used. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = [one_line(p) for p in problems]  # a value's line break cannot split a line
        problems = self.problems
        head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the config:"
        super().__init__("\n".join([head, *("  " + p for p in problems)]))


def pydantic_problems(exc: ValidationError, data: Any) -> list[str]:
    """One line per problem pydantic found: the dotted key, what is wrong, what is allowed."""
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
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            lines.append(f"{key}: {_table_wanted(loc, err['input'])}")
        elif kind == "list_type" and loc == ("sources",) and isinstance(err["input"], dict):  # [sources]
            lines.append("sources: must be a list of tables: write each source as [[sources]], with two brackets")
        elif kind == "string_too_short" and err["ctx"]["min_length"] == 1:
            lines.append(f"{key}: must not be empty; leave the key out for its default")
        elif kind == "too_short" and loc == ("sources",):
            lines.append("sources: no source; add at least one [[sources]] table with type = \"folder\", "
                         "\"feed\" or \"urls\" (config/example.toml has one of each)")
        elif kind in ("literal_error", "enum"):  # the enum's choices, as the literal's
            # A choice that is an enum member reads as the string the file writes for it.
            allowed = _ENUM_MEMBER.sub(r"\1", err["ctx"]["expected"])
            lines.append(f"{key}: {err['input']!r} is not allowed; allowed: {allowed}")
        else:
            msg = err["msg"]
            for prefix in ("Value error, ", "Assertion failed, "):
                msg = msg.removeprefix(prefix)
            msg = msg.replace("Input should be", "must be").replace("Input", "value")
            shown = err.get("input")
            # An *_env key may hold a pasted secret by mistake: never echo it back.
            # Nor the queue's URL, whose password the logs and `status` mask.
            hide = (isinstance(shown, (dict, list)) or str(loc[-1] if loc else "").endswith("_env")
                    or loc == ("queue", "url"))
            got = "" if hide else f" (got {shown!r})"
            lines.append(f"{key}: {msg}{got}")
    return lines


def _table_wanted(loc: tuple, got: Any) -> str:
    """What to write where a table was expected: pydantic says "a valid dictionary or
    instance of MastodonSection", which names no TOML and none of the bot's words."""
    name = _dotted(tuple(p for p in loc if not isinstance(p, int)))
    if loc and isinstance(loc[-1], int):  # an entry of a list of tables
        return f"must be a table: write each entry as [[{name}]] with its keys on the lines below (got {_kind(got)})"
    if isinstance(got, list):  # [[name]]: an array of tables, e.g. a second account
        return f"must be one table, [{name}]; [[{name}]] (or a list) makes several, and one is allowed here"
    return f"must be one table, [{name}], with its keys on the lines below (got {_kind(got)})"


def _kind(value: Any) -> str:
    """What was written, not its value: a value where a table belongs may be a pasted token."""
    return {str: "a string", bool: "true or false", int: "a number", float: "a number"}.get(type(value), "a value")


_ENUM_MEMBER = re.compile(r"<\w+\.\w+: ('[^']*')>")  # how pydantic shows <TumblrState.QUEUE: 'queue'>


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
    tagged = {"folder": FolderSection, "feed": FeedSection, "urls": UrlsSection}
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
