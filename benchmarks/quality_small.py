"""Single classes on small photos (320 pixels on the long side, a phone's thumbnail or an avatar-
sized picture in a mention): does the stop rule, tuned at 640, stop too soon where the whole photo
fits in one of the check's crops?

    .venv/bin/python benchmarks/quality_small.py                        # the default
    .venv/bin/python benchmarks/quality_small.py --set stop_seen=0      # every dream to its cap
    .venv/bin/python benchmarks/quality_small.py --wallpapers           # quality_big.py's 12 rows instead
    (any quality.py option after these: --photos a,b to split over processes, --out DIR)

The rows are quality.py's held-out single classes (or, with --wallpapers, quality_big.py's twelve
fresh photos and classes), judged as quality.py judges."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402

LONG_SIDE = 320
_load = Q.load_photo


def load_small(name: str):
    """Every photo at LONG_SIDE on its long side (quality.py keeps its bundled photos' own sizes)."""
    from PIL import Image

    img = _load(name)
    s = LONG_SIDE / max(img.size)
    return img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS) if s < 1 else img


Q.load_photo = load_small

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--wallpapers" in args:
        args.remove("--wallpapers")
        import quality_fresh2 as F2  # noqa: E402  (its photos' paths)

        Q.PLAN[:] = [(photo, [[pair[0][0]]]) for photo, pair in F2.PAIRS] + \
                    [(photo, [[triple[0][1]]]) for photo, triple in F2.TRIPLES]
        Q.HELD_PHOTOS = frozenset(photo for photo, _ in Q.PLAN)
    raise SystemExit(Q.main(["--rows", "held", "--kinds", "single", "--recipes", "default", *args]))
