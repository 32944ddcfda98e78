"""One term of a request ("please a <b>goldfish</b> for me", "hello there", "goldfsh") read
against the label set: the classes it names, the words around them, or why it names none.

People wrap class names in greetings, requests and stray markup. A term that is not a class
as a whole is scanned for the longest runs of its words that are ("hen of the woods" stays
whole); the words left over are filler. A term that names no class at all is either a likely
misspelling (the labels suggest a class: it is reported with the suggestions) or filler
("hello there": no reply about unknown classes, the request just has no class in it).

A mention is outside text of any length (Pleroma allows 5,000 characters) and `Labels.resolve`
of an unknown name runs a fuzzy search over every name for suggestions. So spans are looked
up with `named` (exact names only, no fuzzy search), never longer than the longest class name,
and a term is read up to MAX_TERM_WORDS words; parse.py caps the text and the failed terms.
"""
from __future__ import annotations

import difflib
import re
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .replies import Refusal

if TYPE_CHECKING:
    from models.labels import Labels

# Words that never name a class on their own (none of them is an ImageNet name or synonym):
# articles, pronouns, politeness, greetings, asking, linking words, and markup tag names.
STOP_WORDS = frozenset("""
a an the some any this that these those it its my me mine your you u ur i im id we us our
please pls plz thanks thank thx ty cheers kindly
hello hi hey heya hiya yo hola greetings dear good morning evening afternoon night day
there here bot dreambot
can could would will should may might shall do does did make made draw paint render dream dreams
dreaming turn put add show give try want wanna like love need see let lets
of with for from into in on onto to at by as and or but also too so very really just maybe again now
pretty photo photos picture pictures pic pics image images img one ones thing things something
two three four five six seven eight nine ten few several couple lots lot many bunch dozen
is are be been was were am what how about which
b s em strong span div p br href class style code pre small big sup del ins mark blockquote font
color colour bold italic quote lol haha omg wow cool nice awesome
lt gt amp nbsp quot apos h card mention hashtag url invisible ellipsis tag rel nofollow noopener
noreferrer target blank data user alt src
""".split())
_NUMBERISH = re.compile(r"[\d\s.:-]+")
# "x2", "2x": a count (parse.split_terms writes "× 2" and "2 x" so), no class, as "two" is none
_COUNT = re.compile(r"x\d{1,3}|\d{1,3}x")
# What Labels.resolve reads without a name: ids, ranges, "@group", WordNet ids
_NOT_A_NAME = re.compile(r"[+-]?[\d\s.\u2013-]+|@.*|[nN]\d{8}", re.S)
MAX_TERM_WORDS = 16  # "please could you dream a great white shark into my photo, thanks" is 12
_NAMES: "weakref.WeakKeyDictionary[Labels, tuple[frozenset[str], int]]" = weakref.WeakKeyDictionary()
# A term that failed: (Refusal.UNKNOWN or Refusal.AMBIGUOUS, the term, (id, name) suggestions).
# Its kind is the refusal the request gets when it is the only one (parse.py).
Failed = tuple[Refusal, str, tuple[tuple[int, str], ...]]


def _names(labels: "Labels") -> tuple[frozenset[str], int]:
    """Every name the labels resolve exactly (normalised), and the most words one has."""
    from models.labels import normalize

    got = _NAMES.get(labels)
    if got is None:
        keys = frozenset(normalize(n) for i in range(len(labels)) for n in labels.synonyms(i) + labels.aliases(i))
        got = _NAMES[labels] = (keys, max((len(k.split()) for k in keys), default=1))
    return got


def named(term: str, labels: "Labels") -> list[int]:
    """`labels.resolve(term)` when the term is a class name as written (or an id, range, group
    or WordNet id); UnknownClassError without suggestions otherwise, at once: the fuzzy
    search resolve runs for those costs milliseconds a span, minutes over a long mention."""
    from models.labels import UnknownClassError, normalize

    raw = term.strip()
    if _NOT_A_NAME.fullmatch(raw) or normalize(raw) in _names(labels)[0]:
        return labels.resolve(raw)
    for one in singulars(normalize(raw)):  # "stingrays", "two goldfishes": the class, not a misspelling
        if one in _names(labels)[0]:
            return labels.resolve(one)
    raise UnknownClassError(f"unknown class {raw!r}")


