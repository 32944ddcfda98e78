"""Requests as people really write them: greetings with no class in them, class names wrapped
in filler and markup, several misspellings at once; on the parser and through the worker
against mastodon-mock."""
from __future__ import annotations

import pytest

from bot.requests.parse import RequestError, parse_request, status_text
from bot_helpers import mastodon_mock_fixtures
from models.labels import imagenet
from requests_helpers import SEED, ask, reply_text, worker_for

server, mock = mastodon_mock_fixtures(SEED)


@pytest.mark.parametrize("text", [
    "hello there", "Hello there!", "hi", "hey bot", "thanks!", "good morning", "What is this?",
    "can you dream this please", "lol", "zzzz qqqq", "<p>hi</p>", "<3", "❤️", ":)", "hello :-)", "@@@",
])
def test_no_class_words_is_no_classes(text):
    with pytest.raises(RequestError) as info:
        parse_request(text, imagenet(), max_classes=3)
    assert info.value.kind == "no_classes", info.value


@pytest.mark.parametrize("text,ids", [
    ("<b>please</b> goldfish", [1]),
    ('<span class="h-card">goldfish</span>', [1]),
    ("<p><strong>goldfish</strong></p>", [1]),
    ("&lt;p&gt;goldfish&lt;/p&gt;", [1]),
    ("**goldfish** and _stingray_", [1, 6]),
    ("[b]goldfish[/b]", [1]),
    ("`goldfish`", [1]),
    ("hey bot: goldfish", [1]),
    ("goldfish: stingray", [1, 6]),
    ("goldfish :)", [1]),
    ("can you dream a goldfish for me?", [1]),
    ("hello! i would love a great white shark please", [2]),
    ("some goldfish swimming in a bowl", [1]),
    ("2 goldfish", [1]),
    ("hen of the woods and goldfish", [1, 996]),
])
def test_words_and_markup_around_a_known_class_do_not_swallow_it(text, ids):
    req = parse_request(text, imagenet(), max_classes=3)
    assert sorted(w.class_id for w in req.wishes) == ids


def test_what_was_left_out_is_kept_to_say():
    req = parse_request("goldfish swimming stingrey", imagenet(), max_classes=3)
    assert [w.class_id for w in req.wishes] == [1]
    assert req.left_out == (("swimming stingrey", ("stingray",)),)
    req = parse_request("<b>goldfish</b> please", imagenet(), max_classes=3)
    assert req.left_out == ()  # markup and politeness are not worth a mention


@pytest.mark.parametrize("text,terms", [
    ("goldfsh and stingrey", {"goldfsh": "goldfish", "stingrey": "stingray"}),
    ("goldfsh, stingrey, peacok", {"goldfsh": "goldfish", "stingrey": "stingray", "peacok": "peacock"}),
    ("hello goldfsh stingrey", {"goldfsh": "goldfish", "stingrey": "stingray"}),
    ("goldfish and stingrey and ostrch", {"stingrey": "stingray", "ostrch": "ostrich"}),
    ("goldfsh:0.5 + stingrey", {"goldfsh": "goldfish", "stingrey": "stingray"}),
])
def test_every_misspelt_class_gets_suggestions(text, terms):
    with pytest.raises(RequestError) as info:
        parse_request(text, imagenet(), max_classes=3)
    assert info.value.kind == "unknown"
    got = {t: [n for _, n in sugg] for kind, t, sugg in info.value.terms}
    assert set(got) == set(terms), got
    for term, name in terms.items():
        assert name in got[term], (term, got[term])


def test_ambiguous_and_unknown_together():
    with pytest.raises(RequestError) as info:
        parse_request("crane and stingrey", imagenet(), max_classes=3)
    assert {(k, t) for k, t, _ in info.value.terms} == {("ambiguous", "crane"), ("unknown", "stingrey")}


def test_status_html_markup_is_text_not_a_class_name():
    text = status_text("<p>&lt;b&gt;please&lt;/b&gt; goldfish</p>").text
    assert text == "<b>please</b> goldfish"
    assert sorted(w.class_id for w in parse_request(text, imagenet(), max_classes=3).wishes) == [1]


@pytest.mark.parametrize("text", ["@dogs please", "@fish thanks"])
def test_a_group_with_filler_is_the_group(text):
    req = parse_request(text, imagenet(), max_classes=1000)
    assert len(req.wishes) > 3


# --- through the worker and mastodon-mock ------------------------------------------------------
def test_replies_to_greetings_misspellings_and_wrapped_classes(mock, tmp_path):
    worker = worker_for(tmp_path, mock)
    hello = ask(mock, "ann", "hello there")
    typos = ask(mock, "bob", "goldfsh and stingrey")
    wrapped = ask(mock, "ann", "<b>please</b> goldfish stingrey", seed=4)
    worker.tick()
    text = reply_text(mock, hello["id"])
    assert "Mention me with a photo" in text and "don't know" not in text and "hello" not in text
    text = reply_text(mock, typos["id"])
    assert "goldfsh" in text and "goldfish" in text and "stingrey" in text and "stingray" in text
    text = reply_text(mock, wrapped["id"])
    assert "dreamt with goldfish" in text and "stingrey" in text and "stingray" in text and "<b>" not in text
