"""What the label modules share: the errors they raise for user input, and how class names are
written and compared. A leaf: `labels` (the `Labels` class), `labels_files` (the file formats)
and `class_spec` (weight specs) all import it and it imports none of them."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

# A WordNet id, as ImageNet's classes carry them ("n01440764").
WNID = re.compile(r"[nN]\d{8}")
_APOSTROPHES = str.maketrans("", "", "'\u2018\u2019\u02bc`\u00b4")


class ClassSpecError(ValueError):
    """A class term, weight or spec that cannot be used; the message says why."""


class UnknownClassError(ClassSpecError):
    """No class matches a term. `.suggestions` holds close (id, name) pairs, best first."""

    def __init__(self, message: str, suggestions: Iterable[tuple[int, str]] = ()) -> None:
        super().__init__(message)
        self.suggestions: list[tuple[int, str]] = list(suggestions)


class AmbiguousClassError(UnknownClassError):
    """A name shared by several classes; `.suggestions` lists all of them."""


class UnknownGroupError(UnknownClassError):
    """No group of that name; the message lists the groups there are."""


class LabelsFileError(ValueError):
    """A labels file that cannot be read or is not in a known format."""


def normalize(text: str) -> str:
    """The form names are compared in: "Potter’s_Wheel" and "potters wheel" are equal."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold().translate(_APOSTROPHES)
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def split_names(names: str | Sequence[str]) -> list[str]:
    """A class's names as a list: a string is split on commas ("tench, Tinca tinca"), blanks
    are dropped."""
    if isinstance(names, str):
        names = names.split(",")
    return [str(n).strip() for n in names if str(n).strip()]
