"""Config checks beyond the schema, in one pass: what the file says that cannot work.

`load_config` (bot/config/load.py) runs `after_schema` on a config that validated and
`without_schema` on one that did not, so a single run lists the schema errors *and* unknown
class names, recipe values, models, NUL characters and cross-section rules of every section
that could be read. `environment_problems` checks what lies outside the file (the data folder,
the sources' folders and lists, see bot/folders.py); `check-config` and `run` call it, `status`
does not (it must work on a data folder it cannot write). Every line names a key; no line echoes a value that
may be a secret, nor a raw control character.
"""
from __future__ import annotations

import difflib
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from dreamer.recipe import FILE_KEYS, Mode
from pydantic import SecretStr, TypeAdapter, ValidationError

from bot.config.recipe import build_recipe, recipe_problem
from bot.config.sections import Config
from bot.config.services import SECRET_FIELDS, looks_like_variable
from bot.folders import (
    own_folder_problems, shared_source_problems, source_problems, writable_dir_problem, written_dirs,
)
from bot.picker import labels, picker_problems, pool


# --- the whole pass ---------------------------------------------------------------------------
def after_schema(cfg: "Config", data: Mapping[str, Any]) -> list[str]:
    """Problems of a config whose schema validated."""
    return _run_rules(cfg, set(type(cfg).model_fields), data)


def without_schema(data: Mapping[str, Any], path: Path, environ: Mapping[str, str] | None) -> list[str]:
    """Problems in the sections that validate on their own, when the whole file did not
    (with `environ`, the secrets of the publishers too)."""
    cfg, ok = partial_config(data, path)
    problems = _run_rules(cfg, ok, data)
    if environ is not None and "publishers" in ok:
        problems += load_secrets(cfg, environ)
    return problems


def partial_config(data: Mapping[str, Any], path: Path) -> tuple["Config", set[str]]:
    """A Config of the sections that validate alone (defaults elsewhere), and their names."""
    good: dict[str, Any] = {}
    ok = set()
    for name, field in Config.model_fields.items():
        if name not in data:
            if not field.is_required():
                ok.add(name)
            continue
        try:
            good[name] = TypeAdapter(field.annotation).validate_python(data[name])
            ok.add(name)
        except ValidationError:
            pass
    cfg = Config.model_construct(**good)
    cfg._path = path.resolve()
    cfg._secrets = {}
    return cfg, ok


def _run_rules(cfg: "Config", ok: set[str], data: Mapping[str, Any]) -> list[str]:
    problems = nul_problems(data) + variable_problems(data) + space_problems(data)
    recipe = data.get("recipe", {})
    if isinstance(recipe, dict):
        problems += recipe_problems(recipe)
    problems += class_name_problems(cfg if "picker" in ok else None, data.get("picker"))
    # read from the file: said whatever else failed
    problems += own_folder_problems(data, cfg.path.parent) + shared_source_problems(data, cfg.path.parent)
    for needs, rule in _RULES:
        if needs <= ok:
            problems += rule(cfg)
    return list(dict.fromkeys(problems))


# --- rules between sections -------------------------------------------------------------------
def _duplicate_sources(cfg: "Config") -> list[str]:
    names = cfg.source_names()
    return [f"sources: the name {n!r} is used twice; give each source its own name"
            for n in dict.fromkeys(n for n in names if names.count(n) > 1)]


def _some_publisher(cfg: "Config") -> list[str]:
    if cfg.enabled_publishers():
        return []
    return ["publishers: every publisher is disabled; enable at least one "
            "([publishers.outbox] enabled = true needs no account)"]


def _requests_need_mastodon(cfg: "Config") -> list[str]:
    if cfg.requests.enabled and not cfg.publishers.mastodon.enabled:
        return ["requests.enabled: dream requests arrive and are answered on Mastodon; "
                "enable [publishers.mastodon] or set requests.enabled = false"]
    return []


def _admin_needs_mastodon(cfg: "Config") -> list[str]:
    if cfg.admin.account and not cfg.publishers.mastodon.enabled:
        return ["admin.account: the admin message is a Mastodon direct message; "
                "enable [publishers.mastodon] or remove admin.account"]
    return []


