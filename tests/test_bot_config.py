"""The bot's config: the shipped files load, every problem gets one clear line, secrets stay secret."""
from __future__ import annotations

import subprocess
import sys
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import Config, ConfigError, load_config, only_outbox
from bot.config.cron import crontab_trigger, weekdays

ROOT = Path(__file__).resolve().parent.parent


def problems_of(tmp_path: Path, text: str, **kw) -> list[str]:
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p, **kw)
    for line in info.value.problems:
        assert line.startswith(f"{p}: "), line  # every line names the file
    return [line.removeprefix(f"{p}: ") for line in info.value.problems]


MINIMAL = '[[sources]]\ntype = "folder"\npath = "in"\n'


def test_demo_config_runs_without_accounts():
    cfg = load_config(ROOT / "config" / "demo.toml", environ={})
    assert cfg.enabled_publishers() == ["outbox"]
    assert cfg.sources[0].type == "folder"
    assert cfg.resolve(cfg.sources[0].path) == ROOT / "photos"
    assert cfg.outbox_dir == cfg.data_dir / "outbox"
    assert cfg.base_recipe().classes == {}


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _keys(ann, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def test_example_config_loads_and_documents_every_key():
    path = ROOT / "config" / "example.toml"
    cfg = load_config(path, environ={})
    assert [s.type for s in cfg.sources] == ["folder", "feed", "urls"]
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    flat = set()

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and k != "recipe":
                walk(v, f"{prefix}{k}.")
            else:
                flat.add(prefix + k)

    walk(data)
    source_keys = {f"sources.{k}" for s in data["sources"] for k in s}
    schema = _keys(Config) - {"sources", "recipe"}
    # Keys only shown commented out (one of two alternatives) still count as documented.
    commented = {"schedule.interval_minutes", "admin.account"}
    missing = sorted(k for k in schema if k not in flat and k not in commented)
    assert missing == [], f"example.toml does not show: {missing}"
    from bot.config import FeedSection, FolderSection, UrlsSection

    for model in (FolderSection, FeedSection, UrlsSection):
        for k in model.model_fields:
            assert f"sources.{k}" in source_keys, f"example.toml has no sources key {k} ({model.__name__})"
    for k in ("interval_minutes", "account"):
        assert f"# {k} =" in text
    # The example posts the default dream as it is: no recipe key quietly makes it fainter.
    from dreamer.presets import preset

    recipe = cfg.base_recipe()
    assert recipe.replace(max_pixels=preset("default").max_pixels) == preset("default")


def test_several_problems_one_line_each(tmp_path):
    lines = problems_of(tmp_path, """
[bot]
nmae = "x"
log_format = "xml"
[schedule]
cron = "0 25 * * *"
timezone = "Mars/Olympus"
[[sources]]
type = "folder"
[[sources]]
type = "ftp"
[picker]
min_classes = 0
[recipe]
octaves = 99
""")
    text = "\n".join(lines)
    assert any(l.startswith("bot.nmae: unknown key; allowed here: name, data_dir") for l in lines), text
    assert any(l.startswith("bot.log_format:") and "'plain' or 'json'" in l and "'xml'" in l for l in lines), text
    assert any(l.startswith("schedule.cron:") and "minute hour day month weekday" in l for l in lines), text
    assert any(l.startswith("schedule.timezone:") and "IANA" in l for l in lines), text
    assert "sources[0].path: required key is missing" in lines
    assert any(l.startswith("sources[1].type:") and "'ftp'" in l and "'folder', 'feed', 'urls'" in l for l in lines)
    assert any(l.startswith("picker.min_classes:") and "greater than or equal to 1" in l for l in lines), text
    assert any(l.startswith("recipe.octaves:") and "1..12" in l and "99" in l for l in lines), text
    assert "Traceback" not in text and "pydantic" not in text.lower()


def test_class_names_checked_against_the_labels(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + '[picker]\nallow = ["goldfsh", "crane"]\ngroups = ["sea monsters"]\n')
    assert any(l.startswith("picker.allow[0]:") and "goldfish" in l for l in lines), lines  # suggestion
    assert any(l.startswith("picker.allow[1]:") and "ambiguous" in l and "134" in l and "517" in l for l in lines)
    assert any(l.startswith("picker.groups[0]:") and "sea monsters" in l and "sea creatures" in l for l in lines), lines


def test_picker_pool_too_small(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + '[picker]\nallow = ["goldfish"]\nmin_classes = 2\nmax_classes = 2\n')
    assert any("leave 1 class" in l and "min_classes is 2" in l for l in lines), lines


def test_semantic_rules(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + """
[recipe]
classes = { goldfish = 1 }
[caption]
template = "{classes} {secret.__class__}"
[publishers.outbox]
enabled = false
[admin]
account = "@me@example.social"
""")
    text = "\n".join(lines)
    # a bad template is reported by pydantic, before the semantic pass
    assert any(l.startswith("caption.template: unknown field") and "{classes}" in l for l in lines), text


def test_semantic_rules_on_valid_schema(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + """
[recipe]
classes = { goldfish = 1 }
[publishers.outbox]
enabled = false
[admin]
account = "@me@example.social"
""")
    assert any(l.startswith("recipe.classes:") and "picker" in l for l in lines), lines
    assert any(l.startswith("publishers:") and "enable at least one" in l for l in lines), lines
    assert any(l.startswith("admin.account:") and "mastodon" in l for l in lines), lines


def test_schedule_needs_exactly_one_trigger(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + '[schedule]\ncron = "0 * * * *"\ninterval_minutes = 5\n')
    assert any(l.startswith("schedule:") and "exactly one of cron or interval_minutes" in l for l in lines)


def test_wrong_types_are_errors_not_coerced(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + '[schedule]\ninterval_minutes = 5\ncoalesce = "yes"\n[fetch]\nmax_bytes = "5"\n')
    assert any(l.startswith("schedule.coalesce:") and "bool" in l for l in lines), lines
    assert any(l.startswith("fetch.max_bytes:") and "integer" in l for l in lines), lines


def test_toml_syntax_error_and_missing_file(tmp_path):
    lines = problems_of(tmp_path, "[bot\nname = 1\n")
    assert len(lines) == 1 and "not valid TOML" in lines[0]
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_duplicate_source_names(tmp_path):
    lines = problems_of(tmp_path, MINIMAL + '[[sources]]\ntype = "folder"\npath = "x"\nname = "folder-1"\n')
    assert any("'folder-1' is used twice" in l for l in lines), lines


MASTODON = MINIMAL + '[publishers.mastodon]\nenabled = true\napi_base_url = "https://m.example"\naccess_token_env = "T_TOKEN"\n'


def test_missing_secret_env_is_named(tmp_path):
    lines = problems_of(tmp_path, MASTODON, environ={})
    assert lines == [
        "publishers.mastodon.access_token_env: environment variable T_TOKEN is not set or empty; "
        "export T_TOKEN with the mastodon access token (or set enabled = false)"
    ]


def test_secret_read_from_env_and_never_shown(tmp_path):
    token = "tok-SECRET-7f3a9c1e55"
    p = tmp_path / "ok.toml"
    p.write_text(MASTODON, encoding="utf-8")
    cfg = load_config(p, environ={"T_TOKEN": token})
    assert cfg.secret("mastodon.access_token") == token
    for shown in (repr(cfg), str(cfg), cfg.model_dump_json(), repr(cfg.model_dump())):
        assert token not in shown
    # dry runs need no secrets, and drop them
    dry = only_outbox(load_config(p, environ={}, need_secrets=False))
    assert dry.enabled_publishers() == ["outbox"] and dry.secret_values() == []
    # a config error elsewhere in the file does not echo the secret either
    p.write_text(MASTODON + "[bot]\nlog_level = 'LOUD'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p, environ={"T_TOKEN": token})
    assert token not in str(info.value)


def test_a_pasted_secret_is_not_echoed(tmp_path):
    secret = "zzPASTEDsecret-123-456"
    lines = problems_of(tmp_path, MASTODON.replace('"T_TOKEN"', f'"{secret}"'), environ={})
    assert any(l.startswith("publishers.mastodon.access_token_env: must be the NAME") for l in lines)
    assert secret not in "\n".join(lines)


def test_check_config_cli_exit_codes(tmp_path, capsys):
    from bot import cli

    bad = tmp_path / "bad.toml"
    bad.write_text("[bot]\nname = 3\n", encoding="utf-8")
    # the real entry point, in its own process: a clear message and exit code 2, no traceback
    r = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "check-config", "--config", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{bad}: bot.name:" in r.stderr and f"{bad}: sources: required key is missing" in r.stderr
    assert cli.main(["--once", "--config", str(bad)]) == 2
    assert cli.main(["--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "Traceback" not in err
    assert cli.main(["check-config", "--config", str(ROOT / "config" / "demo.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "photos (folder)" in out


@pytest.mark.parametrize("field,expected", [
    ("*", "*"), ("1-5", "mon,tue,wed,thu,fri"), ("0", "sun"), ("7", "sun"),
    ("*/2", "sun,tue,thu,sat"), ("sat-sun", "sat-sun"), ("5,6", "fri,sat"),
])
def test_crontab_weekdays_mean_what_cron_means(field, expected):
    assert weekdays(field) == expected


def test_crontab_monday_is_monday():
    from datetime import datetime, timezone

    t = crontab_trigger("30 9 * * 1", "UTC")
    nxt = t.get_next_fire_time(None, datetime(2025, 1, 4, 12, tzinfo=timezone.utc))  # a Saturday
    assert nxt.strftime("%a %H:%M") == "Mon 09:30"


def test_unknown_keys_list_what_that_table_allows(tmp_path):
    lines = problems_of(tmp_path, """
[[sources]]
type = "feed"
url = "https://photos.example/feed"
colour = "red"
[publishers.foo]
enabled = true
[admin]
account = "not an account!"
""")
    src = next(l for l in lines if l.startswith("sources[0].colour: unknown key"))
    assert "url" in src and "order" in src and "consume" not in src  # a feed's keys, not a folder's
    assert "publishers.foo: unknown key; allowed here: outbox, mastodon, tumblr" in lines
    assert any(l.startswith("admin.account: must be a Mastodon account") for l in lines), lines


def test_recipe_presets(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(MINIMAL + '[recipe]\npreset = "wild"\nsteps = 20\n', encoding="utf-8")
    r = load_config(p).base_recipe()
    from dreamer.presets import PRESETS

    assert r.views.steps == 20 and r.views.strength == PRESETS["wild"]["strength"]  # the file's key wins
    lines = problems_of(tmp_path, MINIMAL + '[recipe]\npreset = "nope"\n')
    assert len(lines) == 1 and "unknown preset 'nope'" in lines[0] and "wild" in lines[0]


def test_example_documents_every_recipe_key_at_its_real_default():
    from dreamer.presets import preset
    from dreamer.recipe import KEYS

    text = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    section = text[text.index("\n[recipe]\n"):text.index("\n[caption]\n")]
    shown = {}
    for m in re.finditer(r"^#? ?(\w+) = (.+?)[ \t]*(?:#.*)?$", section, re.M):
        shown[m.group(1)] = tomllib.loads(f"v = {m.group(2)}")["v"]
    default = preset("default")
    never = {"classes", "seed", "stopped_at"}  # the picker's; the engine's, for a picture's recipe
    fields = set(KEYS) - never
    assert fields - set(shown) == set(), "example.toml's [recipe] does not show these keys"
    for key in fields - {"max_pixels"}:
        want = default.to_dict().get(key)
        if want is None:  # unset (a path, a layer, the net's tile size): any example value will do
            continue
        assert shown[key] == want, f"recipe.{key}: the example says {shown[key]!r}, the default is {want!r}"


def test_a_recipe_table_may_not_set_where_dreams_stopped(tmp_path):
    from bot.config.recipe import build_recipe

    with pytest.raises(ValueError, match="stopped_at = 40: the engine writes it"):
        build_recipe({"steps": 96, "stopped_at": 40})
    assert build_recipe({"steps": 96}).views.stopped_at is None


@pytest.mark.parametrize("state", ["private", "later", 5])
def test_a_tumblr_state_the_config_does_not_offer_names_the_choices_as_the_file_writes_them(tmp_path, state):
    # The section's choices are enum members; the line shows the strings an operator writes.
    value = f'"{state}"' if isinstance(state, str) else state
    lines = problems_of(tmp_path, MINIMAL + f"[publishers.tumblr]\nstate = {value}\n", environ={})
    assert lines == [f"publishers.tumblr.state: {state!r} is not allowed; allowed: 'published', 'queue' or 'draft'"]
