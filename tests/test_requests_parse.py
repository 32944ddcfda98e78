"""Dream-request parsing on real status HTML from several server kinds, and the class text."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.requests.parse import RequestError, parse_request, safe_term, split_terms, status_text
from models.labels import imagenet

FIX = Path(__file__).parent / "fixtures" / "requests"
CASES = json.loads((FIX / "cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_status_html_of_each_server(name):
    case = CASES[name]
    parsed = status_text((FIX / name).read_text(encoding="utf-8"))
    assert len(parsed.mentions) == case["mentions"]
    assert all(m.startswith("https://") for m in parsed.mentions)
    assert parsed.hashtags == case["hashtags"]
    assert parsed.text == case["text"]
    assert "dreambot" not in parsed.text and "@" not in parsed.text
    req = parse_request(parsed.text, imagenet(), max_classes=3)
    assert sorted(w.class_id for w in req.wishes) == sorted(case["classes"])
    assert req.random_count == case["random"]
    if "weights" in case:
        assert [w.weight for w in sorted(req.wishes, key=lambda w: w.class_id)] == case["weights"]


def test_entities_and_markup_are_text_not_structure():
    parsed = status_text('<p>goldfish &lt;b&gt;x&lt;/b&gt; &amp;amp; <script>alert(1)</script>stingray</p>')
    assert parsed.text == "goldfish <b>x</b> &amp; stingray"


def test_separators_case_and_emoji():
    lab = imagenet()
    for text in ("Goldfish, STINGRAY", "goldfish and stingray", "goldfish & stingray", "goldfish + stingray",
                 "goldfish x stingray", "goldfish×stingray", "🐟goldfish🐟 and 🐠 stingray!!", "goldfish\nstingray",
                 "please dream goldfish and a stingray, thanks"):
        assert sorted(w.class_id for w in parse_request(text, lab, max_classes=3).wishes) == [1, 6], text


def test_a_name_with_and_inside_stays_whole():
    req = parse_request("black and gold garden spider and goldfish", imagenet(), max_classes=3)
    names = sorted(w.name for w in req.wishes)
    assert names == ["black and gold garden spider", "goldfish"]


def test_ids_wordnet_ids_and_weights():
    req = parse_request("1:0.7, n01491361:-0.5", imagenet(), max_classes=3)
    assert {(w.class_id, w.weight) for w in req.wishes} == {(1, 0.7), (3, -0.5)}


@pytest.mark.parametrize("text,kind", [
    ("", "no_classes"), ("please!", "no_classes"), ("🐟🐠", "no_classes"),
    ("goldfsh", "unknown"), ("crane", "ambiguous"),
    ("goldfish, stingray, peacock, ostrich", "too_many"), ("@dogs", "too_many"),
    ("goldfish:9", "bad_weight"), ("goldfish:lots", "bad_weight"),
])
def test_errors_have_a_kind(text, kind):
    with pytest.raises(RequestError) as info:
        parse_request(text, imagenet(), max_classes=3)
    assert info.value.kind == kind


def test_unknown_class_carries_suggestions():
    with pytest.raises(RequestError) as info:
        parse_request("goldfsh and stingray", imagenet(), max_classes=3)
    assert (1, "goldfish") in info.value.suggestions
    assert info.value.term == "goldfsh"


def test_a_failed_term_carries_the_refusal_it_stands_for():
    """terms.py words each failed term as a Refusal (unknown or ambiguous): the request's own
    refusal is drawn from them, and the reply says each term's by it."""
    from bot.requests.replies import Refusal
    from bot.requests.terms import read_term

    lab = imagenet()
    assert [k for k, _, _ in read_term("crane", lab).failed] == [Refusal.AMBIGUOUS]
    assert [k for k, _, _ in read_term("please a stingrey", lab).failed] == [Refusal.UNKNOWN]
    with pytest.raises(RequestError) as info:
        parse_request("crane and stingrey", lab, max_classes=3)
    kinds = {t: k for k, t, _ in info.value.terms}
    assert kinds == {"crane": Refusal.AMBIGUOUS, "stingrey": Refusal.UNKNOWN}
    assert all(type(k) is Refusal for k in kinds.values()) and info.value.kind is Refusal.UNKNOWN
    said = {t: names for _, t, names in info.value.reply_details()["terms"]}
    assert all(n.endswith(")") for n in said["crane"]) and "stingray" in said["stingrey"]  # ids tell cranes apart


