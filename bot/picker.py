"""Random class combinations ("mutant hybrids") for each dream.

A combo is min..max distinct ImageNet classes drawn from the allow-list and groups (all classes
when both are empty) minus the deny-list, each with a weight drawn from the configured range,
plus a render seed so the dream can be made again. No combo (the same set of classes, whatever
the weights) repeats within the last `no_repeat` dreams.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from bot.config.sections import PickerSection
    from models.labels import Labels

MAX_DRAWS = 2000


class PickError(Exception):
    """No combination can be drawn (every one was used recently); the message says what to change."""


@dataclass(frozen=True)
class Combo:
    class_ids: tuple[int, ...]  # sorted
    weights: tuple[float, ...]  # same order as class_ids
    seed: int

    @property
    def key(self) -> str:
        """The identity used for no-repeat: the set of classes, not their weights."""
        return "+".join(str(i) for i in self.class_ids)

    def recipe_classes(self, labels: "Labels") -> dict[str, float]:
        """{term: weight} for a Recipe: the class name when it is unambiguous, else its id."""
        return {_term(i, labels): w for i, w in zip(self.class_ids, self.weights)}

    def names(self, labels: "Labels") -> list[str]:
        return [human_name(i, labels) for i in self.class_ids]


def labels() -> "Labels":
    from models.labels import imagenet

    return imagenet()


def human_name(i: int, lab: "Labels") -> str:
    """A name a reader understands; an ambiguous one ("crane") gets its clearer alias."""
    name = lab.name(i)
    if _unambiguous(name, i, lab):
        return name
    aliases = [a for a in lab.aliases(i) if len(a) <= 40]
    return aliases[0] if aliases else f"{name} (class {i})"


def pool(cfg: "PickerSection", lab: "Labels") -> list[int]:
    """The class ids the picker may draw from. Raises ClassSpecError on an unknown term."""
    chosen: set[int] = set()
    for term in cfg.allow:
        chosen.update(lab.resolve(term))
    for group in cfg.groups:
        chosen.update(lab.group(group))
    if not cfg.allow and not cfg.groups:
        chosen = set(range(len(lab)))
    for term in cfg.deny:
        chosen.difference_update(lab.resolve(term))
    return sorted(chosen)


def picker_problems(cfg: "PickerSection") -> list[str]:
    """Config problems in [picker] that need the label set (unknown names, empty pool)."""
    from models.labels import ClassSpecError  # the label set: loaded only when asked

    lab = labels()
    problems = []
    for key in ("allow", "deny"):
        for n, term in enumerate(getattr(cfg, key)):
            try:
                lab.resolve(term)
            except ClassSpecError as exc:
                problems.append(f"picker.{key}[{n}]: {exc}")
    for n, group in enumerate(cfg.groups):
        try:
            lab.group(group)
        except ClassSpecError as exc:
            problems.append(f"picker.groups[{n}]: {exc}")
    if not problems:
        size = len(pool(cfg, lab))
        if size < cfg.min_classes:
            problems.append(
                f"picker: allow/groups minus deny leave {size} class(es) but min_classes is "
                f"{cfg.min_classes}; allow more classes or lower min_classes"
            )
    return problems


class Picker:
    def __init__(self, cfg: "PickerSection", lab: "Labels | None" = None):
        self.cfg = cfg
        self.labels = lab or labels()
        self.ids = pool(cfg, self.labels)

    def pick(self, recent: Iterable[str], rng: random.Random | None = None) -> Combo:
        """A combo whose key is not in `recent` (the keys of the last no_repeat dreams)."""
        rng = rng or random.Random()
        banned = set(recent) if self.cfg.no_repeat else set()
        hi = min(self.cfg.max_classes, len(self.ids))
        lo = min(self.cfg.min_classes, hi)
        for _ in range(MAX_DRAWS):
            k = rng.randint(lo, hi)
            ids = tuple(sorted(rng.sample(self.ids, k)))
            if "+".join(map(str, ids)) in banned:
                continue
            weights = tuple(round(rng.uniform(self.cfg.weight_min, self.cfg.weight_max), 2) for _ in ids)
            return Combo(ids, weights, seed=rng.randrange(2**31))
        raise PickError(
            f"every combination of {lo}-{hi} classes from the {len(self.ids)} allowed was used in the "
            f"last {self.cfg.no_repeat} dreams; allow more classes or lower picker.no_repeat"
        )


def _unambiguous(name: str, i: int, lab: "Labels") -> bool:
    from models.labels import ClassSpecError

    try:
        return lab.resolve(name) == [i]
    except ClassSpecError:
        return False


def _term(i: int, lab: "Labels") -> str:
    name = lab.name(i)
    return name if _unambiguous(name, i, lab) else str(i)
