"""Mutants (two and three classes) on held-out photos and classes, judged as quality.py judges
hybrids (the weakest class of each picture), with today's default and the way mutants were
dreamt before (`mix`) side by side.

    .venv/bin/python benchmarks/quality_mutants.py --recipes default,mix
    (any quality.py option after these: --photos dune,storm to split over processes, --out DIR)

Every row is held out: quality.py's held-out two-class rows, quality_unseen.py's and
quality_triples.py's held-out rows, and photos and classes that no benchmark had before session 9:
four of Debian's mate-backgrounds photos (`apt-get install mate-backgrounds`; read where the package
puts them, not copied) with eight classes the project never named."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402

Q.SKIMAGE_PHOTOS.update({"retina": "retina.jpg", "ihc": "ihc.png", "coins": "coins.png", "grass": "grass.png"})
MATE = Path("/usr/share/backgrounds/mate/nature")
Q.PHOTO_FILES.update({name.lower(): MATE / f"{name}.jpg" for name in ("Dune", "Storm", "LadyBird", "Wood")})
PAIRS = [
    # quality.py's held-out hybrids
    ("flower", [["peacock", "jellyfish"]]), ("hopper", [["goldfish", "stingray"]]),
    ("astronaut", [["ostrich", "sea slug"]]), ("camera", [["ostrich", "sea slug"]]),
    ("moon", [["monarch", "goldfish"]]), ("brick", [["flamingo", "goldfish"]]),
    # quality_unseen.py's
    ("retina", [["bee", "axolotl"]]), ("ihc", [["lorikeet", "scorpion"]]),
    ("coins", [["hen", "starfish"]]), ("grass", [["tarantula", "sea anemone"]]),
    # new in session 9: photos and classes never used before
    ("dune", [["toucan", "snail"]]), ("storm", [["tiger shark", "hummingbird"]]),
    ("ladybird", [["chameleon", "lionfish"]]), ("wood", [["koala", "pineapple"]]),
]
TRIPLES = [
    # quality_triples.py's held-out rows
    ("flower", [["flamingo", "tree frog", "goldfish"]]), ("hopper", [["sea slug", "monarch", "ostrich"]]),
    ("retina", [["bee", "hen", "sea anemone"]]), ("coins", [["lorikeet", "axolotl", "scorpion"]]),
    # new in session 9
    ("dune", [["zebra", "jack-o'-lantern", "macaw"]]), ("storm", [["red fox", "strawberry", "hermit crab"]]),
]
Q.PLAN[:] = PAIRS + TRIPLES
Q.HELD_PHOTOS = frozenset(photo for photo, _ in Q.PLAN)  # every row is held out

if __name__ == "__main__":
    raise SystemExit(Q.main(["--rows", "held", "--kinds", "hybrid", *sys.argv[1:]]))