def test_random_counts_against_the_limit():
    lab = imagenet()
    assert parse_request("goldfish and random", lab, max_classes=2).random_count == 1
    with pytest.raises(RequestError):
        parse_request("goldfish, random, surprise me", lab, max_classes=2)


def test_safe_term_cannot_mention_tag_or_link():
    for evil in ("@everyone@evil.example", "#spam", "https://evil.example/x", "<b>hi</b>", "[x](y)"):
        out = safe_term(evil)
        assert "@" not in out and "#" not in out and "://" not in out and "<" not in out and "[" not in out


def test_split_keeps_decimal_weights():
    assert split_terms("goldfish:0.7. stingray") == ["goldfish:0.7", "stingray"]


def test_plain_text_mentions_of_listed_accounts_are_removed():
    from bot.requests.parse import request_text

    status = {"content": "<p>@dreambot @bob@other.example goldfish, @nobody</p>",
              "mentions": [{"acct": "dreambot", "username": "dreambot"}, {"acct": "bob@other.example", "username": "bob"}]}
    assert request_text(status).text == "goldfish, @nobody"


def test_every_refusal_has_a_template_that_fills():
    """Each kind of refusal says its own thing (not the how-to-ask fallback for an unknown
    kind), and its template names only fields `refusal_text` fills in."""
    from bot.requests.replies import HOW_TO_ASK, TEMPLATES, Refusal, refusal_text

    assert set(TEMPLATES) == set(Refusal)
    fallback = refusal_text("@a", "not a kind", "R")
    assert fallback == f"@a {HOW_TO_ASK.format(n=3)}\nR"
    for kind in Refusal:
        text = refusal_text("@a", kind, "R", term="t", suggestions=["s"], names=["goldfish"], detail="d", hours=2)
        assert text.startswith("@a ") and text.endswith("\nR") and "{" not in text and text != fallback, kind


@pytest.mark.parametrize("text", ["-1", "goldfish, -1", "please -1", "goldfish and -1", "-1:0.5", "\u22121", "-1-3"])
def test_a_negative_id_names_no_class(text):
    """"-1" is no class id: it is refused as an unknown term, as an id past the last class is,
    and never read as class 1 (the minus is a sign, not a dash around the term)."""
    from bot.requests.replies import Refusal, refusal_text

    with pytest.raises(RequestError) as info:
        parse_request(text, imagenet(), max_classes=3)
    assert info.value.kind is Refusal.UNKNOWN
    assert info.value.term.startswith("-1")
    assert '"-1' in refusal_text("@a", info.value.kind, "R", **info.value.reply_details())


@pytest.mark.parametrize("text,ids", [("+1", [1]), ("01", [1]), ("\uff11", [1]), ("-0", [0]),
                                      ("99999999999999999999", None), ("1.5", None), ("1e5", []), ("goldfish -1", [1])])
def test_other_numbers(text, ids):
    """Signs, leading zeros and full-width digits read as the number they write; an id past
    the last class or a fraction is an unknown term; a number inside a sentence is no class."""
    try:
        got = sorted(w.class_id for w in parse_request(text, imagenet(), max_classes=3).wishes)
    except RequestError as exc:
        got = [] if exc.kind == "no_classes" else None
    assert got == ids


