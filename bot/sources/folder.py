"""A folder queue: drop photos into a folder; the bot takes the oldest, then moves it to done/
(or failed/, with the reason in a .txt beside it).

A file still being written is not taken: names that copy tools use for partial files are
skipped, and a file must have been left alone for `settle_seconds` (mtime) and keep the same
size across two looks (a time minutes or more in the future is the file's own, from a camera's
clock or `cp -p`: such a file settles from when it was first seen with that time and size).
An optional `<stem>.json` beside a photo gives its credit ({"title", "author", "link",
"licence", "description"}) and moves with it.
With `consume = false` the files stay put and the store alone keeps them from being dreamt twice.

A file that cannot be stat'ed or read goes to failed/ with the reason, like a broken picture
or one too small to dream (a side under MIN_PHOTO_SIDE), and the queue moves on. A name that
is not valid UTF-8 is used as it is on disk, but every text made from it (title, reason,
store) gets U+FFFD for the bytes that do not decode (clean_text).
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.sources.base import (MIN_PHOTO_SIDE, Credit, SourceError, SourceItem, SourceKind, clean_text, sha256,
                              too_small)
from bot.store.sources import Filing, SourceStatus

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
PARTIAL_SUFFIXES = {".part", ".partial", ".tmp", ".crdownload", ".download", ".filepart"}
CLOCK_SKEW = 300.0  # seconds a network share's clock may run ahead of ours


class FolderSource:
    kind = SourceKind.FOLDER

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        credit: Credit = Credit(),
        consume: bool = True,
        settle_seconds: float = 5.0,
        max_bytes: int = 50_000_000,
    ):
        self.name = name
        self.path = Path(path)
        self.credit = credit
        self.consume = consume
        self.settle_seconds = settle_seconds
        self.max_bytes = max_bytes
        self._stuck: set[str] = set()  # rejected files that could not be moved out of the way
        # files dated past any clock skew: name -> (mtime, size, when first seen so), settled
        # from when this process first saw them unchanged
        self._ahead: dict[str, tuple[float, int, float]] = {}

    def candidates(self) -> list[Path]:
        """Image files ready to take, oldest first."""
        if not self.path.is_dir():
            raise SourceError(f"source {self.name}: folder {self.path} does not exist (sources.path)")
        now = time.time()
        found, listed = [], set()
        for entry in os.scandir(self.path):
            p = Path(entry.path)
            if not entry.is_file(follow_symlinks=False) or p.name.startswith((".", "~")) or p.name in self._stuck:
                continue
            if p.suffix.lower() in PARTIAL_SUFFIXES or p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            listed.add(p.name)
            try:
                st = os.stat(p, follow_symlinks=False)
                mtime, size = st.st_mtime, st.st_size
            except FileNotFoundError:
                continue  # gone since the listing
            except OSError:
                mtime, size = float("-inf"), -1  # first in line: take() files it under failed/ with the reason
            if not self._settled(p.name, mtime, size, now):
                continue  # probably still being copied in
            found.append((mtime, p.name, p))
        self._ahead = {k: v for k, v in self._ahead.items() if k in listed}  # taken or gone: forgotten
        return [p for _, _, p in sorted(found)]

    def _settled(self, name: str, mtime: float, size: int, now: float) -> bool:
        """Whether the file has been left alone for settle_seconds. A time further ahead than any
        clock skew is the file's own (a camera's clock, `cp -p`): waiting for it would wait
        months, so such a file settles from when it was first seen with this time and size."""
        if now - mtime >= -CLOCK_SKEW:
            return now - mtime >= self.settle_seconds
        seen = self._ahead.get(name)
        if seen is None or seen[:2] != (mtime, size):
            self._ahead[name] = seen = (mtime, size, now)
        return now - seen[2] >= self.settle_seconds

    def take(self, store: "Store") -> SourceItem | None:
        from dreamer import ImageError, load_image

        for p in self.candidates():
            url = p.resolve().as_uri()  # percent-encoded bytes: any name is plain ASCII here
            if not self.consume and store.source_blocked(url=url):
                continue
            try:
                size = os.stat(p, follow_symlinks=False).st_size
                if size > self.max_bytes:
                    self._reject(store, p, url, None, f"{size:,} bytes is over fetch.max_bytes ({self.max_bytes:,})")
                    continue
                data = p.read_bytes()
            except FileNotFoundError:
                continue  # taken away since the listing
            except OSError as exc:
                self._reject(store, p, url, None, f"cannot read the file: {exc.strerror or exc}")
                continue
            if len(data) != size:
                continue  # grew while we read it: still being written, try next cycle
            digest = sha256(data)
            block = store.source_block(sha256=digest)  # dreamt before, given up, or dreamt but not filed
            if block is not None:
                if self.consume:
                    self._move(p, block.folder, block.why if block.folder is Filing.FAILED else None)
                store.skipped_source(block, self.name, url, digest)
                log.info("source %s: %s skipped, %s", self.name, p.name, block.why)
                continue
            try:
                image = load_image(data, name=clean_text(p.name))
            except ImageError as exc:
                self._reject(store, p, url, digest, str(exc))
                continue
            if min(image.size) < MIN_PHOTO_SIDE:  # an icon or thumbnail dropped in by mistake
                self._reject(store, p, url, digest, too_small(image.size))
                continue
            meta = self._sidecar(p)
            credit = self.credit.merged(
                title=meta.get("title") or _title_from(p), author=meta.get("author"),
                link=meta.get("link"), licence=meta.get("licence") or meta.get("license"),
                origin=f"{p.name} in the folder “{self.name}”",
            )
            return SourceItem(
                source=self.name,
                url=None if self.consume else url,  # a queue's file names get reused; its content is the identity
                sha256=digest,
                image=image,
                credit=credit,
                description=meta.get("description"),
                done=(lambda p=p: self._move(p, Filing.DONE)) if self.consume else (lambda: None),
                failed=(lambda why, p=p: self._move(p, Filing.FAILED, why)) if self.consume else (lambda why: None),
            )
        return None

    def queue_size(self, store: "Store") -> int | None:
        try:
            files = self.candidates()
        except SourceError:
            return None
        if self.consume:
            return len(files)
        return sum(1 for p in files if not store.source_blocked(url=p.resolve().as_uri()))

    # --- helpers -------------------------------------------------------------------------
    def _reject(self, store: "Store", p: Path, url: str, digest: str | None, why: str) -> None:
        log.warning("source %s: %s cannot be used: %s", self.name, p.name, why)
        # A file that cannot be read will not get better by itself: never try it again
        # (a fixed copy has other bytes, so it is a new source).
        store.note_source(self.name, url, digest, status=SourceStatus.FAILED, error=why, permanent=True)
        if self.consume and not self._move(p, Filing.FAILED, why):
            self._stuck.add(p.name)  # left in place: not tried again by this process

    def _sidecar(self, p: Path) -> dict[str, str]:
        side = p.with_suffix(".json")
        # A link is never followed, as photos that are links are never taken: whoever can drop
        # files here must not make the bot read (and post) a file from elsewhere.
        if side.is_symlink() or not side.is_file():
            return {}
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("source %s: ignoring %s: %s", self.name, side.name, exc)
            return {}
        return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float))} if isinstance(data, dict) else {}

    def _move(self, p: Path, where: Filing, why: str | None = None) -> bool:
        try:
            dest_dir = self.path / where
            dest_dir.mkdir(exist_ok=True)
            dest = _free_name(dest_dir / p.name)
            os.replace(p, dest)
            side = p.with_suffix(".json")
            if side.is_file() and not side.is_symlink():
                os.replace(side, dest.with_suffix(".json"))
            if why:
                dest.with_name(dest.name + ".txt").write_text(clean_text(why) + "\n", encoding="utf-8")
        except OSError as exc:
            log.error("source %s: cannot move %s to %s/: %s", self.name, p.name, where, exc)
            return False
        return True


def _free_name(dest: Path) -> Path:
    """dest, or dest with -1, -2, ... before its suffix: a name free for the photo and for its
    credit file beside it (cat.png's cat.json must not overwrite the cat.json of a cat.jpg filed
    before it)."""
    n = 1
    out = dest
    while out.exists() or out.with_suffix(".json").exists():
        out = dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
        n += 1
    return out


def _title_from(p: Path) -> str:
    return p.stem.replace("_", " ").replace("-", " ").strip() or p.name