def _polls_need_mastodon(cfg: "Config") -> list[str]:
    if cfg.polls.enabled and not cfg.publishers.mastodon.enabled:
        return ["polls.enabled: the poll for the next mutant is a Mastodon poll; "
                "enable [publishers.mastodon] or set polls.enabled = false"]
    return []


def _polls_fit_the_picker(cfg: "Config") -> list[str]:
    """A poll offers `options` different combinations: the picker must be able to draw them."""
    if not cfg.polls.enabled or picker_problems(cfg.picker):
        return []
    n, p = len(pool(cfg.picker, labels())), cfg.picker
    hi = min(p.max_classes, n)
    combos = sum(math.comb(n, k) for k in range(min(p.min_classes, hi), hi + 1))
    if combos >= cfg.polls.options:
        return []
    return [f"polls.options: a poll offers {cfg.polls.options} different class combinations, but [picker] can "
            f"make only {combos}; allow more classes or lower polls.options"]


# What a mode dreams instead of the picker's classes, for the refusal of polls.
_CLASSLESS = {"deepdream": "patterns the net already sees", "guide": "a guide picture's look",
              "randomise": "every class pushed up or down at random"}


def _polls_need_classes(cfg: "Config") -> list[str]:
    """A poll asks followers which classes the next dream grows: in a mode that dreams no chosen
    class, the winner would never show, a promise to them the bot cannot keep."""
    if not cfg.polls.enabled:
        return []
    try:
        mode = str(cfg.base_recipe().mode)
    except ValueError:
        return []  # refused, and said, by recipe_problems
    if mode == Mode.LUCID:
        return []
    instead = f" ({_CLASSLESS[mode]})" if mode in _CLASSLESS else ""
    return [f"polls.enabled: a poll lets followers choose the classes of the next dream, but recipe.mode = "
            f"{mode!r} dreams no chosen class{instead}, so the winner would never show; set "
            "polls.enabled = false, or recipe.mode = \"lucid\""]


def _schedule_computes(cfg: "Config") -> list[str]:
    """The scheduler's own arithmetic, at its worst case (the largest jitter and grace)."""

    s = cfg.schedule
    try:
        now = datetime.now(timezone.utc)
        s.trigger().get_next_fire_time(None, now)
        now + timedelta(seconds=s.jitter_seconds) + timedelta(seconds=s.misfire_grace_seconds)
    except (OverflowError, ValueError) as exc:
        return [f"schedule: the next run cannot be worked out ({exc}); lower jitter_seconds "
                "and misfire_grace_seconds"]
    return []


_RULES: list[tuple[set[str], Callable[["Config"], list[str]]]] = [
    ({"sources"}, _duplicate_sources),
    ({"publishers"}, _some_publisher),
    ({"requests", "publishers"}, _requests_need_mastodon),
    ({"admin", "publishers"}, _admin_needs_mastodon),
    ({"schedule"}, _schedule_computes),
    ({"polls", "publishers"}, _polls_need_mastodon),
    ({"polls", "picker"}, _polls_fit_the_picker),
    ({"polls", "recipe"}, _polls_need_classes),
]


