"""Reading a dream request: its text (bot.requests.status_html made it plain) -> classes.

Class text: names separated by commas, "and", "&", "+", "x" or "×"; case, accents and emoji
are ignored; ImageNet ids and WordNet ids work; `goldfish:0.7` sets a weight; "random" or
"surprise me" asks the bot to pick. A count ("two goldfish", "goldfish x2", "2x goldfish") is
no class and is dropped: the net dreams a class, not a number of its creatures. Every failure
is a `RequestError` whose `kind` picks the reply and whose message is safe to show (user text
in it has been through `safe_term`).
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from bot.picker import human_name

from .replies import Refusal
# status_text, request_text and StatusText are imported from here by the listener and worker
from .status_html import StatusText, drop_invisible, request_text, status_text  # noqa: F401

if TYPE_CHECKING:
    from models.labels import Labels

    from .terms import Failed

# "@bot dive goldfish", "zoom into goldfish": a dive (a short video) rather than a picture
_DIVE = re.compile(r"^\s*(?:dive|zoom)(?:\s+(?:in|into|on|with))?\b[\s:,.!-]*", re.I)
RANDOM_WORDS = ("random", "surprise me", "surprise", "anything", "dealer's choice")
# Words people wrap around class names; dropped at the start or end of a term.
_FILLER_START = ("please ", "pls ", "dream ", "me ", "a ", "an ", "the ", "some ", "with ", "of ", "into ")
_FILLER_END = (" please", " pls", " thanks", " thank you", " thx", " pretty please")
_HARD_SEPARATORS = re.compile(r"\s*(?:[,;\n&+×]|\bx\b|\s-\s)\s*")
# "goldfish x2", "goldfish ×2", "2x goldfish": a count, which terms.py drops as it drops "two";
# written "x2" and "2x" here, so the "x" is no separator and the 2 no class id. Only with the
# number against its "x" and beside a name: with a space between ("goldfish × 6", "6 x
# goldfish") the "×" separates and the number is a class id, as the README says; "1 x 6" is two
# ids, and a weight ("goldfish:2") is no count.
_COUNT_AFTER = re.compile(r"(?<=[^\W\d_])(?:\s*×|\s+x)(\d{1,3})(?![\w.:])")
_COUNT_BEFORE = re.compile(r"(?<![\w.:-])(\d{1,3})(?:×\s*|x\s+)(?=[^\W\d_])")
_AND = re.compile(r"\s+and\s+|^and\s+|\s+and$")
# "goldfish:0.5 random": a weight written onto its class (no space after the colon) ends
# the class; split_colon reads only the last colon, so the words after it would take it.
_WEIGHT_THEN_MORE = re.compile(r"(?<=\S):[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?(?=\s+\S)", re.I)
# "goldfish:1,5" is 1.5 as most of Europe writes it, not weight 1 and class 5 (electric ray):
# one comma between digits in a weight written onto a name. "1,5" alone, "goldfish:1, 5",
# "goldfish: 1,5" (a space after the colon, as after "classes:") and "goldfish:1,2,3" are lists.
_DECIMAL_COMMA = re.compile(r"([^\W\d_]:[-+]?\d+),(\d+)(?!\d|,\s*\d)")
_EDGES = " \t-–—\"'“”‘’()[]"  # dashes, quotes and brackets around a term
# "classes: 1,5", "ids=1,5": a label before the list names no class (and "1,5" after it is two
# ids, not the weight 1.5 of a class "classes"); it becomes a separator. Only where a list can
# start: in "goldfish id:2" the words after a class are that class's (its weight, as before).
_LIST_LABEL = re.compile(r"(?:^|(?<=[,;\n])|(?<=\bplease )|(?<=\bdream )|(?<=\bwith )|(?<=\buse ))"
                         r"\s*(?:class(?:es)?|ids?)\s*[:=]\s*", re.I)
# Commas and full stops of other scripts, which NFKC leaves alone: the ideographic comma and
# full stop of Chinese and Japanese ("goldfish、stingray", after NFKC also the half-width
# "､" and "｡") and the Arabic comma and semicolon. With a space after, so "1、5" is two ids,
# never the decimal 1.5 of _DECIMAL_COMMA. (NFKC already makes the full-width "，" a ",".)
_SCRIPT_SEPARATORS = str.maketrans({"\u3001": ", ", "\u3002": ", ", "\u060c": ", ", "\u061b": "; "})
# "@alice", "@alice@other.example" (split_terms has made the text lower case)
_HANDLE = re.compile(r"(?<![\w@])@([\w.-]*\w)(@[\w.-]*\w)?")
# Minus signs that are not "-" (a math minus, full-width forms): "−1" is "-1", not "1"
_MINUS = str.maketrans({"\u2212": "-", "\ufe63": "-", "\uff0d": "-", "\uff0b": "+"})
# What one mention may cost (issue 27): a request is a few class names, but a mention can be
# thousands of characters of near-misses, each looked up. Past these, the rest is not read.
MAX_TEXT = 500  # characters of request text
MAX_TERMS = 10  # terms (between commas, "and", "x"...)
MAX_FAILED = 5  # unknown or ambiguous terms: the reply names a few anyway
WEIGHT_MIN, WEIGHT_MAX = -2.0, 3.0


# --- text -> classes ------------------------------------------------------------------------
@dataclass(frozen=True)
class Wish:
    """One class the requester asked for (id and its human name) with a weight."""

    class_id: int
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class ParsedRequest:
    wishes: tuple[Wish, ...]
    random_count: int = 0  # how many classes the bot should pick for them
    # words around the classes that named none, safe to quote, with class names spelt like them
    left_out: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def total(self) -> int:
        return len(self.wishes) + self.random_count


class RequestError(ValueError):
    """A request that cannot be dreamt as written. `kind`: no_classes, unknown, ambiguous,
    too_many, bad_weight. `suggestions` are (id, name) for unknown/ambiguous terms (the first
    one's); `terms` holds (kind, safe term, suggestions) for every term that failed."""

    def __init__(self, kind: Refusal, message: str, *, term: str = "",
                 suggestions: tuple[tuple[int, str], ...] = (),
                 terms: "tuple[Failed, ...]" = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.term = term
        self.suggestions = suggestions
        self.terms = terms or ((kind, term, suggestions),)

    def reply_details(self) -> dict[str, Any]:
        """The keyword arguments of replies.refusal_text for this refusal."""
        def names(kind: Refusal, sugg: tuple[tuple[int, str], ...]) -> list[str]:
            return [f"{n} ({i})" if kind == Refusal.AMBIGUOUS else n for i, n in sugg][:5]

        return {"term": self.term, "suggestions": names(self.kind, self.suggestions),
                "terms": [(k, t, names(k, sugg)) for k, t, sugg in self.terms]}


def strip_emoji(text: str) -> str:
    """Text without emoji, joiners, variation selectors or skin tones (they name no class)."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("So", "Sk", "Cs", "Co") or ch in "\u200d\ufe0e\ufe0f\u20e3" or 0x1F3FB <= ord(ch) <= 0x1F3FF:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def safe_term(text: str, limit: int = 40) -> str:
    """A piece of the requester's text that may be quoted back: letters, digits, spaces and
    a little punctuation only, so it can never become a mention, hashtag, link or markup."""
    kept = re.sub(r"[^\w\s'\-]", " ", text, flags=re.UNICODE)  # no "." either: no bare domains
    kept = re.sub(r"\s+", " ", kept).strip().replace("_", " ")
    kept = re.sub(r"(?i)https?|www\.", "", kept)
    return kept[:limit].strip() or "that"


def split_terms(text: str) -> list[str]:
    """Break request text into class terms (before they are looked up)."""
    # NFKC: a CJK keyboard's full-width "ｇｏｌｄｆｉｓｈ：２" is "goldfish:2" (after the emoji,
    # or "™" would become the letters "TM")
    text = unicodedata.normalize("NFKC", strip_emoji(drop_invisible(text))).lower()
    text = text.translate(_MINUS).translate(_SCRIPT_SEPARATORS)
    text = _LIST_LABEL.sub(", ", text)
    text = _DECIMAL_COMMA.sub(r"\1.\2", text)
    text = re.sub(r"[!?]+", " ", text)
    text = re.sub(r"\.(?=\s|$)", ",", text)  # a sentence end separates; "0.7" stays
    text = _COUNT_BEFORE.sub(r"\1x ", _COUNT_AFTER.sub(r" x\1", text))
    terms = []
    for chunk in _HARD_SEPARATORS.split(text):
        chunk = _tidy(chunk)
        if chunk:
            terms.append(chunk)
    return terms


def drop_handles(term: str, labels: "Labels") -> str:
    """`term` without the "@user" and "@user@host" handles in it that name no group ("@dogs" and
    "@sea creatures" do). The accounts the status mentions are gone already (request_text); one
    left is someone the requester wrote about without mentioning, or a mention their server did
    not link: no class, so not the unknown class "alice" that refuses the request, and never
    quoted back, as the reply names nobody but the requester."""
    def keep(m: "re.Match[str]") -> str:
        if m.group(2):  # a host: an account, never a group
            return " "
        words = term[m.start():].partition(":")[0].split()  # "@sea creatures:2" is a group's weight
        return m.group(0) if _starts_with_group(words, labels) else " "

    return _tidy(_HANDLE.sub(keep, term))


def _starts_with_group(words: list[str], labels: "Labels") -> bool:
    """Whether the first words (up to 4: "@fruit and vegetables") name a group."""
    for j in range(min(len(words), 4), 0, -1):
        try:
            labels.group(" ".join(words[:j]))
            return True
        except ValueError:  # UnknownGroupError, or labels without groups
            continue
    return False


def dive_request(text: str) -> tuple[bool, str]:
    """(True, the rest) when the request starts with "dive" or "zoom"; else (False, text)."""
    m = _DIVE.match(text)
    return (True, text[m.end():]) if m else (False, text)


def parse_request(text: str, labels: "Labels", *, max_classes: int) -> ParsedRequest:
    """The classes a request's text (mentions already removed) asks for. Raises RequestError;
    an unknown or ambiguous term is reported together with every other one (terms.py says how
    filler around class names is told from a misspelt class)."""
    from .terms import filler, read_term

    wishes: dict[int, Wish] = {}
    random_count = 0
    failed: "list[Failed]" = []
    left_out: list[tuple[str, tuple[str, ...]]] = []
    terms = [t for t in (drop_handles(t, labels) for t in split_terms(_clip(text, MAX_TEXT))) if t][:MAX_TERMS]
    if not terms:
        raise RequestError(Refusal.NO_CLASSES, "no class names in the request")
    for n, (part, after_weight) in enumerate(_parts(terms, labels)):
        if n >= MAX_TERMS or len(failed) >= MAX_FAILED:
            break
        term, weight = _weight(part)
        if term in RANDOM_WORDS:
            random_count += 1
        elif term:
            reading = read_term(term, labels)
            if after_weight and not reading.ids:
                # "goldfish:2 for my mum": after a class, words that name none are filler, as
                # they are in "goldfish for my mum"; a weight between does not make them a class
                reading = filler(term, labels)
            for k, i in enumerate(reading.ids):
                wishes[i] = Wish(i, _human(i, labels), weight if k >= reading.weighted_from else 1.0)
            failed += [(kind, safe_term(t), sugg) for kind, t, sugg in reading.failed]
            left_out += [(safe_term(t), close) for t, close in reading.left_out]
        if len(wishes) + random_count > max_classes:
            raise RequestError(Refusal.TOO_MANY, f"more than {max_classes} classes")
    if failed:
        kind = Refusal.UNKNOWN if any(k == Refusal.UNKNOWN for k, _, _ in failed) else Refusal.AMBIGUOUS
        first = next(f for f in failed if f[0] == kind)
        raise RequestError(kind, "; ".join(f"{k} class {t!r}" for k, t, _ in failed), term=first[1],
                           suggestions=first[2], terms=tuple(dict.fromkeys(failed)))
    if not wishes and not random_count:
        raise RequestError(Refusal.NO_CLASSES, "no class names in the request")
    return ParsedRequest(tuple(wishes.values()), random_count, tuple(dict.fromkeys(left_out)))


def _parts(terms: list[str], labels: "Labels") -> "Iterator[tuple[str, bool]]":
    """The terms split further on "and" (outside class names) and on ":" that is no weight;
    each with whether it follows a weight (words there that name no class are filler)."""
    from .terms import split_colon

    for chunk in terms:
        for weighted, after_weight in _split_weights(chunk):
            for piece in _split_and(weighted, labels):
                parts = split_colon(piece, labels)
                yield from ((p, after_weight) for p in ([piece] if parts is None else parts))


def _split_weights(chunk: str) -> list[tuple[str, bool]]:
    """"goldfish:0.5 stingray:2 random" -> "goldfish:0.5", "stingray:2", "random" (the last two
    following a weight). Only a weight written onto a name or a lone class id counts: "at 10:30"
    and "ratio 3:2" are times and ratios in a sentence, not weights."""
    pieces, start = [], 0
    for m in _WEIGHT_THEN_MORE.finditer(chunk):
        before = chunk[start:m.start()]
        if not (re.search(r"[^\W\d_]$", before) or re.fullmatch(r"\s*\d+", before)):
            continue
        pieces.append(chunk[start:m.end()])
        start = m.end()
    pieces.append(chunk[start:])
    tidy = [(_tidy(x), k > 0) for k, x in enumerate(pieces)]
    return [(p, after) for p, after in tidy if p]


def _clip(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, not ending inside a word."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[:cut.rfind(" ")] if text[limit].isalnum() and " " in cut else cut


def _tidy(chunk: str) -> str:
    chunk = re.sub(r"\s+", " ", chunk).rstrip(_EDGES)
    head = chunk.lstrip(_EDGES)
    if chunk[:len(chunk) - len(head)].endswith("-") and head[:1].isdigit():
        head = "-" + head  # a sign, not a dash: "-1" is no class id, and must not become "1"
    chunk = head
    changed = True
    while changed and chunk:
        changed = False
        for w in _FILLER_START:
            if chunk.startswith(w) and len(chunk) > len(w):
                chunk, changed = chunk[len(w):].strip(), True
        for w in _FILLER_END:
            if chunk.endswith(w) and len(chunk) > len(w):
                chunk, changed = chunk[: -len(w)].strip(), True
    return "" if chunk in ("please", "pls", "thanks", "thank you", "and", "dream") else chunk


def _weight(piece: str) -> tuple[str, float]:
    term, sep, value = piece.rpartition(":")
    if not sep:
        return piece.strip(), 1.0
    try:
        w = float(value.strip())
    except ValueError:
        raise RequestError(Refusal.BAD_WEIGHT, f"bad weight {safe_term(value)!r}", term=safe_term(piece)) from None
    if not math.isfinite(w) or not WEIGHT_MIN <= w <= WEIGHT_MAX or w == 0:
        raise RequestError(Refusal.BAD_WEIGHT, f"weight {w:g} is outside {WEIGHT_MIN:g} to {WEIGHT_MAX:g}",
                           term=safe_term(piece))
    return term.strip(), w


def _split_and(chunk: str, labels: "Labels") -> list[str]:
    """Split on "and" except inside a class name ("black and gold garden spider"): from
    the left, take the longest run of parts that names a class."""
    parts = [p for p in (_tidy(x) for x in _AND.split(chunk)) if p]
    out, i = [], 0
    while i < len(parts):
        j = len(parts)
        while j > i + 1 and not _resolves(_loose_term(" and ".join(parts[i:j])), labels):
            j -= 1
        out.append(" and ".join(parts[i:j]))
        i = j
    return out


def _loose_term(piece: str) -> str:
    try:
        return _weight(piece)[0]
    except RequestError:
        return piece  # "hey bot: goldfish" holds no weight; parse_request splits it later


def _resolves(term: str, labels: "Labels") -> bool:
    from .terms import named

    try:
        named(term, labels)  # exact names only: this runs for every run of "and"-parts
        return True
    except ValueError:
        return False


def _human(i: int, labels: "Labels") -> str:
    return human_name(i, labels)
