"""Alt text that says where each creature grew: the engine's places (dreamer.places) in words
(bot/places_text.py), in the caption language, within the alt-text limit (bot/caption.py), and on
the bot's posts end to end (outbox, Mastodon via mastodon-mock, Tumblr's NPF body)."""
from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from bot import cli
from bot.caption import ALT_LIMIT, make_caption
from bot.config import load_config
from bot.config.sections import CaptionSection
from bot.places_text import places_sentence
from bot.publishers.base import Post
from bot.publishers.tumblr_npf import build_npf
from bot.sources.base import Credit
from bot.store import Store
from bot_helpers import tiny_config, write_photo
from dreamer.places import ClassPlace, Places

PLAIN = (True,) * 9
NOWHERE = (False,) * 9


def place(cid: int, name: str, rise: dict[int, float], seen=PLAIN) -> ClassPlace:
    return ClassPlace(cid, name, tuple(rise.get(i, 0.0) for i in range(9)), seen)


def places(*classes: ClassPlace) -> Places:
    return Places(tuple(classes), "efficientnet-lite0")


# --- the words follow the grid ---------------------------------------------------------------
@pytest.mark.parametrize("rise, words", [
    ({0: 27.0}, "goldfish shapes grow in the top left"),
    ({8: 27.0, 4: 6.0}, "goldfish shapes grow in the bottom right"),
    ({6: 24.0, 7: 27.0, 8: 21.0}, "goldfish shapes grow along the bottom"),
    ({0: 24.0, 3: 27.0, 6: 21.0}, "goldfish shapes grow down the left side"),
    ({4: 27.0, 2: 24.0}, "goldfish shapes grow in the middle and in the top right"),
    ({i: 27.0 - 0.3 * i for i in range(8)}, "goldfish shapes grow across the whole picture"),
    ({0: 27.0, 1: 27.0, 2: 27.0, 8: 28.5}, "goldfish shapes grow in the bottom right and along the top"),
])
def test_the_words_follow_the_grid(rise, words):
    assert places_sentence(places(place(1, "goldfish", rise))) == words


def test_each_class_its_own_place_in_the_recipe_order():
    p = places(place(1, "goldfish", {0: 27.0}), place(323, "monarch", {6: 12.0, 7: 15.0, 8: 12.0}))
    assert places_sentence(p) == "goldfish shapes grow in the top left; monarch shapes grow along the bottom"
    # the bot's own names for the class ids it dreamt win over the model's labels, and a class
    # it did not dream is never worded (places may come through a queue)
    assert places_sentence(p, names={323: "monarch butterfly"}) == "monarch butterfly shapes grow along the bottom"
    assert places_sentence(p, names={}) == "their shapes and textures show all over the scene"


def test_no_more_than_three_parts_strongest_first():
    p = places(place(1, "goldfish", {0: 27.0, 8: 25.5, 2: 24.0, 6: 22.5}))
    assert places_sentence(p) == "goldfish shapes grow in the top left, in the bottom right and in the top right"


def test_a_class_that_did_not_rise_is_not_claimed_plainly():
    # a rise under MIN_RISE, as much as a class not dreamt rises
    p = places(place(1, "goldfish", {0: 27.0}), place(6, "stingray", {4: 8.0}))
    text = places_sentence(p)
    assert "stingray hardly shows" in text and "stingray shapes" not in text
    assert "stingray" not in places_sentence(p, quiet=True)


def test_a_class_the_net_no_longer_finds_on_a_degraded_view_is_only_faint():
    p = places(place(6, "stingray", {4: 18.0}, seen=NOWHERE))
    assert places_sentence(p) == "faint traces of stingray show in the middle"
    # plain only where it is found: the top left rose most but is not found there
    seen = tuple(i == 4 for i in range(9))
    p = places(place(6, "stingray", {0: 27.0, 4: 21.0}, seen=seen))
    assert places_sentence(p) == "stingray shapes grow in the middle"


def test_no_places_says_what_alt_text_said_before():
    assert places_sentence(None) == "their shapes and textures show all over the scene"


@pytest.mark.parametrize("language, words", [
    ("de", "Formen von goldfish wachsen oben links"),
    ("de-AT", "Formen von goldfish wachsen oben links"),
    ("fr", "des formes de goldfish poussent en haut à gauche"),
    ("es", "formas de goldfish crecen arriba a la izquierda"),
    ("en", "goldfish shapes grow in the top left"),
    ("ja", "goldfish shapes grow in the top left"),  # no phrases: English
    (None, "goldfish shapes grow in the top left"),
])
def test_the_caption_language(language, words):
    assert places_sentence(places(place(1, "goldfish", {0: 27.0})), language=language) == words


# --- in the alt text, within the limit -------------------------------------------------------
def caption(description: str | None = "a harbour at dusk", **kw):
    return make_caption(CaptionSection(), bot="Bot", class_names=["goldfish", "monarch"],
                        credit=Credit(title="harbour", author="Ann"), description=description, **kw)


TWO = places(place(1, "goldfish", {0: 27.0}), place(323, "monarch", {6: 15.0, 7: 18.0, 8: 15.0}))


def test_the_default_alt_text_says_where_each_creature_grew():
    alt = caption(places=TWO).alt_text
    assert alt == ("Machine-made picture: a neural network dreamt goldfish and monarch into a photo of a "
                   "harbour at dusk (“harbour”); goldfish shapes grow in the top left; monarch shapes grow "
                   "along the bottom.")
    assert "all over the scene" not in alt
    assert caption(places=None).alt_text.endswith("their shapes and textures show all over the scene.")


