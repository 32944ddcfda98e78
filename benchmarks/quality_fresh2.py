"""Mutants on photos and classes no benchmark had before session 12: a hold-out kept from every
choice that session made (its candidates were screened on quality.py's tuning rows only), judged
as quality.py judges hybrids (the weakest class of each picture). Rows chosen, written down and
committed before any candidate ran on them.

    .venv/bin/python benchmarks/quality_fresh2.py --recipes default,grow15
    (--pairs or --triples for one kind; any quality.py option after these: --photos path,kite
    to split over processes, --out DIR)

The photos are from Debian's wallpaper packages (`apt-get install plasma-workspace-wallpapers
lomiri-wallpapers`; read where the packages put them, not copied): the photographs among them,
none of them used before."""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402

PLASMA = Path("/usr/share/wallpapers")
LOMIRI = Path("/usr/share/backgrounds")


def largest(folder: Path) -> Path:
    """A plasma wallpaper's biggest image (its files are named WIDTHxHEIGHT.jpg)."""
    def pixels(p: Path) -> int:
        m = re.match(r"(\d+)x(\d+)", p.stem)
        return int(m[1]) * int(m[2]) if m else 0
    return max((folder / "contents" / "images").iterdir(), key=pixels)


PLASMA_PHOTOS = ("EveningGlow", "FallenLeaf", "Path", "Kite", "Volna", "summer_1am")
LOMIRI_PHOTOS = {"fig": "Picture_0B_by_freespace.jpg", "friends": "friends_by_Aitzol_Berasategi.jpg",
                 "aitzgorri": "aitzgorri_by_Aitzol_Berasategi.jpg", "seeding": "seeding_by_Clements_Engelhardt.jpg",
                 "creek": "life_by_Aitzol_Berasategi.jpg", "wine": "Wine_by_Jakkub_Mede.jpg"}
if PLASMA.is_dir():
    Q.PHOTO_FILES.update({name.lower(): largest(PLASMA / name) for name in PLASMA_PHOTOS})
Q.PHOTO_FILES.update({key: LOMIRI / name for key, name in LOMIRI_PHOTOS.items()})
PAIRS = [
    ("eveningglow", [["killer whale", "balloon"]]), ("fallenleaf", [["porcupine", "lemon"]]),
    ("path", [["brown bear", "agaric"]]), ("kite", [["albatross", "carousel"]]),
    ("volna", [["loggerhead", "sea urchin"]]), ("fig", [["pufferfish", "broccoli"]]),
    ("friends", [["lion", "cheeseburger"]]), ("aitzgorri", [["bison", "goldfinch"]]),
]
TRIPLES = [
    ("seeding", [["cabbage butterfly", "hamster", "bell pepper"]]),
    ("creek", [["otter", "green mamba", "acorn"]]),
    ("wine", [["Persian cat", "banana", "mantis"]]),
    ("summer_1am", [["black swan", "steam locomotive", "admiral"]]),

]

if __name__ == "__main__":
    raise SystemExit(Q.main_held_mutants(PAIRS, TRIPLES, sys.argv[1:]))
