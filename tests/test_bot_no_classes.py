"""A scheduled dream of a mode that dreams no class (randomise, deepdream, guide) records none:
the picker's draw gives it only a seed. Its classes were recorded in the store, the recipe and a
dive's class_names as the post's, though captions already said "a deep dream"; everything that
reads them back (the gallery, no-repeat, remixes) takes an empty list."""
from __future__ import annotations

import io
import json

import pytest

from bot import cli
from bot.config import load_config
from bot.store import Store
from bot_helpers import tiny_config, write_photo
from dreamer.video import read_video_metadata

RECIPES = {"randomise": "", "deepdream": 'layer = "conv2"\n', "guide": 'guide = "{guide}"\nguide_layer = "conv2"\n'}
# A tiny dive: 3 frames, a dream every 2nd (keyframes 0 and 2), 2 steps each.
DIVE = "[dive]\nevery = {every}\nframes = 3\nfps = 3\nsize = 48\nglide = 2\nease = 0\nsteps = 2\n"
PICKED = ("goldfish", "stingray", "peacock", "ostrich")  # tiny_config's picker


def _bot(tmp_path, mode: str, extra: str = ""):
    path = tiny_config(tmp_path, extra=extra)
    guide = write_photo(tmp_path / "guides" / "clouds.png", 7)
    path.write_text(path.read_text().replace(
        'model = "tiny"', f'model = "tiny"\nmode = "{mode}"\n' + RECIPES[mode].format(guide=guide.as_posix())))
    return path


def _cycle(path) -> None:
    out = io.StringIO()
    assert cli.main(["--once", "--config", str(path)], out=out) == 0, out.getvalue()
    assert "outbox confirmed" in out.getvalue(), out.getvalue()


@pytest.mark.parametrize("mode", list(RECIPES))
def test_a_dream_of_a_mode_without_classes_records_none(tmp_path, mode):
    path = _bot(tmp_path, mode)
    for seed in (1, 2):  # a second cycle draws again beside the first's (empty) combo
        write_photo(tmp_path / "inbox" / f"photo{seed}.png", seed, age=100 - seed)
        _cycle(path)
    cfg = load_config(path)
    store = Store(cfg.data_dir / "bot.db")
    for dream_id in (1, 2):
        row = store.dream(dream_id)
        assert row.classes == [], row.classes
        recipe = json.loads(store._query("SELECT recipe_json FROM dreams WHERE id = ?", (dream_id,))[0][0])
        assert recipe["mode"] == mode and recipe["classes"] == {}
        sidecar = json.loads(row.file_path.with_suffix(".json").read_text())["recipe"]
        assert sidecar["classes"] == {}
    assert store.recent_combos(5) == ["", ""]
    page = (cfg.outbox_dir / "index.html").read_text()  # the gallery reads the store's rows
    assert not any(name in page for name in PICKED)


def test_a_dive_of_a_mode_without_classes_names_no_class(tmp_path):
    path = _bot(tmp_path, "deepdream", DIVE.format(every=1))
    write_photo(tmp_path / "inbox" / "photo1.png", 1)
    _cycle(path)
    store = Store(load_config(path).data_dir / "bot.db")
    row = store.dream(1)
    assert row.video_path is not None and row.classes == []
    assert json.loads(store._query("SELECT classes_json FROM dives")[0][0]) == []
    for recorded in (read_video_metadata(row.video_path)["recipe"],
                     json.loads(row.video_path.with_suffix(".json").read_text())["recipe"]):
        assert recorded["class_names"] == [] and recorded["classes"] == {}, recorded
