"""More operator configs nobody had tried (after test_unseen_configs.py): each was accepted and
then did harm or nothing, or was refused with a misleading line; now each gets a line naming the
key and what to do (or a warning where the file still works)."""
from __future__ import annotations

import io
import logging

import pytest

from bot import cli
from bot.config import ConfigError, load_config
from bot_helpers import tiny_config


def _problems(path) -> list[str]:
    """The lines load_config refuses the file with, less the file's name in front."""
    with pytest.raises(ConfigError) as info:
        load_config(path, need_secrets=False)
    return [line.removeprefix(f"{path}: ") for line in info.value.problems]


def _with_recipe(tmp_path, lines: str, **kw):
    path = tiny_config(tmp_path, **kw)
    path.write_text(path.read_text().replace('model = "tiny"', f'model = "tiny"\n{lines}'))
    return path


def _folder_source(path: str, consume: bool = True) -> str:
    return (f'[[sources]]\ntype = "folder"\nname = "inbox"\npath = "{path}"\n'
            f"consume = {str(consume).lower()}\nsettle_seconds = 0\n")


# --- 1. a folder source over the bot's own folders -------------------------------------------
@pytest.mark.parametrize("source, key", [
    ("data", "bot.data_dir"),              # where the state and the dreams are
    ("data/outbox", "bot.data_dir"),       # the default outbox lies in data_dir
    ("data/dreams", "bot.data_dir"),
    ("./data/../data", "bot.data_dir"),
    ("pub", "publishers.outbox.path"),
    ("pub/sub", "publishers.outbox.path"),
])
@pytest.mark.parametrize("consume", [True, False])
def test_a_folder_source_over_the_bots_own_folders_is_refused(tmp_path, source, key, consume):
    # Accepted: the bot dreamt its own dreams (and with consume, moved its files to done/).
    path = tiny_config(tmp_path, sources=_folder_source(source, consume),
                       extra='[publishers.outbox]\npath = "pub"\n' if key.startswith("publishers") else "")
    lines = [line for line in _problems(path) if line.startswith("sources[0].path:")]
    assert len(lines) == 1 and key in lines[0] and "own" in lines[0], _problems(path)


def test_a_folder_source_reached_by_a_symlink_or_home_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    for source in ("link", "~/data", str(tmp_path / "link" / "outbox")):
        path = tiny_config(tmp_path, sources=_folder_source(source))
        lines = [line for line in _problems(path) if line.startswith("sources[0].path:")]
        assert len(lines) == 1 and "bot.data_dir" in lines[0], (source, _problems(path))


def test_a_data_dir_in_a_consuming_sources_done_folder_is_refused(tmp_path):
    # The source files each photo it took under done/: there, beside the bot's state.
    path = tiny_config(tmp_path, bot='data_dir = "inbox/done"\n', sources=_folder_source("inbox"))
    path.write_text(path.read_text().replace('data_dir = "data"\n', ""))
    lines = [line for line in _problems(path) if line.startswith("sources[0].path:")]
    assert len(lines) == 1 and "bot.data_dir" in lines[0] and "done" in lines[0], _problems(path)


@pytest.mark.parametrize("source, consume", [("inbox", True), (".", False), ("data-photos", True),
                                             ("inbox", False)])
def test_a_folder_source_beside_or_above_the_data_dir_still_loads(tmp_path, source, consume):
    # Beside it shares only a parent; above it, the source reads the files of its own folder, never
    # its subfolders, and files nothing where the bot keeps its own.
    (tmp_path / source).mkdir(exist_ok=True)
    path = tiny_config(tmp_path, sources=_folder_source(source, consume))
    assert load_config(path, need_secrets=False).sources[0].path == source


