"""What the bot publishes names the operator's files by their names alone: a guide picture in
a private folder reaches the outbox (and so Mastodon and Tumblr, which get the same bytes) in a
picture's or a dive's recipe as "clouds.png", never as its path; the store keeps the path, which
the bot's remixes and replays read."""
from __future__ import annotations

import io
import json
from pathlib import Path

from bot import cli
from bot.config import load_config
from bot.render.renderer import public_recipe
from bot.store import Store
from bot_helpers import tiny_config, write_photo
from dreamer import Recipe
from dreamer.image_meta import read_embedded_recipe
from dreamer.video import read_video_metadata

PRIVATE = "alice-private-stuff"  # the guide's folder: no published byte may carry it
DIVE = "[dive]\nevery = 1\nframes = 5\nfps = 5\nsize = 64\nglide = 2\nease = 0\nsteps = 2\n"


def guided_cycle(tmp_path: Path, extra: str = "") -> tuple[Path, dict, Store]:
    """One --once cycle of a guide-mode bot whose guide lies in a private folder: the guide, the
    outbox's post and the store."""
    path = tiny_config(tmp_path, extra=extra)
    guide = write_photo(tmp_path / PRIVATE / "clouds.png", 7)
    path.write_text(path.read_text().replace(
        'model = "tiny"', f'model = "tiny"\nmode = "guide"\nguide = "{guide.as_posix()}"\nguide_layer = "conv2"\n'))
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    out = io.StringIO()
    assert cli.main(["--once", "--config", str(path)], out=out) == 0, out.getvalue()
    cfg = load_config(path)
    [post] = [json.loads(p.read_text()) for p in cfg.outbox_dir.glob("*.json")]
    return guide, {**post, "folder": cfg.outbox_dir}, Store(cfg.data_dir / "bot.db")


def assert_names_only(data: bytes, guide: Path) -> None:
    assert b"clouds.png" in data, "the guide's name is not recorded"
    assert PRIVATE.encode() not in data and guide.parent.as_posix().encode() not in data, "its folder is published"


def stored_recipe(store: Store) -> dict:
    [row] = store._query("SELECT recipe_json FROM dreams")
    return json.loads(row["recipe_json"])


def test_a_guided_picture_publishes_its_guides_name_and_the_store_keeps_its_path(tmp_path):
    guide, post, store = guided_cycle(tmp_path)
    published = post["folder"] / post["image"]
    assert_names_only(published.read_bytes(), guide)
    assert read_embedded_recipe(published)["guide"] == "clouds.png"
    # the sidecar beside the dream in the data folder says the same as the picture
    sidecar = store.dream(1).file_path.with_suffix(".json")
    assert_names_only(sidecar.read_bytes(), guide)
    assert stored_recipe(store)["guide"] == guide.as_posix()


def test_a_guided_dive_publishes_its_guides_name_and_the_store_keeps_its_path(tmp_path):
    guide, post, store = guided_cycle(tmp_path, DIVE)
    video = post["folder"] / post["video"]
    for published in (video, post["folder"] / post["image"]):  # the video and its poster frame
        assert PRIVATE.encode() not in published.read_bytes(), f"{published.name} publishes the guide's folder"
    assert_names_only(video.read_bytes(), guide)
    recorded = read_video_metadata(video)["recipe"]
    assert recorded["guide"] == "clouds.png" and recorded["mode"] == "guide"
    assert not recorded.get("class_names"), "a guided dive dreams no class, so names none"
    assert_names_only(store.dream(1).video_path.with_suffix(".json").read_bytes(), guide)
    assert stored_recipe(store)["guide"] == guide.as_posix()


def test_every_file_a_recipe_names_is_published_by_its_name_and_net_names_stay():
    recipe = Recipe.from_flat(model="/home/alice/nets/deploy.prototxt", weights="/home/alice/nets/net.caffemodel",
                              guide="~/private/clouds.jpg", hybrid_partner="C:\\Users\\alice\\nets\\partner.onnx")
    public = public_recipe(recipe)
    assert (public["model"], public["weights"], public["guide"], public["hybrid_partner"]) == (
        "deploy.prototxt", "net.caffemodel", "clouds.jpg", "partner.onnx")
    assert {k: v for k, v in public.items() if k not in ("model", "weights", "guide", "hybrid_partner")} == {
        k: v for k, v in recipe.to_dict().items() if k not in ("model", "weights", "guide", "hybrid_partner")}
    for model, partner in (("efficientnet-lite0+lite1", ""), ("efficientnet-lite0", "auto"), ("tiny", "googlenet")):
        kept = public_recipe(Recipe.from_flat(model=model, hybrid_partner=partner))
        assert (kept["model"], kept["hybrid_partner"]) == (model, partner)


def test_two_nets_of_one_file_name_are_published_as_a_recipe_that_reads_back():
    # ONNX exports are often all "model.onnx": published by name, the model and its partner read
    # back as one name twice, which is no "same net beside itself" (that is a zoo name twice)
    recipe = Recipe.from_flat(model="/a/model.onnx", hybrid_partner="/b/model.onnx")
    public = public_recipe(recipe)
    assert (public["model"], public["hybrid_partner"]) == ("model.onnx", "model.onnx")
    assert Recipe.from_dict(public).views.hybrid_partner == "model.onnx"
