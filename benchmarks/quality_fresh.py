"""Mutants on photos and classes no benchmark had before session 11: a hold-out kept from every
choice that session made (the candidates were screened on quality.py's tuning rows only), judged
as quality.py judges hybrids (the weakest class of each picture).

    .venv/bin/python benchmarks/quality_fresh.py --recipes default,mix
    (--pairs or --triples for one kind; any quality.py option after these: --photos aqua,garden
    to split over processes, --out DIR)

The photos are the rest of Debian's mate-backgrounds nature set (`apt-get install mate-backgrounds`;
read where the package puts them, not copied); quality_mutants.py has its other four."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402

MATE = Path("/usr/share/backgrounds/mate/nature")
PHOTOS = ("Aqua", "Blinds", "FreshFlower", "Garden", "GreenMeadow", "RainDrops", "TwoWings", "YellowFlower")
Q.PHOTO_FILES.update({name.lower(): MATE / f"{name}.jpg" for name in PHOTOS})
PAIRS = [
    ("aqua", [["king penguin", "brain coral"]]), ("blinds", [["snow leopard", "dragonfly"]]),
    ("freshflower", [["American lobster", "great grey owl"]]), ("garden", [["orangutan", "pizza"]]),
    ("greenmeadow", [["bald eagle", "mushroom"]]), ("raindrops", [["giant panda", "sulphur-crested cockatoo"]]),
    ("twowings", [["African elephant", "ice cream"]]), ("yellowflower", [["chimpanzee", "castle"]]),
]
TRIPLES = [
    ("aqua", [["sea lion", "red panda", "pomegranate"]]), ("blinds", [["castle", "king penguin", "mushroom"]]),
    ("greenmeadow", [["volcano", "ladybug", "hammerhead"]]), ("twowings", [["tiger", "lighthouse", "brain coral"]]),

]

if __name__ == "__main__":
    raise SystemExit(Q.main_held_mutants(PAIRS, TRIPLES, sys.argv[1:]))
