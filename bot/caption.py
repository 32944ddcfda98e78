"""Captions and alt text from the operator's templates, and fitting text to a platform's limit.

Templates are str.format strings with named fields only (the config checks the names):
{classes} "goldfish × great white shark", {classes_words} "goldfish and great white shark",
{title} {author} {link} {licence} of the source photo, {credit} a ready-made credit line,
{description} what the source photo shows, {note} the machine-made note, {hashtags},
{bot} the bot's name, {model} and {seed} of the recipe.
Lines left empty by missing fields are dropped, so one template serves photos with and
without a licence or author.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from bot.config import CaptionSection
    from bot.sources.base import Credit

TIMES = " × "


@dataclass(frozen=True)
class Caption:
    text: str
    alt_text: str
    tags: tuple[str, ...]


def join_classes(names: Sequence[str]) -> str:
    return TIMES.join(names)


def words(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def hashtag(tag: str) -> str:
    """'#deepdream' from 'deepdream'; '#lucidDream' from 'lucid dream' or 'lucid-dream!'.
    Words are joined in camel case, which screen readers can say as words."""
    parts = [p for p in re.split(r"[\W_]+", tag.lstrip("#")) if p]
    if not parts:
        return ""
    return "#" + parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


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
) -> Caption:
    tags = tuple(t.lstrip("#").strip() for t in section.hashtags)
    fields = {
        "bot": bot,
        "classes": join_classes(class_names),
        "classes_words": words(class_names),
        "title": credit.title or "",
        "author": credit.author or "",
        "link": credit.link or "",
        "licence": credit.licence or "",
        "credit": credit_line(credit),
        "description": describe_source(credit, description),
        "note": section.note,
        "hashtags": " ".join(h for h in map(hashtag, tags) if h),
        "model": model,
        "seed": "" if seed is None else str(seed),
    }
    text = _tidy(section.template.format_map(fields))
    alt = _tidy(section.alt_template.format_map(fields))
    return Caption(text=text, alt_text=alt, tags=tags)


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
