"""Operator configs nobody had tried: each once gave a traceback, an unclear line, or was
accepted and then failed every cycle; now each gets a line naming the key and what is allowed
(or simply works)."""
from __future__ import annotations

import io

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
