"""Three-class mutants on photos and classes no benchmark had before session 19: a hold-out kept
from every choice that session made (its candidates were screened on quality_fresh2.py's
triples), judged as quality.py judges hybrids (the weakest class of each picture). Rows chosen,
written down and committed before any candidate ran on them; the classes were picked among those
no benchmark, demo or contact sheet had named.

    .venv/bin/python benchmarks/mutant_curves.py --set fresh3 --kind triples --out curves.jsonl
    .venv/bin/python benchmarks/quality_fresh3.py --recipes default --triples

The photos are Debian's wallpapers (`apt-get install plasma-workspace-wallpapers
lomiri-wallpapers`; read where the packages put them, not copied): the photographs among them
that quality_fresh2.py left."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402
from quality_fresh2 import LOMIRI, PLASMA, largest  # noqa: E402

PLASMA_PHOTOS = ("BytheWater", "ColorfulCups", "DarkestHour", "OneStandsOut")
LOMIRI_PHOTOS = {"kleiber": "Kleiber_by_Lukas_Baubkus.jpg", "picos": "picosdeeuropa_by_Aitzol_Berasategi.jpg",
                 "bridge": "Bridge_by_Sander_Klootwijk.jpg", "sunset": "sunset_by_Aitzol_Berasategi.jpg"}
if PLASMA.is_dir():
    Q.PHOTO_FILES.update({name.lower(): largest(PLASMA / name) for name in PLASMA_PHOTOS})
Q.PHOTO_FILES.update({key: LOMIRI / name for key, name in LOMIRI_PHOTOS.items()})
PAIRS: list = []
TRIPLES = [
    ("bythewater", [["polar bear", "artichoke", "bee eater"]]),
    ("colorfulcups", [["meerkat", "espresso", "fire salamander"]]),
    ("darkesthour", [["hippopotamus", "candle", "sulphur butterfly"]]),
    ("onestandsout", [["leopard", "pretzel", "wolf spider"]]),
    ("kleiber", [["golden retriever", "cauliflower", "rhinoceros beetle"]]),
    ("picos", [["sloth bear", "mosque", "African chameleon"]]),
    ("bridge", [["airliner", "Granny Smith", "trilobite"]]),
    ("sunset", [["dung beetle", "gondola", "teapot"]]),
]

if __name__ == "__main__":
    raise SystemExit(Q.main_held_mutants(PAIRS, TRIPLES, sys.argv[1:]))
