"""The photo behind each of the bot's posts, kept for remixes by reply (issue 30) for as long as
the operator says (`requests.remix_keep_days`; 0 keeps none).

The pipeline keeps the photo as the engine will see it (scaled to the recipe's max_pixels, a
JPEG in data_dir/remix named by the post's key) before it records the dream, and the store
names it in the dream's row. `sweep` runs where the pipeline picks up after a dead process
(under the cycle locks, so no photo it finds can be one being kept right now): it deletes the
photos past their time, and the ones a dead process kept but never recorded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bot.folders import private_dir, private_file

if TYPE_CHECKING:
    from PIL import Image

    from bot.config import Config
    from bot.store import Store

log = logging.getLogger("bot.kept_photos")
FOLDER = "remix"


@dataclass(frozen=True)
class Keeping:
    """How long photos are kept, and how big."""

    days: float  # 0: none kept
    max_pixels: int  # the recipe's: the photo as the engine will see it

    @classmethod
    def from_config(cls, cfg: "Config") -> "Keeping":
        r = cfg.requests
        wanted = r.enabled and r.remix and cfg.publishers.mastodon.enabled  # only when someone can remix them
        return cls(r.remix_keep_days if wanted else 0.0, cfg.base_recipe().max_pixels)


def keep(keeping: Keeping, image: "Image.Image", post_key: str, data_dir: Path) -> Path | None:
    """Keep `image` for the post `post_key`; returns where, or None when not kept (not wanted,
    or the disk said no: a remix is a courtesy, never a reason to lose the dream)."""
    if not keeping.days:
        return None
    target = private_dir(data_dir / FOLDER) / f"{post_key}.jpg"
    try:
        small = image.convert("RGB")
        most = keeping.max_pixels
        if most and small.width * small.height > most:
            scale = (most / (small.width * small.height)) ** 0.5
            small = small.resize((max(1, int(small.width * scale)), max(1, int(small.height * scale))))
        tmp = target.with_name(target.name + ".tmp")
        small.save(tmp, "JPEG", quality=92)
        tmp.replace(target)
        private_file(target)
        return target
    except (OSError, ValueError) as exc:
        log.warning("cannot keep the photo of post %s for remixes: %s", post_key, exc)
        return None


def sweep(store: "Store", keeping: Keeping, data_dir: Path) -> int:
    """Delete the kept photos past their days (all of them when none are kept) and the ones no
    dream names; returns how many went."""
    days = keeping.days
    before = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
    gone = store.forget_photos(before)
    folder = data_dir / FOLDER
    try:
        if folder.is_dir():
            named = {Path(p).name for p in store.kept_photos()}
            gone += [str(p) for p in folder.iterdir() if p.is_file() and p.name not in named]
    except OSError as exc:  # a folder it cannot read must not stop the cycle that called it
        log.warning("remix photos: cannot look through %s: %s", folder, exc)
    for path in gone:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:  # no dream names it now: the next sweep finds it as a stray
            log.warning("remix photos: cannot delete %s (tried again next cycle): %s", path, exc)
    if gone:
        log.info("remix photos: %d no longer kept (remix_keep_days = %g)", len(gone), days)
    return len(gone)
