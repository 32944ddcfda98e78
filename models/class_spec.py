"""Class specs: "goldfish, stingray:0.5, 1-5" (the `dream` command line) and a recipe's
{term: weight} table, turned into {class id: weight}.

Every term is looked up before anything is raised, so a spec with several misspelt classes
gets a suggestion for each of them in one go: one bad term raises its own error (an
`UnknownClassError` with its suggestions, an `AmbiguousClassError`, ...), several raise
`ClassSpecErrors`, whose `.errors` hold each one in order.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from models.labels_base import ClassSpecError

if TYPE_CHECKING:
    from models.labels import Labels


class ClassSpecErrors(ClassSpecError):
    """Several terms of one spec are wrong; `.errors` holds each term's error, in order."""

    def __init__(self, errors: list[ClassSpecError]) -> None:
        super().__init__(f"{len(errors)} of the classes cannot be used: "
                         + " ".join(_sentence(str(e)) for e in errors))
        self.errors = errors

    @property
    def suggestions(self) -> list[tuple[int, str]]:
        """Every term's suggestions, in order (see `.errors` for which term they are for)."""
        return [s for e in self.errors for s in getattr(e, "suggestions", [])]


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]) + ("" if text.endswith((".", "?", "!")) else ".")


class _Errors:
    """Collects each term's ClassSpecError (as a `with` block) instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[ClassSpecError] = []

    def __enter__(self) -> "_Errors":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, ClassSpecError):
            self.errors.append(exc)
            return True
        return False

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ClassSpecErrors(self.errors)


# Weights are relative (goldfish:2, stingray:1 is twice as much goldfish), so a larger one says
# nothing more; past float32's range it made a black picture, or "Total of weights must be
# finite" once the net was loaded.
MAX_WEIGHT = 1000.0


def _weight(value: object, term: object) -> float:
    if isinstance(value, bool):
        value = None  # True is not a weight, however Python counts it
    try:
        weight = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight):
        raise ClassSpecError(f"bad weight {value!r} for class {term!r}: a weight is a finite "
                             "number such as 1, 0.5 or -0.3")
    if abs(weight) > MAX_WEIGHT:
        raise ClassSpecError(f"weight {value!r} for class {term!r} is too large: weights are relative "
                             "(goldfish:2, stingray:1 is twice as much goldfish), "
                             f"from {-MAX_WEIGHT:g} to {MAX_WEIGHT:g}")
    return weight


def parse_class_spec(text: str, labels: Labels) -> dict[int, float]:
    """Parse "goldfish, stingray:0.5, 1-5, great white shark:-0.3" into {id: weight}.

    Items are separated by commas; each is a term `labels.resolve` understands, optionally
    followed by ":weight" (default 1). A range or group gives each of its ids the weight; an id
    named more than once gets the sum of its weights. Raises `ClassSpecError`: the
    term's own when one term is wrong, `ClassSpecErrors` listing each when several are.
    """
    if not isinstance(text, str):
        raise TypeError(f"a class spec is a string, not {type(text).__name__}")
    weights: dict[int, float] = {}
    errors = _Errors()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue  # tolerate "a, b," and "a,,b"
        with errors:
            term, sep, weight_text = item.rpartition(":")
            if not sep:
                term, weight = item, 1.0
            else:
                term = term.strip()
                if ":" in term:
                    raise ClassSpecError(f"{item!r} has more than one ':'; write class:weight, "
                                         "e.g. 'stingray:0.5'")
                if not term:
                    raise ClassSpecError(f"{item!r} has a weight but no class before the ':'")
                weight = _weight(weight_text.strip(), term)
            for i in labels.resolve(term):
                weights[i] = weights.get(i, 0.0) + weight
    errors.raise_any()
    if not weights:
        raise ClassSpecError("no classes given: write names, ids or ranges separated by "
                             "commas, e.g. 'goldfish, stingray:0.5, 1-5'")
    return weights


def resolve_weights(classes: Mapping[str | int, float], labels: Labels) -> dict[int, float]:
    """Turn a recipe's {term: weight} into {id: weight}; terms as in `Labels.resolve`.

    Weights of ids reached through several terms add up. Raises `ClassSpecError`.
    """
    if not isinstance(classes, Mapping):
        raise ClassSpecError("classes must map class names or ids to weights, e.g. "
                             "{'goldfish': 1.0, 'stingray': 0.5}")
    weights: dict[int, float] = {}
    errors = _Errors()
    for term, value in classes.items():
        with errors:
            weight = _weight(value, term)
            ids = labels.resolve(term if isinstance(term, (str, int)) else str(term))
            for i in ids:
                weights[i] = weights.get(i, 0.0) + weight
    errors.raise_any()
    return weights
