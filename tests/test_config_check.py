"""check-config refuses, in one pass and one line each, what would fail once the bot runs:
unknown models, unusable data folders, numbers the scheduler's time arithmetic cannot hold,
NUL characters, sources that cannot be made (what the bot makes itself is listed, not refused),
and never shows a pasted secret."""
from __future__ import annotations

import io
import math
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot import cli
from bot.config import Config
from bot_helpers import open_dir, tiny_config, unprivileged  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def check(path: Path, *extra: str, capsys) -> tuple[int, str, str]:
    out = io.StringIO()
    code = cli.main(["check-config", "--config", str(path), *extra], out=out)
    return code, out.getvalue(), capsys.readouterr().err


def problem_lines(err: str, path: Path) -> list[str]:
    return [line.strip().removeprefix(f"{path}: ") for line in err.splitlines() if line.strip().startswith(str(path))
            and not line.startswith(f"{path}: the config")]


def config(tmp_path: Path, data_dir: str = "data", **kw) -> Path:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    path = tiny_config(tmp_path, **kw)
    path.write_text(path.read_text().replace('data_dir = "data"', f'data_dir = "{data_dir}"'))
    return path


def test_a_good_config_passes(tmp_path, capsys):
    code, out, err = check(config(tmp_path), capsys=capsys)
    assert code == 0 and "OK" in out, err


@pytest.mark.parametrize("recipe,key", [
    ('model = "efficientnet-lite9"', "recipe.model"),
    ('model = "EfficientNet-Lite0"', "recipe.model"),
    ('model = "resnet50"', "recipe.model"),
    ('model = "nets/missing.onnx"', "recipe.model"),
    ('model = "nets/deploy.prototxt"\nweights = "nets/missing.caffemodel"', "recipe.model"),
    ('model = "tiny"\nweights = "missing.pt"', "recipe.weights"),
    ('model = "tiny"\nhybrid_partner = "efficientnet-lite7"', "recipe.hybrid_partner"),
    ('model = "tiny"\nhybrid_partner = "nets/missing.onnx"', "recipe.hybrid_partner"),
])
def test_a_model_that_cannot_load_is_refused(tmp_path, capsys, recipe, key):
    path = config(tmp_path)
    path.write_text(path.read_text().replace('model = "tiny"', recipe))
    code, _, err = check(path, capsys=capsys)
    assert code == 2 and "Traceback" not in err
    assert any(line.startswith(f"{key}:") for line in problem_lines(err, path)), err


@pytest.mark.parametrize("partner", ["auto", "", "tiny-b"])
def test_a_hybrid_partner_that_loads_or_none_passes(tmp_path, capsys, partner):
    path = config(tmp_path)
    path.write_text(path.read_text().replace('model = "tiny"', f'model = "tiny"\nhybrid_partner = "{partner}"'))
    code, out, err = check(path, capsys=capsys)
    assert code == 0 and "OK" in out, err


def test_an_unknown_model_suggests_the_close_one(tmp_path, capsys):
    path = config(tmp_path)
    path.write_text(path.read_text().replace('model = "tiny"', 'model = "efficientnet-lite9"'))
    _, _, err = check(path, capsys=capsys)
    assert "efficientnet-lite0" in err and "tiny" in err


@pytest.mark.parametrize("data_dir,why", [
    ("afile", "is a file"),
    ("afile/data", "is a file"),
    ("afile/deeper/data", "is a file"),
])
def test_a_data_dir_that_is_not_a_folder_is_refused_by_check_and_run(tmp_path, capsys, data_dir, why):
    (tmp_path / "afile").write_text("x")
    path = config(tmp_path, data_dir=data_dir)
    code, _, err = check(path, capsys=capsys)
    assert code == 2 and "Traceback" not in err
    [line] = [l for l in problem_lines(err, path) if l.startswith("bot.data_dir:")]
    assert why in line
    assert cli.main(["--once", "--config", str(path)]) == 2  # run refuses cleanly too
    err = capsys.readouterr().err
    assert "bot.data_dir" in err and "Traceback" not in err and "FileExistsError" not in err


def test_a_data_dir_this_user_cannot_write_is_refused(open_dir):
    locked = open_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    (open_dir / "inbox").mkdir()
    (open_dir / "inbox").chmod(0o777)
    for data_dir in ("locked/data", "locked"):  # to be made in it, or the folder itself
        path = config(open_dir, data_dir=data_dir)
        cli.main(["check-config", "--config", str(path)], out=io.StringIO())  # imports what the child needs

        def run_check() -> None:
            err = io.StringIO()
            sys.stderr = err
            code = cli.main(["check-config", "--config", str(path)], out=io.StringIO())
            assert code == 2 and "bot.data_dir:" in err.getvalue() and "not writable" in err.getvalue(), err.getvalue()

        unprivileged(run_check)