def test_a_long_description_is_cut_before_the_places():
    alt = caption("a harbour " * 400, places=TWO).alt_text
    assert len(alt) <= ALT_LIMIT
    assert alt.endswith("; goldfish shapes grow in the top left; monarch shapes grow along the bottom.")
    assert "…" in alt


def test_fewer_parts_before_any_cut_and_the_limit_always_holds():
    many = places(place(1, "goldfish", {0: 27.0, 8: 25.5, 2: 24.0}), place(6, "stingray", {4: 0.3}))
    full = caption(places=many).alt_text
    short = caption(places=many, alt_limit=len(full) - 1).alt_text
    assert len(short) < len(full) and "…" not in short
    assert "goldfish shapes grow in the top left and in the bottom right;" in short
    for limit in (400, 150, 60, 10):
        assert len(caption("x " * 900, places=many, alt_limit=limit).alt_text) <= limit


def test_outside_description_stays_inert_beside_the_places():
    alt = caption("a boat @someone #tag", places=TWO).alt_text
    assert "@someone" not in alt and "#tag" not in alt
    assert "@\u2060someone" in alt


def test_an_own_template_may_place_the_words():
    sec = CaptionSection(alt_template="{classes_words} — {places}")
    c = make_caption(sec, bot="B", class_names=["goldfish"], credit=Credit(), description=None,
                     places=places(place(1, "goldfish", {4: 27.0})), language="de")
    assert c.alt_text == "goldfish — Formen von goldfish wachsen in der Mitte"


# --- the bot's posts carry it end to end ----------------------------------------------------
class PlacingRenderer:
    """Stands in for the engine: the photo back as the dream, and places whose evidence rose in
    the top left for the first class and along the bottom for the second."""

    parallel = 1

    def __init__(self):
        self.calls = 0

    def render(self, image, recipe):
        return image

    def render_places(self, image, recipe):
        from models.labels import imagenet, resolve_weights

        self.calls += 1
        ids = list(resolve_weights(recipe.classes, imagenet()))
        rises = [{0: 27.0}, {6: 15.0, 7: 18.0, 8: 15.0}]
        return image, places(*(place(i, imagenet().name(i), rises[k]) for k, i in enumerate(ids)))


def outbox_posts(cfg) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(cfg.outbox_dir.glob("*.json"))]


def test_posts_on_mastodon_and_outbox_carry_the_places(tmp_path, monkeypatch):
    import mastodon_mock.testing as mm  # a test extra: missing, the test fails
    import requests
    from mastodon_mock.config import SeedAccount, SeedConfig

    seed = SeedConfig(accounts=[SeedAccount(username="dreambot", access_token="bot-token-0123456789")])
    with mm.MockServer(seed=seed) as srv:
        path = tiny_config(tmp_path, picker='allow = ["goldfish", "monarch"]\nmin_classes = 2\nmax_classes = 2\n',
                           extra=(f'[publishers.mastodon]\nenabled = true\napi_base_url = "{srv.base_url}"\n'
                                  'access_token_env = "LDB_MASTO"\nlanguage = "en"\n'))
        monkeypatch.setenv("LDB_MASTO", "bot-token-0123456789")
        write_photo(tmp_path / "inbox" / "harbour.png", 1)
        renderer = PlacingRenderer()
        out = io.StringIO()
        assert cli.main(["--once", "--config", str(path)], out=out, render=renderer) == 0, out.getvalue()
        assert renderer.calls == 1
        cfg = load_config(path)
        [box] = outbox_posts(cfg)
        first, second = box["caption"].split("\n")[0].split(" × ")  # the classes in id order
        expected = f"{first} shapes grow in the top left; {second} shapes grow along the bottom."
        assert box["alt_text"].endswith(expected)
        auth = {"Authorization": "Bearer bot-token-0123456789"}
        me = requests.get(f"{srv.base_url}/api/v1/accounts/verify_credentials", headers=auth, timeout=10).json()
        [status] = requests.get(f"{srv.base_url}/api/v1/accounts/{me['id']}/statuses", headers=auth,
                                timeout=10).json()
        [media] = status["media_attachments"]
        assert media["description"] == box["alt_text"]
        # and Tumblr's post body, built from the same stored dream
        dream = Store(cfg.data_dir / "bot.db").dream(1)
        post = Post(post_id=dream.post_key, image_path=dream.file_path, caption=dream.caption,
                    alt_text=dream.alt_text, tags=dream.tags)
        [image] = [b for b in build_npf(post, mime="image/png", width=96, height=64, state="published")["content"]
                   if b["type"] == "image"]
        assert image["alt_text"].endswith(expected)


def test_the_engine_measures_the_places_of_a_real_cycle(tmp_path):
    # the tiny random net dreams and measures: whatever it made, each class is worded by the grid
    # (or said to hardly show), never the old "all over the scene"
    path = tiny_config(tmp_path, picker='allow = ["goldfish", "monarch"]\nmin_classes = 2\nmax_classes = 2\n',
                       extra='[publishers.mastodon]\nlanguage = "de"\n')
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    assert cli.main(["--once", "--config", str(path)], out=io.StringIO()) == 0
    [box] = outbox_posts(load_config(path))
    alt = box["alt_text"]
    assert "all over the scene" not in alt
    for name in ("goldfish", "monarch"):
        assert re.search(f"(Formen von {name} wachsen|schwache Spuren von {name}|{name} ist kaum zu sehen)", alt), alt
    assert Image.open(load_config(path).outbox_dir / box["image"]).size[0] > 0
