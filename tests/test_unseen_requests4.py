"""A fourth sweep of dream requests as people really send them (after test_unseen_inputs*.py and
test_requests_parse.py): pictures the bot cannot read and what the reply tells them to do, CJK and
Arabic punctuation between class names, quoted text, and other people's handles in the list.
Each test failed before the fix it guards."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.requests.replies import Refusal, dream_text, refusal_text


# --- pictures the bot cannot read: the reply says why, and what to do ---------------------------
def _png(size: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((size, size), 60).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def _jpeg(size: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((size, size), 60).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


_HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200)
_HTML = (b"<!DOCTYPE html><html><head><title>@eve@evil.example https://evil.example</title></head>"
         b"<body>photo.heic</body></html>")
_SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"></svg>'


def _refused(monkeypatch, data: bytes) -> dict:
    from bot.requests import inputs
    from bot.sources.fetch import FetchPolicy

    class Got:
        pass

    Got.data = data
    monkeypatch.setattr(inputs, "fetch", lambda url, policy: Got())
    with pytest.raises(inputs.Refuse) as info:
        inputs.load(FetchPolicy(), 16_000_000, "https://files.example/@eve/photo.heic")
    assert info.value.kind is Refusal.BAD_IMAGE
    return info.value.details


@pytest.mark.parametrize("data, says", [
    (_HEIC, ["HEIC", "JPEG or PNG", "Most Compatible"]),
    (_HTML, ["web page, not a picture"]),
    (b"<html><body>moved</body></html>", ["web page, not a picture"]),
    (_SVG, ["SVG"]),
    (b"hello, this is just a note\n", ["not a picture"]),
    (b"%PDF-1.7\n" + bytes(100), ["not a picture"]),
    (_png()[:300], ["cut short", "again"]),  # header whole, pixels cut
    (_jpeg()[:2000], ["cut short", "again"]),
    (_png()[:20], ["cut short", "again"]),  # the header itself cut
])
def test_a_picture_the_bot_cannot_read_gets_a_reply_that_says_what_to_do(monkeypatch, data, says):
    # Before: "it is not a picture I can read" or "it is damaged or not a photo format I know"
    # for all of these, though the loader knew which it was.
    details = _refused(monkeypatch, data)
    reply = refusal_text("ann", Refusal.BAD_IMAGE, "https://bots.example/@dreambot/1", **details)
    for words in says:
        assert words in reply
    assert "not a picture I can read" not in reply and "not a photo format I know" not in reply
    # nothing of the file, its name or its address comes back, and ann is the only one mentioned
    for echo in ("eve", "evil", "photo.heic", "files.example", "moved", "note"):
        assert echo not in reply
    assert reply.count("@") == 2 and reply.startswith("@ann ")  # @ann, and the link's /@dreambot/
    assert len(reply) < 400


def test_a_reply_about_an_unreadable_picture_does_not_say_send_a_photo_twice(monkeypatch):
    reply = refusal_text("ann", Refusal.BAD_IMAGE, "ref", **_refused(monkeypatch, _HEIC))
    assert reply.count("JPEG") == 1


def test_the_other_bad_image_replies_still_say_what_to_send():
    reply = refusal_text("ann", Refusal.BAD_IMAGE, "ref", detail="it is at an address I cannot download from")
    assert "cannot download from" in reply and "JPEG, PNG or WebP" in reply
    assert "JPEG, PNG or WebP" in refusal_text("ann", Refusal.BAD_IMAGE, "ref")


def test_the_loader_says_why_as_a_reason_the_bot_can_word_itself():
    # The bot words its own replies (the loader's message names the file and quotes its bytes);
    # the reason is what it goes by.
    from dreamer.image_io import ImageError, load_image

    for data, reason in ((_HEIC, "heic"), (_HTML, "web_page"), (_SVG, "svg"), (_png()[:300], "truncated"),
                         (b"just text", "not_a_picture")):
        with pytest.raises(ImageError) as info:
            load_image(data, name="x")
        assert info.value.reason == reason, data[:20]


# --- CJK and Arabic punctuation between class names ------------------------------------------
def _wishes(text: str, **status):
    from bot.requests.inputs import labels
    from bot.requests.parse import parse_request, request_text

    got = parse_request(request_text({"content": f"<p>{text}</p>", "mentions": [], **status}).text, labels(),
                        max_classes=3)
    return [(w.name, w.weight) for w in got.wishes], got.random_count, got.left_out


@pytest.mark.parametrize("sep", ["\u3001", "\uff0c", "\u060c", "\u3002", "\uff64", "\uff61"])
@pytest.mark.parametrize("text", [
    "goldfish{}stingray", "goldfish:2{}stingray:0.5", "goldfish:0.5{}stingray", "1{}5",
    "black and gold garden spider{}goldfish", "goldfish{}surprise me", "goldfish{}random",
    "goldfish{} stingray", "goldfish{}",
])
def test_cjk_and_arabic_commas_and_full_stops_separate_class_names(sep, text):
    # Before: "goldfish:2、stingray:0.5" lost goldfish's weight, "goldfish:0.5、stingray" was a
    # bad weight "0 5 stingray", "1、5" named no class, "goldfish、random" left "random" out.
    assert _wishes(text.format(sep)) == _wishes(text.format(","))


def test_a_misspelling_after_an_ideographic_comma_is_still_reported():
    from bot.requests.parse import RequestError

    with pytest.raises(RequestError) as info:
        _wishes("goldfsh\u3001stingray")
    assert info.value.kind == Refusal.UNKNOWN and info.value.term == "goldfsh"


# --- quoted text is not the request --------------------------------------------------------------
_ALICE = ('<span class="h-card"><a href="https://other.example/@alice" class="u-url mention">'
          '@<span>alice</span></a></span>')


@pytest.mark.parametrize("html", [
    "<blockquote><p>@alice stingray</p></blockquote><p>goldfish</p>",
    f"<blockquote><p>{_ALICE} stingray please</p></blockquote><p>goldfish</p>",
    "<p>goldfish</p><blockquote>stingray</blockquote>",
    "<p>&gt; @alice stingray<br>goldfish</p>",
    "<p>&gt;stingray</p><p>goldfish</p>",
    "<p>&gt; &gt; stingray<br>&gt; peacock<br>goldfish</p>",
    "<p>goldfish<br>&gt; @alice: stingray</p>",
])
def test_quoted_words_are_not_the_request(html):
    # Before: the quoted "stingray" was dreamt too (or "alice stingray" refused the request).
    from bot.requests.inputs import labels
    from bot.requests.parse import parse_request, request_text

    text = request_text({"content": html, "mentions": []}).text
    assert [w.name for w in parse_request(text, labels(), max_classes=3).wishes] == ["goldfish"]


def test_a_request_that_is_all_quote_asks_which_classes():
    from bot.requests.inputs import labels
    from bot.requests.parse import RequestError, parse_request, request_text

    text = request_text({"content": "<blockquote><p>stingray</p></blockquote>", "mentions": []}).text
    with pytest.raises(RequestError) as info:
        parse_request(text, labels(), max_classes=3)
    assert info.value.kind == Refusal.NO_CLASSES


def test_a_greater_than_sign_inside_a_line_is_no_quote():
    assert _wishes("goldfish &gt; stingray")[0] == [("goldfish", 1.0), ("stingray", 1.0)]
    bot = ('<span class="h-card"><a href="https://bots.example/@dreambot" class="u-url mention">'
           '@<span>dreambot</span></a></span>')
    assert _wishes(f"{bot} &gt; goldfish")[0] == [("goldfish", 1.0)]  # pointing at it, after the mention


# --- someone else's handle in the class list ---------------------------------------------------
@pytest.mark.parametrize("text", [
    "goldfish, @alice", "goldfish and @alice@other.example", "@alice stingray, goldfish",
    "goldfish @alice", "goldfish, @Alice_B.", "goldfish, @alice, @bob@other.example",
])
def test_a_handle_not_mentioned_is_left_out_silently(text):
    # Before: "I don't know the class alice" (or "alice other example") refused the request.
    wishes, _, left_out = _wishes(text)
    assert [n for n, _ in wishes if n != "stingray"] == ["goldfish"]
    assert not any("alice" in words.lower() or "bob" in words for words, _ in left_out)
    reply = dream_text("ann", [n for n, _ in wishes], "ref", left_out)
    assert reply.count("@") == 1 and "alice" not in reply.lower()


def test_a_handle_alone_asks_which_classes_and_mentions_nobody():
    from bot.requests.parse import RequestError

    with pytest.raises(RequestError) as info:
        _wishes("@alice@other.example")
    assert info.value.kind == Refusal.NO_CLASSES
    reply = refusal_text("ann", info.value.kind, "ref", **info.value.reply_details())
    assert reply.count("@") == 1 and "alice" not in reply


@pytest.mark.parametrize("text, n", [("@cats", 12), ("@sea creatures", 12), ("@Dogs please", 100)])
def test_a_group_is_still_a_group(text, n):
    from bot.requests.inputs import labels
    from bot.requests.parse import parse_request

    got = parse_request(text, labels(), max_classes=1000)
    assert len(got.wishes) >= n and not got.left_out


# --- what followers write: plurals and counts ---------------------------------------------------
@pytest.mark.parametrize("text, names", [
    ("stingrays and a goldfish", ["stingray", "goldfish"]),
    ("a goldfish and two stingrays", ["goldfish", "stingray"]),
    ("goldfishes", ["goldfish"]),
    ("jellyfishes, please", ["jellyfish"]),
    ("a couple of peacocks", ["peacock"]),
    ("geese", ["goose"]),
    ("great white sharks and some daisies", ["great white shark", "daisy"]),
    ("two goldfish", ["goldfish"]),
    ("three goldfish and a stingray", ["goldfish", "stingray"]),
])
def test_a_plural_or_a_count_names_the_class(text, names):
    # Before: "stingrays and a goldfish" was refused ("I don't know the class stingrays"),
    # "a couple of peacocks" too, and "two goldfish" told the requester it left out "two".
    wishes, _, left_out = _wishes(text)
    assert [n for n, _ in wishes] == names and left_out == ()


@pytest.mark.parametrize("text, suggested", [("some butterflies please", "monarch"), ("wolves", "timber wolf"),
                                             ("foxes", "red fox")])
def test_a_plural_of_no_class_suggests_the_classes_its_singular_is_like(text, suggested):
    # Before: "Which creatures should I dream into it?", as if no animal had been named.
    from bot.requests.parse import RequestError

    with pytest.raises(RequestError) as info:
        _wishes(text)
    assert info.value.kind == Refusal.UNKNOWN
    assert suggested in [n for _, n in info.value.suggestions]


def test_a_name_that_ends_in_s_stays_itself():
    # the plural is tried only where the word names no class as written
    assert _wishes("sunglasses, hens")[0] == [("sunglasses", 1.0), ("hen", 1.0)]


def test_a_post_that_is_all_quote_lines_is_read_as_the_request():
    # "> goldfish" typed alone (an arrow, or quoting what they want) was a request before quotes
    # were skipped; with nothing of the sender's own besides, it still is.
    assert _wishes("&gt; goldfish")[0] == [("goldfish", 1.0)]
    assert _wishes("&gt; goldfish<br>&gt; stingray")[0] == [("goldfish", 1.0), ("stingray", 1.0)]


def test_a_list_label_only_where_a_list_starts():
    # "goldfish id:2" was goldfish at weight 2 before labels were read; a label inside a term is
    # that class's words, at the start of the text or after a separator a list's label.
    assert _wishes("goldfish id:2")[0] == [("goldfish", 2.0)]
    assert _wishes("dream classes: goldfish, stingray")[0] == [("goldfish", 1.0), ("stingray", 1.0)]
    assert _wishes("classes: 1,5")[0] == [("goldfish", 1.0), ("electric ray", 1.0)]


def test_a_number_word_joined_by_a_hyphen_is_part_of_the_name():
    from bot.requests.parse import RequestError

    # ImageNet has the three-toed sloth only; "two-toed sloth" is that name misremembered, and the
    # reply names it whole (not "toed sloth", as when "two" was taken for a count)
    with pytest.raises(RequestError) as info:
        _wishes("two-toed sloth")
    assert info.value.term == "two-toed sloth" and "three-toed sloth" in str(info.value.reply_details())
    assert _wishes("three-toed sloth")[0] == [("three-toed sloth", 1.0)]
