"""Operator configs nobody had tried: each once gave a traceback, an unclear line, or was
accepted and then failed every cycle; now each gets a line naming the key and what is allowed
(or simply works)."""
from __future__ import annotations

import io
import json

import pytest

from bot import cli
from bot.config import ConfigError, check_file, load_config
from bot_helpers import tiny_config


def _problems(path) -> list[str]:
    """The lines load_config refuses the file with, less the file's name in front."""
    with pytest.raises(ConfigError) as info:
        load_config(path, need_secrets=False)
    return [line.removeprefix(f"{path}: ") for line in info.value.problems]


def _check(path, capsys) -> tuple[int, str]:
    code = cli.main(["check-config", "--dry-run", "--config", str(path)], out=io.StringIO())
    return code, capsys.readouterr().err


# --- the file itself -----------------------------------------------------------------------
def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path):
    # Windows editors (Notepad) may start a UTF-8 file with a BOM, which tomllib calls
    # "Invalid statement (at line 1, column 1)".
    path = tiny_config(tmp_path)
    (tmp_path / "inbox").mkdir()
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_config(path, need_secrets=False).bot.name == "Test Bot"
    assert check_file(path, need_secrets=False)[1] == []


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_file_not_saved_as_utf8_says_to_save_it_so(tmp_path, encoding):
    path = tiny_config(tmp_path, bot='reload_check_seconds = 0\nname = "Rêve"\n')
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    lines = _problems(path)
    assert len(lines) == 1 and "save it as UTF-8" in lines[0], lines


@pytest.mark.parametrize("value", ["[" * 600 + "]" * 600, "{a = " * 600 + "1" + "}" * 600])
def test_a_value_nested_too_deeply_is_an_error_not_a_traceback(tmp_path, capsys, value):
    path = tiny_config(tmp_path, extra=f"[caption]\nnote = {value}\n")
    assert any("nested too deeply" in line for line in _problems(path))
    code, err = _check(path, capsys)
    assert code == 2 and "nested too deeply" in err and "Traceback" not in err


# --- tables ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key", [
    ('[[publishers.mastodon]]\nenabled = false\n', "publishers.mastodon"),
    ('[[publishers.outbox]]\nenabled = true\n[[publishers.outbox]]\npath = "out2"\n', "publishers.outbox"),
    ('[[admin]]\nafter_failures = 2\n', "admin"),
    ('fetch = "default"\n', "fetch"),
])
def test_a_table_written_as_an_array_or_a_value_says_it_must_be_one_table(tmp_path, text, key):
    path = tiny_config(tmp_path)
    path.write_text(text + path.read_text())
    lines = [line for line in _problems(path) if line.startswith(f"{key}:")]
    assert len(lines) == 1 and "must be one table" in lines[0] and f"[{key}]" in lines[0], lines
    assert "instance of" not in lines[0] and "dictionary" not in lines[0]


def test_a_source_written_as_a_string_says_it_must_be_a_table(tmp_path):
    path = tiny_config(tmp_path, sources='sources = ["inbox"]\n')
    path.write_text('sources = ["inbox"]\n' + path.read_text().replace('sources = ["inbox"]\n', ""))
    lines = [line for line in _problems(path) if line.startswith("sources[0]:")]
    assert len(lines) == 1 and "[[sources]]" in lines[0] and "extract fields" not in lines[0], lines


def test_an_empty_sources_list_says_to_add_a_source(tmp_path):
    path = tiny_config(tmp_path, sources="")
    path.write_text("sources = []\n" + path.read_text())
    lines = _problems(path)
    assert any(line.startswith("sources:") and "[[sources]]" in line for line in lines), lines
    assert not any("after validation" in line for line in lines), lines


# --- values ----------------------------------------------------------------------------------
def test_guide_mode_without_a_guide_is_refused_at_load(tmp_path):
    # Accepted, every dream failed ("guide mode needs a guide image") and filed its photo
    # under failed/.
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace('model = "tiny"', 'model = "tiny"\nmode = "guide"'))
    lines = _problems(path)
    assert any(line.startswith("recipe.guide:") and "guide" in line for line in lines), lines


def test_guide_mode_with_a_guide_still_loads(tmp_path, photo_path):
    (tmp_path / "inbox").mkdir()
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace('model = "tiny"', f'model = "tiny"\nmode = "guide"\nguide = "{photo_path}"'))
    assert load_config(path, need_secrets=False).base_recipe().guide == str(photo_path)


@pytest.mark.parametrize("agent", ["Dream\U0001f319Bot/1.0", "DreamBot\nX-Evil: 1", " DreamBot", "Dream\x01Bot"])
def test_a_user_agent_no_http_request_can_carry_is_refused(tmp_path, agent):
    # An emoji made every fetch a UnicodeEncodeError (a traceback each cycle), a line break
    # an "invalid header" on every fetch.
    path = tiny_config(tmp_path, extra=f"[fetch]\nuser_agent = {json.dumps(agent, ensure_ascii=False)}\n")
    lines = _problems(path)
    assert any(line.startswith("fetch.user_agent:") for line in lines), lines