def test_check_config_refuses_a_source_over_the_data_dir(tmp_path, capsys):
    path = tiny_config(tmp_path, sources=_folder_source("data"))
    assert cli.main(["check-config", "--dry-run", "--config", str(path)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "sources[0].path:" in err and "bot.data_dir" in err, err


def test_a_source_over_the_data_dir_is_said_with_other_sections_errors(tmp_path):
    path = tiny_config(tmp_path, sources=_folder_source("data"), extra="[dive]\nevery = -1\n")
    lines = _problems(path)
    assert any(line.startswith("dive.every") for line in lines), lines
    assert any(line.startswith("sources[0].path:") and "bot.data_dir" in line for line in lines), lines


# --- 2. [recipe] seed ------------------------------------------------------------------------
def test_a_recipe_seed_loads_and_check_config_warns_it_is_chosen_per_dream(tmp_path):
    # Accepted and ignored: the picker sets each dream's seed.
    (tmp_path / "inbox").mkdir()
    path = _with_recipe(tmp_path, "seed = 42")
    load_config(path, need_secrets=False)  # it loads today: still loads
    out = io.StringIO()
    assert cli.main(["check-config", "--dry-run", "--config", str(path)], out=out) == 0
    warned = [line for line in out.getvalue().splitlines() if "recipe.seed" in line]
    assert len(warned) == 1 and "warning:" in warned[0] and "each dream" in warned[0], out.getvalue()
    assert "--recipe" in warned[0], warned  # how to make a dream again


def test_the_recipe_seed_warning_is_logged_when_the_bot_starts(tmp_path, caplog):
    (tmp_path / "inbox").mkdir()
    path = _with_recipe(tmp_path, "seed = 42")
    with caplog.at_level(logging.WARNING):
        assert cli.main(["--once", "--dry-run", "--config", str(path)], out=io.StringIO()) == 0
    assert any("recipe.seed" in r.getMessage() for r in caplog.records), caplog.text


def test_no_seed_no_warning(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "data").mkdir(mode=0o700)
    out = io.StringIO()
    assert cli.main(["check-config", "--dry-run", "--config", str(tiny_config(tmp_path))], out=out) == 0
    assert "warning:" not in out.getvalue(), out.getvalue()


# --- 3. the keys [recipe] allows -------------------------------------------------------------
def test_an_unknown_recipe_key_lists_only_the_keys_recipe_allows(tmp_path):
    lines = [line for line in _problems(_with_recipe(tmp_path, "stepz = 4")) if line.startswith("recipe")]
    assert len(lines) == 1 and "stepz" in lines[0], lines
    allowed = lines[0].split("allowed", 1)[1]
    assert " steps," in allowed and " preset," in allowed, lines  # preset is a [recipe] key too
    keys = {k.strip() for k in allowed.split(":", 1)[1].split(",")}
    assert "classes" not in keys and "stopped_at" not in keys and "balance_classes" in keys, lines
    assert "did you mean 'steps'" in lines[0], lines


# --- 4. deepdream's layer --------------------------------------------------------------------
@pytest.mark.parametrize("lines, key", [
    ('mode = "deepdream"\nlayer = "conv9"', "recipe.layer"),
    ('mode = "guide"\nguide = "{photo}"\nguide_layer = "inception_4c"', "recipe.guide_layer"),
    ('mode = "guide"\nguide = "{photo}"\nlayer = "nope"', "recipe.layer"),
])
def test_a_layer_the_model_does_not_have_is_refused_at_load(tmp_path, photo_path, lines, key):
    # Accepted: every dream failed ("model 'tiny' has no layer ...") and filed its photo under failed/.
    problems = _problems(_with_recipe(tmp_path, lines.format(photo=photo_path)))
    found = [line for line in problems if line.startswith(f"{key}:")]
    assert len(found) == 1 and "conv1, conv2, conv3, fc" in found[0], problems


@pytest.mark.parametrize("lines", ['mode = "deepdream"\nlayer = "conv3"', 'mode = "deepdream"',
                                   'layer = "not-read-in-lucid-mode"'])
def test_a_layer_the_model_has_or_does_not_read_still_loads(tmp_path, lines):
    (tmp_path / "inbox").mkdir()
    load_config(_with_recipe(tmp_path, lines), need_secrets=False)


def test_the_models_listed_layers_are_those_the_built_nets_have():
    # The names are written out per architecture so that a config is checked without building
    # a net; this keeps them true to the nets.
    from models import create_model
    from models.efficientnet_lite import build_efficientnet_lite
    from models.googlenet import build_googlenet
    from models.registry import known_layers

    nets = {"tiny": create_model("tiny"), "tiny-b": create_model("tiny-b"),
            "googlenet": build_googlenet(pretrained=False)}
    for name in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"):
        nets[name] = build_efficientnet_lite(name, pretrained=False)
    for name, net in nets.items():
        assert known_layers(name) == net.layer_names(), name
    pair = known_layers("efficientnet-lite0+lite1")
    assert pair[0] == "efficientnet-lite0:stem" and "efficientnet-lite1:block20" in pair
    assert known_layers("my-net.onnx") is None and known_layers("no-such-model") is None


def test_the_ensembles_listed_layers_are_those_it_has(monkeypatch):
    import models.efficientnet_lite as lite
    from models import create_model
    from models.registry import known_layers

    real = lite.build_efficientnet_lite
    monkeypatch.setattr(lite, "build_efficientnet_lite", lambda name, *a, **k: real(name, pretrained=False))
    assert create_model("efficientnet-lite0+lite1").layer_names() == known_layers("efficientnet-lite0+lite1")


# --- more keys that load and do nothing ---------------------------------------------------------
def _warnings(path) -> list[str]:
    from bot.config.config_warnings import config_warnings

    return config_warnings(load_config(path, need_secrets=False))


@pytest.mark.parametrize("key, value", [("frames", "24"), ("zoom", "1.05"), ("rotate", "0.5")])
def test_a_recipe_camera_key_is_a_warning_pointing_at_dive(tmp_path, key, value):
    # Accepted and ignored: a still is one picture, and [dive] sets a dive's frames and camera.
    path = _with_recipe(tmp_path, f"{key} = {value}")
    found = [line for line in _warnings(path) if line.startswith(f"recipe.{key}:")]
    assert len(found) == 1 and f"dive.{key}" in found[0], found


@pytest.mark.parametrize("lines, key", [
    ('layer = "conv3"', "recipe.layer"),                     # lucid reads the classes
    ('guide_layer = "conv3"', "recipe.guide_layer"),
    ('mode = "deepdream"\nguide = "{photo}"', "recipe.guide"),
])
def test_a_layer_or_guide_the_mode_does_not_read_is_a_warning(tmp_path, photo_path, lines, key):
    path = _with_recipe(tmp_path, lines.format(photo=photo_path))
    found = [line for line in _warnings(path) if line.startswith(f"{key}:")]
    assert len(found) == 1 and "mode" in found[0], _warnings(path)


@pytest.mark.parametrize("lines", ['mode = "deepdream"\nlayer = "conv3"', 'mode = "guide"\nguide = "{photo}"\n'
                                   'guide_layer = "conv3"', 'mode = "guide"\nguide = "{photo}"\nlayer = "conv3"'])
def test_a_layer_the_mode_reads_is_no_warning(tmp_path, photo_path, lines):
    assert _warnings(_with_recipe(tmp_path, lines.format(photo=photo_path))) == []


# --- an outbox holding the data folder -----------------------------------------------------------
@pytest.mark.parametrize("outbox, data", [("data", "data"), ("pub", "pub/data")])
def test_an_outbox_holding_the_data_folder_is_a_warning(tmp_path, outbox, data):
    # The outbox is the folder meant to be served: serving it served the database and the requests.
    path = tiny_config(tmp_path, extra=f'[publishers.outbox]\npath = "{outbox}"\n')
    path.write_text(path.read_text().replace('data_dir = "data"', f'data_dir = "{data}"'))
    found = [line for line in _warnings(path) if line.startswith("publishers.outbox.path:")]
    assert len(found) == 1 and "bot.data_dir" in found[0], _warnings(path)


def test_an_outbox_beside_or_in_the_data_folder_is_no_warning(tmp_path):
    for outbox in ("pub", "data/outbox"):
        path = tiny_config(tmp_path, extra=f'[publishers.outbox]\npath = "{outbox}"\n')
        assert [w for w in _warnings(path) if "outbox" in w] == [], outbox


def test_a_folder_source_beside_the_bots_folders_in_its_data_folder_loads(tmp_path):
    # A container's one writable volume holds both: data_dir = "/data", the inbox "/data/inbox".
    # The source reads only its own folder, never the bot's dreams/ or requests/ beside it.
    path = tiny_config(tmp_path, sources=_folder_source("data/inbox"))
    load_config(path, need_secrets=False)


def test_a_value_where_a_table_belongs_is_not_shown_back(tmp_path):
    # A token pasted as `mastodon = "..."` must not be printed in the error.
    path = tiny_config(tmp_path, extra='[publishers]\nmastodon = "hunter2-SECRET-token"\n')
    lines = _problems(path)
    assert any("must be one table" in line for line in lines), lines
    assert not any("hunter2" in line for line in lines), lines