# --- values -----------------------------------------------------------------------------------
def nul_problems(data: Any, key: str = "") -> list[str]:
    """Every string holding a NUL: no path can, and shown back it would cut the message."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in nul_problems(v, f"{key}.{k}" if key else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in nul_problems(v, f"{key}[{i}]")]
    if isinstance(data, str) and "\x00" in data:
        return [f"{key}: contains a NUL character (\\x00); remove it"]
    return []


_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def variable_problems(data: Mapping[str, Any]) -> list[str]:
    """Paths holding $NAME: nothing expands it, so "$HOME/dreams" was a folder named "$HOME"
    beside the file, made and written in without a word."""
    problems = []
    for key, value in _path_values(data):
        if isinstance(value, str) and (m := _VARIABLE.search(value)):
            problems.append(f"{key}: {m.group(0)} is not expanded: a path in this file is taken as written "
                            "(only a leading ~ means the home folder); write the path itself")
    return problems


def space_problems(data: Mapping[str, Any]) -> list[str]:
    """Paths with a space (or tab, line break) at an end: a path is taken as written, so
    "inbox " was a folder beside "inbox", made without a word, that no photo was dropped in."""
    problems = []
    for key, value in _path_values(data):
        if isinstance(value, str) and value.strip() and value != value.strip():
            ends = " and a ".join(e for e, c in (("leading", value[0]), ("trailing", value[-1])) if c.isspace())
            problems.append(f"{key}: {value!r} has a {ends} space; remove it (a path or a model's name is taken "
                            "as written, spaces included)")
    return problems


def _path_values(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(key, raw value) of every key of the file that names a path."""
    def table(parent: Any, key: str) -> Mapping[str, Any]:
        value = parent.get(key) if isinstance(parent, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    out = [("bot.data_dir", table(data, "bot").get("data_dir")),
           ("publishers.outbox.path", table(table(data, "publishers"), "outbox").get("path")),
           ("queue.shared_dir", table(data, "queue").get("shared_dir"))]
    out += [(f"recipe.{k}", table(data, "recipe").get(k)) for k in FILE_KEYS]
    sources = data.get("sources")
    for i, src in enumerate(sources if isinstance(sources, list) else []):
        if isinstance(src, Mapping) and src.get("type") in ("folder", "urls"):
            out.append((f"sources[{i}].path", src.get("path")))
    return out


def class_name_problems(cfg: "Config | None", raw: Any) -> list[str]:
    """Unknown class and group names in [picker], read from the raw table when the section
    itself did not validate (so they show up with its schema errors, not after them)."""
    if cfg is not None:
        return picker_problems(cfg.picker)
    if not isinstance(raw, dict):
        return []
    from models.labels import ClassSpecError, imagenet

    lab = imagenet()
    problems = []
    for key in ("allow", "deny", "groups"):
        terms = raw.get(key)
        for n, term in enumerate(terms if isinstance(terms, list) else []):
            if not isinstance(term, str):
                continue  # the schema says what is wrong with it
            try:
                lab.group(term) if key == "groups" else lab.resolve(term)
            except ClassSpecError as exc:
                problems.append(f"picker.{key}[{n}]: {exc}")
    return problems


def recipe_problems(table: dict[str, Any]) -> list[str]:
    """Every bad [recipe] value at once (a recipe stops at its first), then the model's."""
    problems = []
    try:
        recipe = build_recipe(table)
    except ValueError as whole:
        recipe = None
        base = {k: v for k, v in table.items() if k == "preset"}
        for key, value in table.items():
            if key == "preset":
                continue
            try:
                build_recipe({**base, key: value})
            except ValueError as exc:
                problems.append(recipe_problem(str(exc)))
        problems = list(dict.fromkeys(problems)) or [recipe_problem(str(whole))]
    if recipe is not None and recipe.classes:
        problems.append("recipe.classes: the [picker] chooses the classes for each dream; "
                        "remove classes here and use picker.allow (e.g. allow = [\"goldfish\"])")
    if recipe is not None and recipe.mode == "guide" and not recipe.guide:
        # The engine checks this only when it dreams: every photo would fail and be filed away.
        problems.append("recipe.guide: mode = \"guide\" dreams the features of a guide picture into each photo: "
                        "set guide = \"path/to/picture.jpg\", or use another mode (lucid dreams the picker's classes)")
    model = recipe.model if recipe is not None else table.get("model")
    weights = recipe.weights if recipe is not None else table.get("weights")
    guide = recipe.guide if recipe is not None else table.get("guide")
    partner = recipe.views.hybrid_partner if recipe is not None else table.get("hybrid_partner")
    problems += model_problems(model, weights, guide, partner)
    return problems + (layer_problems(recipe) if recipe is not None else [])


def layer_problems(recipe: Any) -> list[str]:
    """Layers the recipe's model does not have, among those a dream reads: the engine finds them
    only when it dreams, and each failure files a good photo under failed/. Checked where the
    model's layers are known without building it (models.registry.known_layers), else left to
    the engine (a net imported from a file)."""
    from models.registry import known_layers

    if not isinstance(recipe.model, str) or not (names := known_layers(recipe.model)):
        return []
    used: list[tuple[str, str | None]] = []
    # Lucid and randomise read the net's classes; guide reads guide_layer, else layer.
    if recipe.mode == "deepdream" or (recipe.mode == "guide" and not recipe.guide_layer):
        used.append(("layer", recipe.layer))
    if recipe.mode == "guide":
        used.append(("guide_layer", recipe.guide_layer))
    if recipe.method == "tiles":  # an octave's own layer, whatever the mode
        used += [(f"octave_plan[{i}].layer", o.layer) for i, o in enumerate(recipe.tiles.octave_plan or [])]
    return [_no_such_layer(key, recipe.model, layer, names) for key, layer in used if layer and layer not in names]


def _no_such_layer(key: str, model: str, layer: str, names: list[str]) -> str:
    close = difflib.get_close_matches(layer, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"recipe.{key}: model {model!r} has no layer {layer!r}{hint}; its layers: {', '.join(names)} "
            "(leave the key out for the model's default layer)")


def model_problems(model: Any, weights: Any, guide: Any, partner: Any = "") -> list[str]:
    """A model the engine cannot load fails every render (a hybrid partner: every hybrid), and
    each failure files a good photo under failed/: refuse it here instead."""
    problems = _model_name_problems("model", model)
    if partner not in ("", "auto"):
        problems += _model_name_problems("hybrid_partner", partner)
    for key, value in (("weights", weights), ("guide", guide)):
        if isinstance(value, str) and value and "\x00" not in value and not Path(value).expanduser().is_file():
            problems.append(f"recipe.{key}: no file {value} (a path is taken from the folder the bot is started in)")
    return problems


def _model_name_problems(key: str, model: Any) -> list[str]:
    from models.registry import is_file_model, list_models

    if not isinstance(model, str) or "\x00" in model:
        return []
    if is_file_model(model):
        if not Path(model).expanduser().is_file():
            return [f"recipe.{key}: no model file {model} (a path is taken from the folder the bot is started in)"]
    elif model not in list_models():
        known = sorted(list_models())
        close = difflib.get_close_matches(model, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return [f"recipe.{key}: unknown model {model!r}.{hint} Available: {', '.join(known)}, "
                "or the path of an .onnx or Caffe .prototxt file"]
    return []


# --- secrets --------------------------------------------------------------------------------
def load_secrets(cfg: "Config", environ: Mapping[str, str]) -> list[str]:
    """Read the enabled publishers' secrets into `cfg`; one problem per variable missing."""
    problems = []
    for pub, fields in SECRET_FIELDS.items():
        section = getattr(cfg.publishers, pub)
        if not section.enabled:
            continue
        for secret_name, env_field in fields.items():
            var = getattr(section, env_field)
            value = environ.get(var, "")
            what = f"the {pub} {secret_name.replace('_', ' ')}"
            if value.strip():
                cfg._secrets[f"{pub}.{secret_name}"] = SecretStr(value.strip())
            elif looks_like_variable(var):
                problems.append(f"publishers.{pub}.{env_field}: environment variable {var} is not set or empty; "
                                f"export {var} with {what} (or set enabled = false)")
            else:
                # It may be the secret itself, pasted where its variable's name goes: never shown.
                problems.append(f"publishers.{pub}.{env_field}: must name an environment variable, and no "
                                "variable of that name is set; the value is not shown, as it looks like a "
                                f"secret rather than a name. Write a name such as {pub.upper()}_"
                                f"{secret_name.upper()} there and export {what} in it")
    return problems


# --- outside the file -------------------------------------------------------------------------
def environment_problems(data: Mapping[str, Any], config_path: Path, *, sources: bool = True) -> list[str]:
    """Folders the bot must write, and (with `sources`) the folders and lists it reads; what
    the bot makes itself when missing (bot/folders.py) is no problem unless it cannot be made."""
    base = config_path.resolve().parent
    problems = [f"{key}: {why}" for key, path in written_dirs(data, base) if (why := writable_dir_problem(path))]
    if sources:
        problems += source_problems(data, base, config_path)
    return problems