@pytest.mark.parametrize("text,wishes,randoms", [
    ("goldfish:0.5 random", {(1, 0.5)}, 1),
    ("goldfish:0.5 please surprise me", {(1, 0.5)}, 1),
    ("great white shark:-0.5 random", {(2, -0.5)}, 1),
    ("goldfish:0.5 stingray:2", {(1, 0.5), (6, 2.0)}, 0),
    ("1:0.5 2", {(1, 0.5), (2, 1.0)}, 0),
    ("black and gold garden spider:0.5 goldfish", {(72, 0.5), (1, 1.0)}, 0),
    ("goldfish: stingray", {(1, 1.0), (6, 1.0)}, 0),
    # ... and it is the last class's where several are named before it
    ("stingray goldfish:0.5", {(6, 1.0), (1, 0.5)}, 0),
    ("dream a stingray and a great white shark:2 please", {(6, 1.0), (2, 2.0)}, 0),
])
def test_a_weight_ends_its_class(text, wishes, randoms):
    """"goldfish:0.5 random": the weight belongs to the class before the colon, and the words
    after it are the next term (here the bot's pick), not part of the weight."""
    req = parse_request(text, imagenet(), max_classes=3)
    assert {(w.class_id, w.weight) for w in req.wishes} == wishes
    assert req.random_count == randoms and not req.left_out


@pytest.mark.parametrize("text,wishes", [
    # words after a weight that name no class are filler, as they are after a class without one
    ("goldfish:2 for my mum", {(1, 2.0)}),
    ("goldfish:2 in the sky please", {(1, 2.0)}),
    ("goldfish:2 thanks a lot", {(1, 2.0)}),
    # a time or a ratio in a sentence is no weight
    ("goldfish please, it's for my talk at 10:30 tomorrow", {(1, 1.0)}),
    ("stingray! he is 4:0 up today", {(6, 1.0)}),
    ("goldfish (ratio 3:2 landscape)", {(1, 1.0)}),
    # a decimal comma is one comma in a weight written onto a name; more commas make a list
    ("goldfish:1,2,3", {(1, 1.0), (2, 1.0), (3, 1.0)}),
])
def test_what_follows_a_weight_is_no_class_unless_it_names_one(text, wishes):
    req = parse_request(text, imagenet(), max_classes=3)
    assert {(w.class_id, w.weight) for w in req.wishes} == wishes


def test_a_misspelt_class_after_a_weight_is_still_pointed_out():
    req = parse_request("goldfish:0.5 stingary", imagenet(), max_classes=3)
    assert {(w.class_id, w.weight) for w in req.wishes} == {(1, 0.5)}
    assert req.left_out == (("stingary", ("stingray",)),)


@pytest.mark.parametrize("text,wishes", [
    # a count is no class, as "two goldfish" is none: not left out, and "2" is no class id
    ("goldfish x2", {(1, 1.0)}), ("goldfish ×2", {(1, 1.0)}), ("goldfish×2", {(1, 1.0)}),
    ("goldfish ×2, stingray", {(1, 1.0), (6, 1.0)}), ("2x goldfish", {(1, 1.0)}),
    ("2× goldfish", {(1, 1.0)}), ("goldfish x2 and stingray x3 please", {(1, 1.0), (6, 1.0)}),
    ("goldfish:0.5 x2", {(1, 0.5)}), ("two goldfish", {(1, 1.0)}),
    # ...but a number apart from its "x" is a class id, as the README has it ("×" separates,
    # ids work), numbers on both sides of an "x" are ids, and a weight stays a weight
    ("goldfish × 6", {(1, 1.0), (6, 1.0)}), ("6 x goldfish", {(6, 1.0), (1, 1.0)}),
    ("goldfish x 6, stingray", {(1, 1.0), (6, 1.0)}),
    ("1 x 6", {(1, 1.0), (6, 1.0)}), ("goldfish:2", {(1, 2.0)}), ("goldfish id:2", {(1, 2.0)}),
    ("xylophone x2", {(642, 1.0)}), ("box turtle ×3 and lynx", {(37, 1.0), (287, 1.0)}),
])
def test_a_count_is_understood_and_dropped(text, wishes):
    req = parse_request(text, imagenet(), max_classes=3)
    assert {(w.class_id, w.weight) for w in req.wishes} == wishes
    assert not req.left_out
