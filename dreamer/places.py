"""Where each class of a dream grew, as plain data: what crosses from the engine to the bot with
the picture (no tensors; the engine measures it in dreamer/places_measure.py, the bot words it in
bot/places_text.py).

The picture is cut into a 3x3 grid, cells numbered row by row from the top left (0) to the
bottom right (8). For each class the engine gives, per cell,

* `rise`: how much the dreaming net's evidence for the class (its class activation map, the
  place-by-place share of the class's logit) went up from the photo to the dream there;
* `seen`: whether the same net still finds the class (in its top 5) in that part of the picture
  after a degraded view (half size and a blur) has wiped out pixel-level detail that only fools
  a net and that no viewer sees.

`claim` turns that into what may be said: the cells a class plainly took, or only a faint trace,
or nothing. It lives here, beside the data, so the bot and the benchmark that checks the words
(benchmarks/alt_places.py) read the numbers the same way.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Mapping

CELLS = 9  # a 3x3 grid, row by row
# A class whose evidence rose less than this anywhere (in logit units per cell, see
# places_measure.py) did not grow: it is not claimed. On the tuning pictures of
# benchmarks/alt_places.py the classes dreamt rose 20-28 at their peak, classes not dreamt up
# to 8.6 (jellyfish in goldfish x stingray: sea-like texture raises the sea creatures).
MIN_RISE = 10.0
# A cell is part of a class's place when its rise is at least this share of the class's
# highest rise: the few cells a class took, not every cell it touched.
SHARE = 0.6

class Strength(enum.StrEnum):
    """How plainly a class may be named in the alt text (Claim)."""

    PLAIN = "plain"  # it plainly took its cells
    FAINT = "faint"  # its evidence rose there, but the net does not find it once degraded
    NONE = "none"  # it did not grow


class PlacesError(ValueError):
    """Places data that is not what the engine writes (e.g. read back from a queue)."""


@dataclass(frozen=True)
class ClassPlace:
    class_id: int
    name: str  # the net's label for the class
    rise: tuple[float, ...]  # CELLS values, row by row from the top left
    seen: tuple[bool, ...]  # CELLS flags: found on a degraded view of that part

    def to_dict(self) -> dict[str, Any]:
        return {"class_id": self.class_id, "name": self.name, "rise": list(self.rise), "seen": list(self.seen)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ClassPlace":
        try:
            cid, name, rise, seen = d["class_id"], d["name"], d["rise"], d["seen"]
        except (KeyError, TypeError):
            raise PlacesError("a class's place needs class_id, name, rise and seen") from None
        if not isinstance(cid, int) or isinstance(cid, bool) or cid < 0:
            raise PlacesError("class_id must be a class id (an integer >= 0)")
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise PlacesError("name must be a class name of 1 to 100 characters")
        if not isinstance(rise, (list, tuple)) or len(rise) != CELLS or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) for r in rise):
            raise PlacesError(f"rise must be {CELLS} finite numbers")
        if not isinstance(seen, (list, tuple)) or len(seen) != CELLS or not all(isinstance(s, bool) for s in seen):
            raise PlacesError(f"seen must be {CELLS} true/false flags")
        return cls(cid, name, tuple(float(r) for r in rise), tuple(seen))


@dataclass(frozen=True)
class Claim:
    """What may be said of one class: `plain` (it plainly took `cells`), `faint` (its evidence
    rose in `cells` but the net does not find it there once the picture is degraded), or
    `none` (it did not grow; `cells` is empty). `cells` are strongest first."""

    class_id: int
    name: str
    strength: Strength
    cells: tuple[int, ...]


def claim(place: ClassPlace, *, min_rise: float = MIN_RISE, share: float = SHARE) -> Claim:
    """The honest reading of `place`: only cells where the class rose clearly are named, and
    only those the net still finds there on a degraded view are named plainly."""
    peak = max(place.rise)
    if peak < min_rise:
        return Claim(place.class_id, place.name, Strength.NONE, ())
    risen = sorted((i for i, r in enumerate(place.rise) if r >= max(min_rise, share * peak)),
                   key=lambda i: -place.rise[i])
    plain = tuple(i for i in risen if place.seen[i])
    if plain:
        return Claim(place.class_id, place.name, Strength.PLAIN, plain)
    return Claim(place.class_id, place.name, Strength.FAINT, tuple(risen))


@dataclass(frozen=True)
class Places:
    """Where each class of a dream grew (in the recipe's order of classes), measured with `model`."""

    classes: tuple[ClassPlace, ...]
    model: str

    def claims(self) -> list[Claim]:
        return [claim(p) for p in self.classes]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "classes": [p.to_dict() for p in self.classes]}

    @classmethod
    def from_dict(cls, d: Any) -> "Places":
        """Places as `to_dict` wrote them; anything else raises PlacesError (it may come from
        a queue that anyone with its password can write to)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("classes"), list) or not isinstance(d.get("model"), str):
            raise PlacesError("places need a model name and a list of classes")
        if len(d["classes"]) > 64:
            raise PlacesError("places of more than 64 classes")
        return cls(tuple(ClassPlace.from_dict(p) for p in d["classes"]), d["model"][:100])
