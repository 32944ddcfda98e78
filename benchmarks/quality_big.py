"""Single classes on photos of a megapixel, where the views engine works at its `work_pixels` and
its views are minified several times (quality.py's photos are 640 pixels at most, where even the
whole-picture view is seen at under 2x: `view_samples` and `work_pixels` change little there).

    .venv/bin/python benchmarks/quality_big.py                          # the default
    .venv/bin/python benchmarks/quality_big.py --set view_samples=2     # an option against it
    (any quality.py option after these: --photos fig,kite to split over processes, --out DIR)

The photos are quality_fresh2.py's wallpapers (held out from every single-class choice) at 1280
pixels on the long side, each with one class of its pair, judged as quality.py judges."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402
import quality_fresh2 as F2  # noqa: E402  (its photos' paths)

Q.LONG_SIDE = 1280
Q.PLAN[:] = [(photo, [[pair[0][0]]]) for photo, pair in F2.PAIRS] + \
            [(photo, [[triple[0][1]]]) for photo, triple in F2.TRIPLES]
Q.HELD_PHOTOS = frozenset(photo for photo, _ in Q.PLAN)

if __name__ == "__main__":
    raise SystemExit(Q.main(["--rows", "held", "--kinds", "single", "--recipes", "default", *sys.argv[1:]]))
