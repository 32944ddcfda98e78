"""Class combos (pool, weights, no-repeat, seed) and captions / alt text / fitting to limits."""
from __future__ import annotations

import random
import re

import pytest

from bot.caption import credit_line, fit_text, make_caption, words
from bot.config import CaptionSection, PickerSection
from bot.picker import Picker, PickError, human_name, pool
from bot.sources.base import Credit
from models.labels import imagenet

LABELS = imagenet()


def test_pool_from_allow_groups_minus_deny():
    cfg = PickerSection(allow=["goldfish", "1-3"], groups=["cats"], deny=["tiger cat", "2"])
    ids = pool(cfg, LABELS)
    assert 1 in ids and 3 in ids and 2 not in ids
    assert set(LABELS.group("cats")) - {LABELS.resolve("tiger cat")[0]} <= set(ids)
    assert LABELS.resolve("tiger cat")[0] not in ids
    assert len(pool(PickerSection(deny=["@dogs"]), LABELS)) == 1000 - len(LABELS.group("dogs"))


def test_combos_respect_counts_and_weights():
    p = Picker(PickerSection(min_classes=2, max_classes=3, weight_min=0.5, weight_max=0.8), LABELS)
    rng = random.Random(1)
    sizes = set()
    for _ in range(200):
        c = p.pick([], rng)
        sizes.add(len(c.class_ids))
        assert list(c.class_ids) == sorted(set(c.class_ids))
        assert all(0.5 <= w <= 0.8 for w in c.weights)
        assert 0 <= c.seed < 2**31
    assert sizes == {2, 3}


def test_no_combo_repeats_within_the_window():
    cfg = PickerSection(allow=["goldfish", "stingray", "peacock"], min_classes=1, max_classes=1, no_repeat=2)
    p = Picker(cfg, LABELS)
    recent: list[str] = []
    seen = []
    for i in range(30):
        c = p.pick(recent[-cfg.no_repeat:], random.Random(i))
        assert c.key not in recent[-cfg.no_repeat:]
        recent.append(c.key)
        seen.append(c.key)
    # with 3 classes and a window of 2, the picks cycle through all three
    assert len(set(seen)) == 3
    with pytest.raises(PickError, match="lower picker.no_repeat"):
        p.pick([c for c in {k for k in seen}], random.Random(0))


def test_no_repeat_zero_allows_repeats():
    p = Picker(PickerSection(allow=["goldfish"], no_repeat=0), LABELS)
    assert p.pick(["1"], random.Random(0)).class_ids == (1,)


def test_ambiguous_names_become_ids_in_the_recipe_and_clear_in_captions():
    p = Picker(PickerSection(allow=["134", "goldfish"], min_classes=2, max_classes=2), LABELS)
    c = p.pick([], random.Random(0))
    assert c.recipe_classes(LABELS).keys() == {"134", "goldfish"}
    assert c.names(LABELS) == ["goldfish", "crane bird"]
    assert human_name(517, LABELS) == "construction crane"
    # and the recipe terms resolve back to exactly these classes
    from models.labels import resolve_weights

    assert sorted(resolve_weights(c.recipe_classes(LABELS), LABELS)) == [1, 134]


# --- captions ---------------------------------------------------------------------------------
CREDIT = Credit(title="Fort Denison", author="Jo Bloggs", link="https://photos.example/fd", licence="CC BY 4.0")


def test_caption_has_names_credit_note_and_hashtags():
    cap = make_caption(CaptionSection(hashtags=["deepdream", "#lucid dream"]), bot="B",
                       class_names=["goldfish", "great white shark"], credit=CREDIT, description=None)
    lines = cap.text.split("\n")
    assert lines[0] == "goldfish × great white shark"
    assert "Source photo: “Fort Denison” by Jo Bloggs (CC BY 4.0) https://photos.example/fd" in lines
    assert CaptionSection().note in cap.text
    assert lines[-1] == "#deepdream #lucidDream"
    assert cap.tags == ("deepdream", "lucid dream")
    assert cap.alt_text == ("Machine-made picture: a neural network dreamt goldfish and great white shark into "
                            "the photo “Fort Denison”; their shapes and textures show all over the scene.")


def test_missing_credit_leaves_no_holes_and_alt_uses_description():
    cap = make_caption(CaptionSection(hashtags=[]), bot="B", class_names=["stingray"], credit=Credit(),
                       description="a harbour at dusk")
    assert "\n\n\n" not in cap.text and not cap.text.endswith("\n")
    assert "Source photo" not in cap.text
    assert cap.text.startswith("stingray\n\n")
    assert "a photo of a harbour at dusk" in cap.alt_text and "stingray" in cap.alt_text


def test_custom_template_fields():
    sec = CaptionSection(template="{bot}: {classes_words} in {title} ({licence}) seed {seed} [{model}]",
                         alt_template="{description} + {classes}")
    cap = make_caption(sec, bot="Dreamer", class_names=["a", "b", "c"], credit=CREDIT, description=None,
                       model="tiny", seed=42)
    assert cap.text == "Dreamer: a, b and c in Fort Denison (CC BY 4.0) seed 42 [tiny]"
    assert cap.alt_text == "the photo “Fort Denison” + a × b × c"


def test_words_and_credit_line():
    assert words([]) == "" and words(["a"]) == "a" and words(["a", "b"]) == "a and b"
    assert credit_line(Credit(link="file:///home/me/x.jpg")) == ""  # local paths are not shown
    assert credit_line(Credit(author="Ann")) == "Source photo: by Ann"