# Plurals that are no "-s" added: the ones a follower may write of an ImageNet animal
_IRREGULAR = {"geese": "goose", "mice": "mouse", "oxen": "ox", "wolves": "wolf", "teeth": "tooth"}


def singulars(text: str) -> list[str]:
    """`text` (normalised words) with its last word made singular, in the ways English may have
    made it plural, likeliest first; [] for a word that is no plural. Class names are singular,
    and people ask for "stingrays" or "two goldfishes"."""
    head, _, word = text.rpartition(" ")
    if word in _IRREGULAR:
        forms = [_IRREGULAR[word]]
    elif len(word) < 4 or not word.endswith("s") or word.endswith("ss"):
        return []
    elif word.endswith("ies"):
        forms = [word[:-3] + "y", word[:-1]]  # butterflies; but movies
    elif word.endswith("ves"):
        forms = [word[:-3] + "f", word[:-3] + "fe", word[:-1]]  # wolves, knives; but olives
    elif word.endswith(("xes", "zes", "ches", "shes", "sses")):
        forms = [word[:-2], word[:-1]]  # foxes, goldfishes; but niches
    else:
        forms = [word[:-1]]  # stingrays, horses
    return [f"{head} {f}".strip() for f in forms]


@dataclass
class Reading:
    """What one term came to: class ids, filler left out, or a term that failed."""

    ids: list[int] = field(default_factory=list)
    left_out: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (words, close names)
    failed: list[Failed] = field(default_factory=list)
    # ids[weighted_from:] are the last class named: a weight written after several class names
    # ("stingray goldfish:0.5") is the last one's, as it would be with a comma between them
    weighted_from: int = 0


def read_term(term: str, labels: "Labels") -> Reading:
    from models.labels import AmbiguousClassError, UnknownClassError, UnknownGroupError, normalize

    words = term.split()
    if len(words) > MAX_TERM_WORDS:  # the rest of a run-on sentence is not read
        term = " ".join(words[:MAX_TERM_WORDS])
    try:
        return Reading(ids=labels.resolve(term))
    except AmbiguousClassError as exc:
        return Reading(failed=[(Refusal.AMBIGUOUS, term, tuple(exc.suggestions))])
    except UnknownGroupError as exc:
        return _group_then_filler(term, labels, exc)
    except UnknownClassError as exc:
        if _NUMBERISH.fullmatch(term):
            return Reading(failed=[(Refusal.UNKNOWN, term, tuple(exc.suggestions))])
        whole = tuple(exc.suggestions) or _singular_suggestions(term, labels)
    words = normalize(term).split()
    reading = _scan(words, labels)
    if reading.ids or reading.failed:
        return reading
    # a word joined by a hyphen is part of a name ("two-toed sloth"), never filler ("two goldfish")
    joined = {normalize(p) for tok in term.split() if "-" in tok for p in tok.split("-")}
    rest = [w for w in words if not (w in STOP_WORDS or _COUNT.fullmatch(w)) or w in joined]
    if not rest:
        return Reading()  # "hello there": no class named, nothing misspelt
    if rest == words and whole:
        return Reading(failed=[(Refusal.UNKNOWN, term, whole)])
    text = " ".join(rest)
    suggested = _suggestions(text, labels)
    if suggested:
        return Reading(failed=[(Refusal.UNKNOWN, text, suggested)])
    # Several words, none a class: those spelt like one are misspellings; the rest is filler.
    misspelt = [(w, _suggestions(w, labels)) for w in [w for w in rest if close_names(w, labels)][:3]]
    if misspelt:
        return Reading(failed=[(Refusal.UNKNOWN, w, s) for w, s in misspelt if s])
    return Reading(left_out=[(text, ())])


