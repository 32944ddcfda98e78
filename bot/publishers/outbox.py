"""The embedded publisher: each post as files in a folder, plus an index.html gallery.

For post `abc`: `abc.png` (the image; a dive's poster frame), `abc.mp4` (a dive's video),
`abc.source.jpg` (the photo before the dream, when the pipeline kept one), `abc.json`
(caption, alt text, tags, source, time). The JSON is written last and atomically: it is the
"post exists" mark, so publishing the same post_id again finds it and does nothing. The
gallery (bot/publishers/gallery.py) is rebuilt from the JSON files after each post, newest
first.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.publishers.base import Post, Published, PublishError
from bot.publishers.gallery import write_pages

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_MODE = 0o644  # mkstemp makes 0600; the outbox is meant to be read (and maybe served)
_SOURCE_SIDE = 1024  # the "before" picture is a reminder, not an archive


def source_photo_path(dream_path: Path) -> Path:
    """Where the pipeline keeps the photo a dream was made from: beside the dream."""
    return dream_path.with_name(dream_path.stem + ".source.jpg")


def save_source_photo(image: Any, dream_path: Path) -> Path | None:
    """Keep a small copy of the source photo beside the dream, for the gallery's before/after.
    A courtesy: failing to write it never stops the dream."""
    target = source_photo_path(dream_path)
    try:
        small = image.convert("RGB")
        small.thumbnail((_SOURCE_SIDE, _SOURCE_SIDE))
        small.save(target, "JPEG", quality=85)
        return target
    except (OSError, ValueError) as exc:
        log.warning("cannot keep the source photo beside %s: %s", dream_path.name, exc)
        return None


class OutboxPublisher:
    name = "outbox"

    def __init__(self, folder: str | Path, *, title: str = "Lucid Dream Bot outbox"):
        self.folder = Path(folder)
        self.title = title

    # --- Publisher -------------------------------------------------------------------------
    def publish(self, post: Post) -> Published:
        found = self.find_existing(post)
        if found:
            return found
        _check_id(post.post_id)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ext = post.image_path.suffix.lower() or ".png"
            image_name = f"{post.post_id}{ext}"
            _atomic_copy(post.image_path, self.folder / image_name)
            meta = {
                "post_id": post.post_id,
                "image": image_name,
                "image_size": _size_of(self.folder / image_name),
                "caption": post.caption,
                "alt_text": post.alt_text,
                "tags": list(post.tags),
                "source_url": post.source_url,
                "title": post.title,
                "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            if post.video_path is not None:  # a dive: the video, its poster frame as the image
                video_name = f"{post.post_id}{post.video_path.suffix.lower() or '.mp4'}"
                _atomic_copy(post.video_path, self.folder / video_name)
                meta["video"] = video_name
            before = source_photo_path(post.image_path)
            if before.is_file():
                _atomic_copy(before, self.folder / f"{post.post_id}.source.jpg")
                meta["source_image"] = f"{post.post_id}.source.jpg"
                meta["source_size"] = _size_of(self.folder / meta["source_image"])
            _atomic_write(self.folder / f"{post.post_id}.json", json.dumps(meta, indent=2, ensure_ascii=False))
            self.rebuild_index()
        except OSError as exc:
            raise PublishError(f"outbox {self.folder}: cannot write the post: {exc}", transient=True) from None
        return self._published(post.post_id)

    def find_existing(self, post: Post) -> Published | None:
        _check_id(post.post_id)
        meta = self.folder / f"{post.post_id}.json"
        if meta.is_file() and all((self.folder / f).is_file() for f in self._files_of(meta)):
            return self._published(post.post_id)
        return None

    # --- the gallery -----------------------------------------------------------------------
    def posts(self) -> list[dict[str, Any]]:
        """Every post's metadata, newest first."""
        out = []
        if not self.folder.is_dir():
            return out
        for p in self.folder.glob("*.json"):
            try:
                meta = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("post_id") == p.stem and meta.get("image"):
                out.append(meta)
        out.sort(key=lambda m: (str(m.get("published_at", "")), m["post_id"]), reverse=True)
        return out

    def rebuild_index(self) -> Path:
        return write_pages(self.folder, self.title, self.posts(), _atomic_write)

    # --- helpers ---------------------------------------------------------------------------
    def _published(self, post_id: str) -> Published:
        return Published(remote_id=post_id, url=(self.folder / "index.html").resolve().as_uri() + f"#post-{post_id}")

    def _files_of(self, meta_path: Path) -> list[str]:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            return [str(meta.get("image") or "")] + ([str(meta["video"])] if meta.get("video") else [])
        except (OSError, ValueError, AttributeError):
            return [""]


def _size_of(path: Path) -> list[int] | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return list(im.size)
    except Exception:  # noqa: BLE001 - sizes only steady the layout; a picture without one still shows
        return None


def _check_id(post_id: str) -> None:
    if not _SAFE_ID.match(post_id):
        raise PublishError(f"outbox: post id {post_id!r} is not a safe file name", transient=False)


def _atomic_write(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.chmod(tmp, _MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(src: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, _MODE)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