def test_fit_text_to_limits():
    text = "goldfish × shark\n\nSource photo: a very long credit line " + "word " * 100
    for limit in (10, 50, 137, 500):
        out = fit_text(text, limit)
        assert len(out) <= limit and out.endswith("…")
        assert text.startswith(out[:-1].rstrip())
    assert fit_text("short", 10) == "short"
    assert fit_text("abc", 0) == ""
    # a platform that counts every URL as 23 characters
    def masto(s: str) -> int:
        return len(re.sub(r"https?://\S+", "x" * 23, s))

    linky = "see https://example.org/" + "a" * 100 + " and more words here"
    out = fit_text(linky, 40, length=masto)
    assert masto(out) <= 40 and "https://example.org/" in out


def test_a_credit_without_author_or_link_says_where_the_photo_came_from():
    credit = Credit(title="coffee", origin="coffee.jpg in the folder “photos”")
    assert credit_line(credit) == "Source photo: “coffee” — coffee.jpg in the folder “photos”, author not given"
    # an author or a link is the better credit: the origin then stays out of the way
    assert "folder" not in credit_line(Credit(title="coffee", author="Ann", origin="x in the folder “p”"))


# --- a randomise dream ------------------------------------------------------------------------
def test_a_randomise_dream_names_no_class_it_did_not_dream():
    # Captioned "goldfish × great white shark", though randomise never reads the picker's classes.
    cap = make_caption(CaptionSection(hashtags=[]), bot="B", class_names=["goldfish", "great white shark"],
                       credit=CREDIT, description=None, mode="randomise")
    assert cap.text.split("\n")[0] == "a random dream"
    assert cap.alt_text == ("Machine-made picture: a neural network dreamt a random mix of everything it can "
                            "recognise into the photo “Fort Denison”; their shapes and textures show all over "
                            "the scene.")
    assert "goldfish" not in cap.text + cap.alt_text and "shark" not in cap.text + cap.alt_text


def test_deepdream_and_guide_dreams_say_what_was_dreamt_not_the_pickers_classes():
    from dreamer.places import ClassPlace, Places

    # Places the engine never measures for these modes: were they to come (a queue's), they
    # still name the picker's class, which was not dreamt.
    places = Places((ClassPlace(1, "goldfish", (0.0,) * 9, (False,) * 9),), "tiny")
    kw = dict(bot="B", class_names=["goldfish", "great white shark"], credit=CREDIT, description=None,
              places=places, names={1: "goldfish"})
    deep = make_caption(CaptionSection(hashtags=[]), mode="deepdream", **kw)
    assert deep.text.split("\n")[0] == "a deep dream"
    assert deep.alt_text == ("Machine-made picture: a neural network dreamt amplified patterns it already sees "
                             "into the photo “Fort Denison”; their shapes and textures show all over the scene.")
    guided = make_caption(CaptionSection(hashtags=[]), mode="guide", guide="/home/op/private dir/#storm clouds.jpg",
                          **kw)
    assert guided.text.split("\n")[0] == "a dream guided by “#\u2060storm clouds”"  # its name, inert, no path
    assert "the look of the picture “#\u2060storm clouds” into the photo “Fort Denison”" in guided.alt_text
    for cap in (deep, guided):
        assert "goldfish" not in cap.text + cap.alt_text and "shark" not in cap.text + cap.alt_text
        assert "home" not in cap.text + cap.alt_text and "private" not in cap.text + cap.alt_text
    assert make_caption(CaptionSection(hashtags=[]), mode="guide", **kw).text.split("\n")[0] == "a guided dream"
    # a lucid dream still names its classes, and where they grew
    lucid = make_caption(CaptionSection(hashtags=[]), **kw)
    assert lucid.text.split("\n")[0] == "goldfish × great white shark" and "goldfish hardly shows" in lucid.alt_text


@pytest.mark.parametrize("mode, recipe, first_line, alt", [
    ("randomise", "", "a random dream", "a random mix of everything it can recognise into the photo “harbour”"),
    ("deepdream", 'layer = "conv2"\n', "a deep dream", "amplified patterns it already sees into the photo “harbour”"),
    ("guide", 'guide = "{guide}"\nguide_layer = "conv2"\n', "a dream guided by “clouds”",
     "the look of the picture “clouds” into the photo “harbour”"),
])
def test_a_cycle_of_a_mode_without_classes_posts_and_logs_no_class_of_the_pickers(
        tmp_path, caplog, mode, recipe, first_line, alt):
    import io
    import json
    import logging

    from bot import cli
    from bot.config import load_config
    from bot_helpers import tiny_config, write_photo

    path = tiny_config(tmp_path)
    guide = write_photo(tmp_path / "guides" / "clouds.png", 7)
    path.write_text(path.read_text().replace(
        'model = "tiny"', f'model = "tiny"\nmode = "{mode}"\n' + recipe.format(guide=guide.as_posix())))
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    caplog.set_level(logging.INFO, logger="bot.pipeline")
    out = io.StringIO()
    assert cli.main(["--once", "--config", str(path)], out=out) == 0
    cfg = load_config(path)
    [post] = [json.loads(p.read_text()) for p in cfg.outbox_dir.glob("*.json")]
    assert post["caption"].split("\n")[0] == first_line
    assert alt in post["alt_text"]
    # the operator's side says the mode too: the --once line and the log
    assert f"dream 1: {first_line}; outbox confirmed" in out.getvalue()
    assert f"dreaming {first_line} into harbour from inbox" in caplog.messages
    said = post["caption"] + post["alt_text"] + out.getvalue() + "\n".join(caplog.messages)
    assert "guides" not in said  # the guide's name, never its path
    for name in ("goldfish", "stingray", "peacock", "ostrich"):
        assert name not in said, said
