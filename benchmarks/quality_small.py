"""Single classes on small photos (320 pixels on the long side, a phone's thumbnail or an avatar-
sized picture in a mention): does the stop rule, tuned at 640, stop too soon where the whole photo
fits in one of the check's crops?

    .venv/bin/python benchmarks/quality_small.py                        # the default
    .venv/bin/python benchmarks/quality_small.py --set stop_seen=0      # every dream to its cap
    (any quality.py option after these: --photos a,b to split over processes, --out DIR)

The rows are quality.py's held-out single classes, judged as quality.py judges."""
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
    raise SystemExit(Q.main(["--rows", "held", "--kinds", "single", "--recipes", "default", *sys.argv[1:]]))
