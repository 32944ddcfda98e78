"""Three-class mutants, judged as quality.py judges hybrids (the weakest of the three classes).
The bot posts them (`[picker] max_classes = 3`, requests naming three classes), and quality.py's
plan has only two-class hybrids.

    .venv/bin/python benchmarks/quality_triples.py --rows held     # the rows to report
    .venv/bin/python benchmarks/quality_triples.py --rows tune     # the rows to tune on
    (any quality.py option after these: --photos flower,hopper to split over processes, --set, --out DIR)

Tuning rows: quality.py's tuning photos and classes. Held-out rows: its held-out photos and
classes, and two photos and six classes that quality.py's plan never had."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402

Q.SKIMAGE_PHOTOS.update({"retina": "retina.jpg", "coins": "coins.png"})
Q.PLAN[:] = [
    ("rocket", [["goldfish", "monarch", "daisy"]]),
    ("chelsea", [["peacock", "jellyfish", "stingray"]]),
    ("coffee", [["ostrich", "traffic light", "goldfish"]]),
    ("motorcycle", [["monarch", "jellyfish", "peacock"]]),
    ("flower", [["flamingo", "tree frog", "goldfish"]]),
    ("hopper", [["sea slug", "monarch", "ostrich"]]),
    ("retina", [["bee", "hen", "sea anemone"]]),
    ("coins", [["lorikeet", "axolotl", "scorpion"]]),
]
Q.HELD_PHOTOS = frozenset({"flower", "hopper", "retina", "coins"})

if __name__ == "__main__":
    raise SystemExit(Q.main(["--kinds", "hybrid", "--recipes", "default", *sys.argv[1:]]))