HUGE = ["9223372036854775807", "99999999999999999", "1e300", "inf"]


@pytest.mark.parametrize("key", ["jitter_seconds", "misfire_grace_seconds"])
@pytest.mark.parametrize("value", HUGE)
def test_time_values_the_scheduler_cannot_add_are_refused(tmp_path, capsys, key, value):
    path = config(tmp_path, schedule=f"interval_minutes = 60\n{key} = {value}\n")
    code, _, err = check(path, capsys=capsys)
    assert code == 2 and "Traceback" not in err
    assert any(l.startswith(f"schedule.{key}:") for l in problem_lines(err, path)), err


def _numeric_fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _numeric_fields(ann, f"{prefix}{name}.")
        elif ann in (int, float) or set(typing.get_args(ann)) & {int, float}:
            yield prefix + name, float if float in (ann, *typing.get_args(ann)) else int


NUMERIC = [(k, t) for k, t in _numeric_fields(Config)]


@pytest.mark.parametrize("key,kind", NUMERIC, ids=[k for k, _ in NUMERIC])
@pytest.mark.parametrize("big", ["max", "inf"])
def test_every_number_too_big_is_refused_or_works(tmp_path, capsys, key, kind, big):
    """The class of the jitter problem: any number in the file, at its largest, either gets a
    clear line or a bot whose schedule works."""
    import tomllib

    import tomli_w

    from bot.config import load_config
    from bot.scheduler import BotRunner
    from bot.store import Store

    path = config(tmp_path)
    data = tomllib.loads(path.read_text())
    *tables, name = key.split(".")
    table = data
    for t in tables:
        table = table.setdefault(t, {})
    table[name] = (2**63 - 1 if big == "max" else -(2**63)) if kind is int else (1e308 if big == "max" else math.inf)
    if key == "schedule.cron":
        return
    path.write_text(tomli_w.dumps(data))
    code, _, err = check(path, capsys=capsys)
    assert code in (0, 2) and "Traceback" not in err, err
    if code == 0:
        cfg = load_config(path)
        runner = BotRunner(cfg, Store(cfg.data_dir / "bot.db"), blocking=False)
        try:
            runner.start()
            assert runner.next_run_time() is not None
        finally:
            runner.shutdown()
    else:
        assert any(l.startswith((f"{key}:", f"{'.'.join(tables)}:")) for l in problem_lines(err, path)), err


@pytest.mark.parametrize("where", ["data_dir", "source", "outbox", "shared_dir", "weights", "caption"])
def test_a_nul_in_a_path_or_text_is_refused_without_showing_it(tmp_path, capsys, where):
    path = config(tmp_path)
    text = path.read_text()
    if where == "data_dir":
        text = text.replace('data_dir = "data"', 'data_dir = "da\\u0000ta"')
    elif where == "source":
        text = text.replace('path = "inbox"', 'path = "in\\u0000box"')
    elif where == "outbox":
        text += '[publishers.outbox]\npath = "out\\u0000box"\n'
    elif where == "shared_dir":
        text += '[queue]\nshared_dir = "sha\\u0000red"\n'
    elif where == "weights":
        text = text.replace('model = "tiny"', 'model = "tiny"\nweights = "w\\u0000.pt"')
    else:
        text += '[caption]\nnote = "a\\u0000b"\n'
    path.write_text(text)
    code, out, err = check(path, capsys=capsys)
    assert code == 2 and "Traceback" not in err
    assert "\x00" not in err + out
    lines = problem_lines(err, path)
    assert any("NUL" in l for l in lines), err
    assert cli.main(["--once", "--config", str(path)]) == 2
    assert "\x00" not in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["folder", "urls"])
def test_a_missing_source_folder_or_list_is_made_when_the_bot_starts(tmp_path, capsys, kind):
    """The bot owns a consuming folder and a URL list: check-config says it will make them
    (and makes nothing itself), the run makes them, says so, and finds nothing to do."""
    src = ('[[sources]]\ntype = "folder"\npath = "queue/new"\n' if kind == "folder"
           else '[[sources]]\ntype = "urls"\npath = "lists/urls.txt"\n')
    made = tmp_path / ("queue/new" if kind == "folder" else "lists/urls.txt")
    path = tiny_config(tmp_path, sources=src)
    code, out, err = check(path, capsys=capsys)
    assert code == 0 and problem_lines(err, path) == [], err
    assert f"to make:    {made} (" in out and not made.parent.exists()
    assert cli.main(["--once", "--config", str(path)], out=(once := io.StringIO())) == 0, capsys.readouterr().err
    assert once.getvalue().startswith("idle:")
    assert made.is_dir() if kind == "folder" else made.read_text().startswith("# One photo URL per line")
    what = "folder" if kind == "folder" else "URL list"
    assert f"made the {what} of source {kind}-1 {made}" in capsys.readouterr().err
    code, out, _ = check(path, capsys=capsys)
    assert code == 0 and "to make:" not in out


