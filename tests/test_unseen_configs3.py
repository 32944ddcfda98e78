"""Operator configs accepted until now that could only go wrong (after test_unseen_configs2.py):
two sources on one folder, paths with a space at an end, a schedule faster than any platform
allows, a hybrid partner that is the model itself. Each is refused with a line naming the key."""
from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config
from bot_helpers import tiny_config


def _problems(path) -> list[str]:
    """The lines load_config refuses the file with, less the file's name in front."""
    with pytest.raises(ConfigError) as info:
        load_config(path, need_secrets=False)
    return [line.removeprefix(f"{path}: ") for line in info.value.problems]


def _source(name: str, path: str, consume: bool = True) -> str:
    return (f'[[sources]]\ntype = "folder"\nname = "{name}"\npath = "{path}"\n'
            f"consume = {str(consume).lower()}\nsettle_seconds = 0\n")


# --- two folder sources on one folder ---------------------------------------------------------
@pytest.mark.parametrize("first, second, moves", [
    (("inbox", "inbox"), ("nasa", "inbox"), True),
    (("inbox", "inbox"), ("nasa", "./inbox/../inbox/"), True),
    (("inbox", "inbox", False), ("nasa", "inbox", False), False),
])
def test_two_folder_sources_on_one_folder_are_refused(tmp_path, first, second, moves):
    # Accepted: both took the same photos, and consuming, moved them from under each other.
    path = tiny_config(tmp_path, sources=_source(*first) + _source(*second))
    lines = [line for line in _problems(path) if line.startswith("sources[1].path:")]
    assert len(lines) == 1, _problems(path)
    assert "source nasa" in lines[0] and "source inbox" in lines[0] and "same photos" in lines[0]
    assert ("move them" in lines[0]) == moves


def test_two_sources_on_one_folder_through_a_symlink_are_refused(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "inbox")
    path = tiny_config(tmp_path, sources=_source("inbox", "inbox") + _source("nasa", "link"))
    assert any(line.startswith("sources[1].path:") and "same photos" in line for line in _problems(path))


@pytest.mark.parametrize("filed", ["done", "failed"])
@pytest.mark.parametrize("order", ["reader second", "reader first"])
def test_a_source_on_another_sources_done_or_failed_folder_is_refused(tmp_path, filed, order):
    # It read again what the consuming source had filed there, and moved it on.
    filer, reader = _source("inbox", "inbox"), _source("nasa", f"inbox/{filed}")
    path = tiny_config(tmp_path, sources=filer + reader if order == "reader second" else reader + filer)
    key = "sources[1].path:" if order == "reader second" else "sources[0].path:"
    lines = [line for line in _problems(path) if line.startswith(key)]
    assert len(lines) == 1 and "source nasa" in lines[0] and "source inbox" in lines[0], _problems(path)
    assert f"inbox/{filed}" in lines[0] and "read them again" in lines[0]


@pytest.mark.parametrize("first, second", [
    (("inbox", "inbox"), ("nasa", "inbox/nasa")),           # a source reads only its own folder's files
    (("inbox", "inbox", False), ("nasa", "inbox/done")),    # files nothing under done/
    (("inbox", "inbox"), ("nasa", "photos")),
])
def test_folder_sources_on_folders_of_their_own_load(tmp_path, first, second):
    path = tiny_config(tmp_path, sources=_source(*first) + _source(*second))
    assert len(load_config(path, need_secrets=False).sources) == 2


# --- a path with a space at an end ------------------------------------------------------------
@pytest.mark.parametrize("old, new, key, ends", [
    ('path = "inbox"', 'path = " inbox"', "sources[0].path", "leading"),
    ('path = "inbox"', 'path = "inbox "', "sources[0].path", "trailing"),
    ('path = "inbox"', 'path = "inbox\\t"', "sources[0].path", "trailing"),
    ('data_dir = "data"', 'data_dir = " data "', "bot.data_dir", "leading and a trailing"),
    ('model = "tiny"', 'model = "tiny "', "recipe.model", "trailing"),
    ('[picker]', '[publishers.outbox]\npath = "pub "\n[picker]', "publishers.outbox.path", "trailing"),
    ('[picker]', '[queue]\nshared_dir = " shared"\n[picker]', "queue.shared_dir", "leading"),
    ('[[sources]]', '[[sources]]\ntype = "urls"\npath = "urls.txt "\n[[sources]]', "sources[0].path", "trailing"),
])
def test_a_path_with_a_space_at_an_end_is_refused(tmp_path, old, new, key, ends):
    # Accepted: "inbox " was a second folder beside "inbox", made by the bot, that no photo reached.
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace(old, new, 1))
    lines = [line for line in _problems(path) if line.startswith(f"{key}:") and "space" in line]
    assert len(lines) == 1, _problems(path)
    assert f"has a {ends} space; remove it" in lines[0]


def test_a_path_with_a_space_is_said_with_other_sections_errors(tmp_path):
    path = tiny_config(tmp_path, extra="[dive]\nevery = -1\n")
    path.write_text(path.read_text().replace('path = "inbox"', 'path = "inbox "'))
    lines = _problems(path)
    assert any(line.startswith("dive.every") for line in lines), lines
    assert any(line.startswith("sources[0].path:") and "trailing space" in line for line in lines), lines


# --- a schedule faster than any platform takes ------------------------------------------------
@pytest.mark.parametrize("minutes", ["0.0001", "0.5", "0", "-5", "nan"])
def test_an_interval_under_a_minute_is_refused(tmp_path, minutes):
    # Accepted down to 0.0001 (a cycle every 6 ms): the bot only ran into the rate limits.
    path = tiny_config(tmp_path, schedule=f"interval_minutes = {minutes}\n")
    lines = [line for line in _problems(path) if line.startswith("schedule.interval_minutes:")]
    assert len(lines) == 1, _problems(path)
    if minutes != "nan":  # nan is refused by the upper bound's check first
        assert "at least 1 minute" in lines[0] and "rate limits" in lines[0], lines


@pytest.mark.parametrize("minutes", ["1", "1.5", "240"])
def test_an_interval_of_a_minute_or_more_loads(tmp_path, minutes):
    path = tiny_config(tmp_path, schedule=f"interval_minutes = {minutes}\n")
    assert load_config(path, need_secrets=False).schedule.interval_minutes == float(minutes)


# --- a hybrid partner that is the model itself ------------------------------------------------
@pytest.mark.parametrize("lines", ['hybrid_partner = "tiny"', 'preset = "wild"\nhybrid_partner = "tiny"'])
def test_a_hybrid_partner_that_is_the_model_is_refused(tmp_path, lines):
    # Accepted: every hybrid dreamt with the same net twice, in twice the time, for nothing.
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace('model = "tiny"', f'model = "tiny"\n{lines}'))
    lines = [line for line in _problems(path) if line.startswith("recipe.hybrid_partner:")]
    assert len(lines) == 1, _problems(path)
    assert "must be a different net from model ('tiny')" in lines[0] and '"" for none' in lines[0], lines
