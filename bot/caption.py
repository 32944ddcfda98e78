"""Captions and alt text from the operator's templates, and fitting text to a platform's limit.

Templates are str.format strings with named fields only (the config checks the names):
{classes} "goldfish × great white shark", {classes_words} "goldfish and great white shark"
(of a dream whose mode dreams no class of the picker's, what it did dream: `dreamt`),
{title} {author} {link} {licence} of the source photo, {credit} a ready-made credit line,
{description} what the source photo shows, {note} the machine-made note, {hashtags},
{bot} the bot's name, {model} and {seed} of the recipe, {places} where each class grew
("goldfish shapes grow in the top left; faint traces of stingray show in the middle",
bot/places_text.py; what alt text said before when the engine measured no places).
Lines left empty by missing fields are dropped, so one template serves photos with and
without a licence or author.

The template, note and hashtags are the operator's; the photo's title, author, link, licence
and description come from outside (a feed, a sidecar) and are made `inert` first: they can
name people and tags, but never mention nor tag them.

Alt text is made to fit ALT_LIMIT (Mastodon's 1500 characters; Tumblr allows more) by saying
less of the places first, then cutting the outside description, so that where the creatures
grew survives a long description; a publisher still fits it to its server's own limit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import TYPE_CHECKING, Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import idna

from bot.places_text import shorter_sentences
from bot.sources.base import without_credentials

if TYPE_CHECKING:
    from dreamer.places import Places

    from bot.config import CaptionSection
    from bot.sources.base import Credit

TIMES = " × "
# A word joiner (U+2060: invisible, no line break) after each sign. Mastodon reads a mention
# as "@" then a letter, digit or "_" and a hashtag as "#" or "＃" then a word character, so
# "@\u2060Gargron@mastodon.social" reads the same and notifies nobody; Tumblr's tags come
# only from the hashtag line, which these are not. The other at and number signs go too.
_SIGNS = re.compile("([@＠﹫#＃﹟])")
_WJ = "\u2060"
# What a link may keep as it is; everything else (spaces, "<", "@", "#", non-ASCII) is
# %-escaped, so a link is one run of URL characters that no server ends early and reads the
# rest as a mention. (A link's "#fragment" is lost: a credit link rarely has one.)
_URL_SAFE = "A-Za-z0-9._~:/?=&%+!$'()*,;-"
_URL = re.compile(r"https?://[^\s]+", re.I)
ALT_LIMIT = 1500  # Mastodon's media description limit, the smallest of the platforms'
# {classes} and {classes_words} of the modes that never read the picker's classes (only lucid
# does: dreamer/plan.py objective_for), so a caption never names a creature that was not dreamt.
# randomise pushes every class the net knows up or down at random, deepdream amplifies what a
# layer already sees, guide pulls in a guide picture's features ({guide}: its name).
NO_CLASSES = {
    "randomise": ("a random dream", "a random mix of everything it can recognise"),
    "deepdream": ("a deep dream", "amplified patterns it already sees"),
    "guide": ("a dream guided by “{guide}”", "the look of the picture “{guide}”"),
}
UNNAMED_GUIDE = ("a guided dream", "the look of another picture")
GUIDE_NAME_LIMIT = 40  # a file name, not a sentence
# A title, author or licence from outside longer than this is a paragraph, not a name (many
# feeds put a post's text in <title>): cut, so that it cannot push the credit's link and the
# operator's note out of a 500-character post.
CREDIT_FIELD_LIMIT = 80


@dataclass(frozen=True)
class Caption:
    text: str
    alt_text: str
    tags: tuple[str, ...]


def inert(text: str | None) -> str:
    """Outside text as it reads, with no "@" or "#" that can mention anyone or make a tag."""
    return _SIGNS.sub(r"\1" + _WJ, text or "")


def inert_link(link: str | None) -> str:
    """A link from outside, %-escaped to one run of URL characters with no "@" nor "#", and
    without a password; text that is not an http(s) link is only made `inert`."""
    link = (link or "").strip()
    if not _URL.fullmatch(link):
        return inert(link)
    link = _ascii_host(without_credentials(link))
    return re.sub(f"[^{_URL_SAFE}]", lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), link)


def _ascii_host(link: str) -> str:
    """`link` with an international host in its ASCII form ("xn--bcher-kva.example"): a host
    %-escaped is no host a server links. As it was when it has no such form."""
    try:
        parts = urlsplit(link)
        if parts.netloc.isascii() or not parts.hostname:
            return link
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=idna.encode(parts.hostname, uts46=True).decode() + port))
    except (ValueError, UnicodeError):  # idna.IDNAError is a UnicodeError
        return link


def join_classes(names: Sequence[str]) -> str:
    return TIMES.join(names)


def words(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def dreamt(class_names: Sequence[str], mode: str = "lucid", guide: "str | PurePath | None" = None) -> tuple[str, str]:
    """{classes} and {classes_words}: the classes, or what a mode that reads none dreamt. Of a
    guide (the operator's file) only its name is said: a path tells strangers about the
    operator's disk."""
    if mode not in NO_CLASSES:
        return join_classes(class_names), words(class_names)
    name = " ".join(PurePath(guide).stem.split()) if mode == "guide" and guide else ""
    if mode == "guide" and not name:
        return UNNAMED_GUIDE
    name = fit_text(inert(name), GUIDE_NAME_LIMIT)
    short, long = NO_CLASSES[mode]
    return short.format(guide=name), long.format(guide=name)


def hashtag(tag: str) -> str:
    """'#deepdream' from 'deepdream'; '#lucidDream' from 'lucid dream' or 'lucid-dream!'.
    Words are joined in camel case, which screen readers can say as words."""
    parts = [p for p in re.split(r"[\W_]+", tag.lstrip("#")) if p]
    if not parts:
        return ""
    return "#" + parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def outside_credit(credit: "Credit") -> "Credit":
    """`credit` with every field `inert` (its link by `inert_link`), ready to be posted; a
    title, author or licence from outside cut to CREDIT_FIELD_LIMIT (the operator's own
    defaults, `credit.own`, are never cut: they wrote them for their posts)."""
    def name(key: str) -> str | None:
        text = inert(getattr(credit, key))
        return (text if key in credit.own else fit_text(text, CREDIT_FIELD_LIMIT)) or None

    return replace(credit, title=name("title"), author=name("author"), licence=name("licence"),
                   link=inert_link(credit.link) or None, origin=inert(credit.origin) or None)


def credit_line(credit: "Credit") -> str:
    """'Source photo: “Title” by Author (CC BY 4.0) https://…' with whatever parts are known."""
    parts = []
    if credit.title:
        parts.append(f"“{credit.title}”")
    if credit.author:
        parts.append(f"by {credit.author}")
    if credit.licence:
        parts.append(f"({credit.licence})")
    has_link = bool(credit.link and credit.link.startswith(("http://", "https://")))
    if has_link:
        parts.append(credit.link)
    if parts and not credit.author and not has_link and credit.origin:
        parts.append(f"— {credit.origin}, author not given")
    return ("Source photo: " + " ".join(parts)) if parts else ""


def describe_source(credit: "Credit", description: str | None) -> str:
    """What the source photo shows, for alt text: its own description, else its title."""
    if description and description.strip() and description.strip() != (credit.title or "").strip():
        what = f"a photo of {description.strip()}"
        return what + (f" (“{credit.title}”)" if credit.title else "")
    if credit.title:
        return f"the photo “{credit.title}”"
    return "a photo"


def make_caption(
    section: "CaptionSection",
    *,
    bot: str,
    class_names: Sequence[str],
    credit: "Credit",
    description: str | None,
    model: str = "",
    seed: int | None = None,
    places: "Places | None" = None,
    names: Mapping[int, str] | None = None,
    language: str | None = None,
    alt_limit: int = ALT_LIMIT,
    mode: str = "lucid",
    guide: "str | PurePath | None" = None,
) -> Caption:
    """The caption and alt text of a dream. `places`: where the engine measured each class grew
    (None: not measured); `names`: the bot's names of its class ids; `language`: the captions'
    ISO 639 code, for the words of {places}; `mode` and `guide`: the recipe's (a dream of
    another mode than lucid names no class: `dreamt`)."""
    tags = tuple(t.lstrip("#").strip() for t in section.hashtags)
    credit = outside_credit(credit)
    classes, classes_words = dreamt(class_names, mode, guide)
    if mode in NO_CLASSES:
        places = None  # places name classes, and none of these was dreamt
    fields = {
        "bot": bot,
        "classes": classes,
        "classes_words": classes_words,
        "title": credit.title or "",
        "author": credit.author or "",
        "link": credit.link or "",
        "licence": credit.licence or "",
        "credit": credit_line(credit),
        "description": describe_source(credit, inert(description)),
        "note": section.note,
        "hashtags": " ".join(h for h in map(hashtag, tags) if h),
        "model": model,
        "seed": "" if seed is None else str(seed),
    }
    sentences = list(shorter_sentences(places, names=names, language=language))
    fields["places"] = sentences[0]
    text = _tidy(section.template.format_map(fields))
    return Caption(text=text, alt_text=_fit_alt(section.alt_template, fields, sentences, alt_limit), tags=tags)


def _fit_alt(template: str, fields: dict[str, str], sentences: list[str], limit: int) -> str:
    """The alt text within `limit`: the most detailed places that fit; else the shortest places
    with the description cut to make room; else cut as a whole."""
    for sentence in sentences:
        alt = _tidy(template.format_map({**fields, "places": sentence}))
        if len(alt) <= limit:
            return alt
    fields = {**fields, "places": sentences[-1]}
    if "{description}" in template:
        rest = len(_tidy(template.format_map({**fields, "description": ""})))
        fields["description"] = fit_text(fields["description"], max(0, limit - rest))
    return fit_text(_tidy(template.format_map(fields)), limit)


def fit_text(text: str, limit: int, *, length: Callable[[str], int] = len, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` by `length` (a platform's own way of counting, e.g. URLs
    as 23 characters), at a word boundary when that loses little, ending in an ellipsis."""
    if length(text) <= limit:
        return text
    if limit <= 0 or length(ellipsis) > limit:
        return ""
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that still fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if length(text[:mid].rstrip() + ellipsis) <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > 0.75 * lo:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def _tidy(text: str) -> str:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    out = "\n".join(lines)
    out = re.sub(r"\n{3,}", "\n\n", out)  # a field that came out empty leaves no hole
    return out.strip()


def dive_alt(alt: str, seconds: float) -> str:
    """A picture's alt text made a video's: say first that it moves, and for how long."""
    n = max(1, round(seconds))
    return f"Video, {n} second{'' if n == 1 else 's'}, zooming slowly into a dream. {alt}"