@pytest.mark.parametrize("kind", ["folder-is-a-file", "urls-is-a-folder", "under-a-file", "read-only-source"])
def test_a_source_the_bot_cannot_or_must_not_make_is_reported(tmp_path, capsys, kind):
    if kind == "folder-is-a-file":
        (tmp_path / "q").write_text("")
        src = '[[sources]]\ntype = "folder"\npath = "q"\n'
    elif kind == "urls-is-a-folder":
        (tmp_path / "u").mkdir()
        src = '[[sources]]\ntype = "urls"\npath = "u"\n'
    elif kind == "under-a-file":
        (tmp_path / "q").write_text("")
        src = '[[sources]]\ntype = "urls"\npath = "q/urls.txt"\n'
    else:  # someone else's folder (or a mount): the bot only reads it, so it never makes it
        src = '[[sources]]\ntype = "folder"\npath = "mnt/photos"\nconsume = false\n'
    path = tiny_config(tmp_path, sources=src)
    code, out, err = check(path, capsys=capsys)
    [line] = problem_lines(err, path)
    assert code == 2 and line.startswith("sources[0].path:") and "to make" not in out, err
    code = cli.main(["init", "--config", str(path)], out=io.StringIO())
    err = capsys.readouterr().err
    if kind == "read-only-source":
        assert "consume = false" in line and "run_bot.py init" in line
        assert code == 0 and (tmp_path / "mnt/photos").is_dir(), err  # init makes it when asked
        assert check(path, capsys=capsys)[0] == 0
    else:
        assert code == 2 and "sources[0].path" in err  # init does not replace what is in the way


def test_one_pass_reports_every_problem_one_line_each(tmp_path):
    (tmp_path / "afile").write_text("x")
    secret = "Zq9XkLm2Pw8RtY4nV6bC1dF3gH5jK7sA0eUiOo"
    path = tmp_path / "bad.toml"
    path.write_text(f"""
[bot]
data_dir = "afile"
log_level = "LOUD"
[schedule]
interval_minutes = 60
jitter_seconds = 99999999999999999
[[sources]]
type = "folder"
path = "afile/nowhere"
[picker]
allow = ["goldfsh", "stingrey"]
min_classes = 0
[recipe]
model = "efficientnet-lite9"
octaves = 99
steps = -1
[publishers.mastodon]
enabled = true
api_base_url = "https://m.example"
access_token_env = "{secret}"
""")
    r = subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "check-config", "--config", str(path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = problem_lines(r.stderr, path)
    keys = [l.split(":", 1)[0] for l in lines]
    for key in ("bot.log_level", "schedule.jitter_seconds", "picker.min_classes", "picker.allow[0]",
                "picker.allow[1]", "recipe.octaves", "recipe.steps", "recipe.model", "bot.data_dir",
                "sources[0].path", "publishers.mastodon.access_token_env"):
        assert keys.count(key) == 1, (key, r.stderr)
    assert len(lines) == len(keys) == len(set(lines))
    assert secret not in r.stdout + r.stderr


@pytest.mark.parametrize("secret", [
    "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7kL9mN1pQ3s",   # Tumblr-style: 50 letters and digits
    "Ab_Cd3EfGh5IjKl7MnOp9QrSt1UvWx3YzAb5CdEf7Gh",          # a Mastodon token with only _ as punctuation
    "zzPASTEDsecret_123_456",
    "SECRETVALUE12345678901234567890",                       # upper case, but no name is 31 letters long
    "sk_live_51HxYzAbCdEfGhIjKlMnOp",
])
def test_a_secret_pasted_for_a_variable_name_is_never_shown(tmp_path, capsys, secret):
    tumblr = ('[publishers.tumblr]\nenabled = true\nblog = "b"\n'
              f'consumer_key_env = "{secret}"\n')
    path = config(tmp_path, extra=tumblr)
    code, out, err = check(path, capsys=capsys)
    assert code == 2 and secret not in out + err
    assert "publishers.tumblr.consumer_key_env: must name an environment variable" in err
    assert cli.main(["--once", "--config", str(path)]) == 2
    assert secret not in capsys.readouterr().err
    # a real name is still named, so the operator knows what to export
    path.write_text(path.read_text().replace(secret, "MY_TUMBLR_KEY"))
    _, _, err = check(path, capsys=capsys)
    assert "environment variable MY_TUMBLR_KEY is not set" in err
