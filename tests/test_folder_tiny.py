"""The 64 px floor (MIN_PHOTO_SIDE) covers the operator's folder too: a tiny picture dropped
into the queue was dreamt (a 10×10 icon blown up to the net's input), where a feed's or a URL
list's is skipped. Real PNG files in a temporary folder."""
from __future__ import annotations

import os
import time

from bot.sources.base import MIN_PHOTO_SIDE
from bot.sources.folder import FolderSource
from bot_helpers import photo_bytes, write_photo
from test_bot_sources import store  # noqa: F401 (the fixture)


def _tiny(path, size=(10, 10)):
    """A real PNG of `size`, written two minutes ago (older than write_photo's: asked first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo_bytes(9, size=size))
    then = time.time() - 120
    os.utime(path, (then, then))
    return path


def test_a_tiny_picture_in_the_folder_is_filed_under_failed_with_the_reason_and_the_queue_moves_on(
        tmp_path, store, caplog):  # noqa: F811
    caplog.set_level("INFO", logger="bot")
    inbox = tmp_path / "inbox"
    icon = _tiny(inbox / "icon.png")
    write_photo(inbox / "photo.png", 1, age=60)  # newer than the icon: asked after it
    src = FolderSource("inbox", inbox, settle_seconds=0)

    item = src.take(store)
    assert item is not None and item.credit.title == "photo"  # the icon was passed over
    failed = inbox / "failed" / "icon.png"
    assert not icon.exists() and failed.read_bytes() == photo_bytes(9, size=(10, 10))  # kept, not deleted
    reason = (inbox / "failed" / "icon.png.txt").read_text(encoding="utf-8")
    assert "10×10" in reason and f"under {MIN_PHOTO_SIDE} pixels" in reason
    said = [r.getMessage() for r in caplog.records if "icon.png" in r.getMessage()]
    assert len(said) == 1 and "too small" in said[0] and "source inbox" in said[0], said

    item.done()
    assert src.take(store) is None  # nothing left: the icon is not asked again
    said = [r.getMessage() for r in caplog.records if "icon.png" in r.getMessage()]
    assert len(said) == 1, said


def test_a_tiny_picture_in_a_folder_that_is_only_read_stays_put_and_is_not_tried_again(
        tmp_path, store, caplog):  # noqa: F811
    caplog.set_level("INFO", logger="bot")
    inbox = tmp_path / "photos"
    icon = _tiny(inbox / "strip.png", size=(300, 40))  # the short side counts
    src = FolderSource("photos", inbox, consume=False, settle_seconds=0)
    assert src.take(store) is None
    assert src.take(store) is None  # the next cycle
    assert icon.read_bytes() == photo_bytes(9, size=(300, 40)) and not (inbox / "failed").exists()
    said = [r.getMessage() for r in caplog.records if "strip.png" in r.getMessage()]
    assert len(said) == 1 and "300×40" in said[0], said


def test_a_picture_at_the_floor_is_taken(tmp_path, store):  # noqa: F811
    inbox = tmp_path / "inbox"
    _tiny(inbox / "edge.png", size=(MIN_PHOTO_SIDE, MIN_PHOTO_SIDE))
    item = FolderSource("inbox", inbox, settle_seconds=0).take(store)
    assert item is not None and item.image.size == (MIN_PHOTO_SIDE, MIN_PHOTO_SIDE)
