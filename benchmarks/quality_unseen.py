"""Hybrids on photos and classes that quality.py's plan never had: a check, after tuning on the
plan, that a change holds for what it was not tuned on (the bot is judged on such pictures).

    .venv/bin/python benchmarks/quality_unseen.py                             # the default
    .venv/bin/python benchmarks/quality_unseen.py --set 'hybrid_partner=""'   # Lite0 alone
    (any quality.py option after these: --photos retina,ihc to split over processes, --out DIR)

Four scikit-image sample photos the plan does not use (a retina, a microscope slide, coins, grass)
and eight classes it does not name, one two-class hybrid each, judged as quality.py judges."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402

Q.SKIMAGE_PHOTOS.update({"retina": "retina.jpg", "ihc": "ihc.png", "coins": "coins.png", "grass": "grass.png"})
Q.PLAN[:] = [("retina", [["bee", "axolotl"]]), ("ihc", [["lorikeet", "scorpion"]]),
             ("coins", [["hen", "starfish"]]), ("grass", [["tarantula", "sea anemone"]])]
Q.HELD_PHOTOS = frozenset(photo for photo, _ in Q.PLAN)  # every row is one the tuning never saw

if __name__ == "__main__":
    raise SystemExit(Q.main(["--rows", "held", "--kinds", "hybrid", "--recipes", "default", *sys.argv[1:]]))
