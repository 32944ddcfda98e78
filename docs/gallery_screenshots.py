"""Screenshots of an outbox gallery as a phone (412 px) and a desktop see it, light and dark.

    .venv/bin/python docs/gallery_screenshots.py data/demo/outbox

writes docs/gallery_phone.jpg, docs/gallery_desktop.jpg and docs/gallery_dark.jpg (the page is
rebuilt first, so it shows the current gallery code).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.publishers.outbox import OutboxPublisher  # noqa: E402

DOCS = Path(__file__).resolve().parent
SHOTS = {"gallery_phone.jpg": (412, 1400, []), "gallery_desktop.jpg": (1280, 1000, []),
         "gallery_dark.jpg": (412, 1400, ["--force-dark-mode"])}


def main(outbox: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium")
    folder = Path(outbox)
    index = OutboxPublisher(folder).rebuild_index()
    for name, (width, height, extra) in SHOTS.items():
        with tempfile.TemporaryDirectory() as profile:
            target = DOCS / name
            shot = Path(profile) / "shot.png"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={profile}", f"--window-size={width},{height}",
                            f"--screenshot={shot}", *extra, index.resolve().as_uri()],
                           check=True, capture_output=True, timeout=120)
            Image.open(shot).convert("RGB").save(target, quality=85, optimize=True)
        print(target)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/demo/outbox")