def _group_then_filler(term: str, labels: "Labels", error: Exception) -> Reading:
    """"@dogs please": the longest start of the term that names a group, the rest filler."""
    from models.labels import UnknownClassError

    words = term.split()
    for j in range(len(words) - 1, 0, -1):
        try:
            ids = labels.group(" ".join(words[:j]))
        except UnknownClassError:
            continue
        reading = Reading(ids=ids)
        _flush([w.lower() for w in words[j:]], reading, labels)
        return reading
    from models.labels import normalize

    if not normalize(term):
        return Reading()  # "@@@": nothing that could name anything
    return Reading(failed=[(Refusal.UNKNOWN, term, tuple(getattr(error, "suggestions", ())))])


def _singular_suggestions(term: str, labels: "Labels") -> tuple[tuple[int, str], ...]:
    """"butterflies": the classes "butterfly" is like, where the plural is like none."""
    from models.labels import normalize

    for one in singulars(normalize(term)):
        found = _suggestions(one, labels)
        if found:
            return found
    return ()


def _suggestions(text: str, labels: "Labels") -> tuple[tuple[int, str], ...]:
    from models.labels import UnknownClassError

    try:
        labels.resolve(text)
    except UnknownClassError as exc:  # an ambiguous name suggests its classes too
        return tuple(exc.suggestions)
    return ()


def _scan(words: list[str], labels: "Labels") -> Reading:
    """Longest runs of words that name a class, left to right; other words are left out."""
    from models.labels import AmbiguousClassError, UnknownClassError

    reading = Reading()
    loose: list[str] = []
    longest = _names(labels)[1]  # no span longer than a class name can be one
    i = 0
    while i < len(words):
        for j in range(min(len(words), i + longest), i, -1):
            span = " ".join(words[i:j])
            if _NUMBERISH.fullmatch(span) or all(w in STOP_WORDS for w in words[i:j]):
                continue  # a number in a sentence is no class id; filler is no class name
            try:
                ids = named(span, labels)
                reading.weighted_from = len(reading.ids)
                reading.ids += ids
            except AmbiguousClassError as exc:
                reading.failed.append((Refusal.AMBIGUOUS, span, tuple(exc.suggestions)))
            except UnknownClassError:
                continue
            _flush(loose, reading, labels)
            i = j
            break
        else:
            loose.append(words[i])
            i += 1
    if reading.ids or reading.failed:
        _flush(loose, reading, labels)
    return reading


def filler(term: str, labels: "Labels") -> Reading:
    """`term` read as the words beside a class name: left out, with the class names any of them
    is spelt like."""
    from models.labels import normalize

    reading = Reading()
    _flush(normalize(term).split(), reading, labels)
    return reading


def _flush(loose: list[str], reading: Reading, labels: "Labels") -> None:
    kept = [w for w in loose if not (w in STOP_WORDS or _NUMBERISH.fullmatch(w) or _COUNT.fullmatch(w))]
    if kept:
        text = " ".join(kept)
        close = close_names(text, labels) or tuple(dict.fromkeys(n for w in kept for n in close_names(w, labels)))
        reading.left_out.append((text, close[:2]))
    loose.clear()


def close_names(text: str, labels: "Labels") -> tuple[str, ...]:
    """Class names spelt like `text` (a misspelling worth mentioning), at most two."""
    from models.labels import normalize

    key = normalize(text)
    if len(key) < 4:
        return ()
    return tuple(difflib.get_close_matches(key, [normalize(n) for n in labels.names], n=2, cutoff=0.8))


def split_colon(piece: str, labels: "Labels") -> list[str] | None:
    """A ':' that is not a weight ("hey bot: goldfish", "goldfish: stingray") splits the piece;
    None when it is (or is meant as) a weight: a number, or one word after a class name."""
    from models.labels import UnknownClassError

    term, sep, value = piece.rpartition(":")
    value = value.strip()
    if not sep or re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?|[-+]?(inf|nan)", value, re.I):
        return None
    try:
        named(value, labels)
        value_is_class = True
    except (UnknownClassError, ValueError):
        value_is_class = False
    if not value_is_class and " " not in value and re.search(r"\w", value):
        try:
            named(term, labels)
            return None  # "goldfish:lots": a weight, written wrong
        except (UnknownClassError, ValueError):
            pass
    return [p.strip() for p in piece.split(":") if p.strip()]