@pytest.mark.parametrize("agent", ["Rêve/1.0 (+https://bot.example)", "", "Dream\tBot "])
def test_a_user_agent_requests_can_send_still_loads(tmp_path, agent):
    (tmp_path / "inbox").mkdir()
    path = tiny_config(tmp_path, extra=f"[fetch]\nuser_agent = {json.dumps(agent, ensure_ascii=False)}\n")
    assert load_config(path, need_secrets=False).fetch.user_agent == agent


def test_a_caption_field_with_a_format_spec_says_the_spec_is_the_problem(tmp_path):
    path = tiny_config(tmp_path, extra='[caption]\ntemplate = "{classes} {seed:>10}"\n')
    lines = [line for line in _problems(path) if line.startswith("caption.template:")]
    assert len(lines) == 1 and "{seed:>10}" in lines[0] and "unknown field {seed}" not in lines[0], lines


def test_an_env_name_written_with_a_dollar_says_to_drop_it(tmp_path):
    path = tiny_config(tmp_path, extra='[publishers.mastodon]\naccess_token_env = "$MY_TOKEN"\n')
    lines = [line for line in _problems(path) if line.startswith("publishers.mastodon.access_token_env:")]
    assert len(lines) == 1 and "without the $" in lines[0] and "MY_TOKEN" in lines[0], lines


def test_a_single_sources_table_says_to_use_two_brackets(tmp_path):
    path = tiny_config(tmp_path, sources='[sources]\ntype = "folder"\npath = "inbox"\n')
    assert "sources: must be a list of tables: write each source as [[sources]], with two brackets" in _problems(path)


def test_an_empty_name_says_it_must_not_be_empty(tmp_path):
    path = tiny_config(tmp_path, bot='reload_check_seconds = 0\n').read_text().replace('name = "Test Bot"', 'name = ""')
    (tmp_path / "bot.toml").write_text(path)
    assert any(line.startswith("bot.name: must not be empty") for line in _problems(tmp_path / "bot.toml"))


def test_a_dollar_before_what_may_be_a_secret_does_not_show_it(tmp_path):
    path = tiny_config(tmp_path, extra='[publishers.mastodon]\naccess_token_env = "$q8Zr2kLp0vXn4TbW9yHc"\n')
    lines = [line for line in _problems(path) if line.startswith("publishers.mastodon.access_token_env:")]
    assert len(lines) == 1 and "without the $" in lines[0] and "q8Zr2kLp0vXn4TbW9yHc" not in lines[0], lines


# --- paths -----------------------------------------------------------------------------------
@pytest.mark.parametrize("where, key", [
    ("bot", "bot.data_dir"), ("source", "sources[0].path"), ("outbox", "publishers.outbox.path"),
    ("weights", "recipe.weights"),
])
def test_a_variable_in_a_path_is_refused_not_made_into_a_folder_of_that_name(tmp_path, monkeypatch, where, key):
    # Nothing expands $NAME: "$HOME/dreams" was a folder named "$HOME" beside the file.
    monkeypatch.setenv("DREAMS", str(tmp_path / "elsewhere"))
    (tmp_path / "inbox").mkdir()
    path = tiny_config(tmp_path, extra='[publishers.outbox]\npath = "${DREAMS}/outbox"\n' if where == "outbox" else "")
    text = path.read_text()
    text = {"bot": text.replace('data_dir = "data"', 'data_dir = "$DREAMS/data"'),
            "source": text.replace('path = "inbox"', 'path = "$DREAMS/inbox"'),
            "weights": text.replace('model = "tiny"', 'model = "tiny"\nweights = "$DREAMS/w.pt"'),
            "outbox": text}[where]
    path.write_text(text)
    lines = [line for line in _problems(path) if line.startswith(f"{key}:")]
    assert lines and "is not expanded" in lines[0], _problems(path)
    assert not (tmp_path / "$DREAMS").exists()


def test_a_dollar_that_names_no_variable_is_part_of_the_path(tmp_path):
    (tmp_path / "inbox").mkdir()
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace('data_dir = "data"', 'data_dir = "data-$5"'))
    assert load_config(path, need_secrets=False).data_dir == tmp_path / "data-$5"


@pytest.mark.parametrize("kind", ["folder", "urls"])
def test_an_empty_source_path_is_refused_not_read_as_the_configs_own_folder(tmp_path, kind):
    path = tiny_config(tmp_path, sources=f'[[sources]]\ntype = "{kind}"\npath = ""\n')
    lines = [line for line in _problems(path) if line.startswith("sources[0].path:")]
    assert len(lines) == 1 and "is empty" in lines[0], lines


def test_a_source_path_of_dot_still_reads_the_configs_folder(tmp_path):
    path = tiny_config(tmp_path, sources='[[sources]]\ntype = "folder"\npath = "."\nconsume = false\n')
    assert load_config(path, need_secrets=False).resolve(".") == tmp_path
