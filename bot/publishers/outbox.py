"""The embedded publisher: each post as files in a folder, plus an index.html gallery.

For post `abc`: `abc.png` (the image), `abc.json` (caption, alt text, tags, source, time).
The JSON is written last and atomically: it is the "post exists" mark, so publishing the same
post_id again finds it and does nothing. index.html is rebuilt from the JSON files after each
post (newest first), with relative links and every value HTML-escaped, so it opens straight
from file:// and a hostile feed title cannot inject markup.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.publishers.base import Post, Published, PublishError

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_MODE = 0o644  # mkstemp makes 0600; the outbox is meant to be read (and maybe served)


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
                "caption": post.caption,
                "alt_text": post.alt_text,
                "tags": list(post.tags),
                "source_url": post.source_url,
                "title": post.title,
                "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            _atomic_write(self.folder / f"{post.post_id}.json", json.dumps(meta, indent=2, ensure_ascii=False))
            self.rebuild_index()
        except OSError as exc:
            raise PublishError(f"outbox {self.folder}: cannot write the post: {exc}", transient=True) from None
        return self._published(post.post_id)

    def find_existing(self, post: Post) -> Published | None:
        _check_id(post.post_id)
        meta = self.folder / f"{post.post_id}.json"
        if meta.is_file() and (self.folder / self._image_of(meta)).is_file():
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
        e = html.escape
        articles = []
        for m in self.posts():
            src = quote(str(m["image"]))
            tags = " ".join(f"#{e(str(t))}" for t in m.get("tags") or [])
            source = m.get("source_url") or ""
            source_html = (
                f'<a href="{e(source)}" rel="nofollow noopener">source photo</a>'
                if source.startswith(("http://", "https://")) else ""
            )
            articles.append(
                f'<article id="post-{e(m["post_id"])}">\n'
                f'  <a href="{src}"><img src="{src}" alt="{e(str(m.get("alt_text") or ""))}" loading="lazy"></a>\n'
                f'  <p class="caption">{e(str(m.get("caption") or ""))}</p>\n'
                f'  <p class="meta"><time>{e(str(m.get("published_at", "")))}</time> {source_html} '
                f'<span class="tags">{tags}</span></p>\n'
                "</article>"
            )
        body = "\n".join(articles) or '<p class="empty">No posts yet.</p>'
        page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(self.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; background: #fafafa; color: #222; }}
article {{ background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 1rem; margin: 0 0 2rem; }}
img {{ max-width: 100%; height: auto; display: block; border-radius: 4px; }}
.caption {{ white-space: pre-wrap; }}
.meta {{ color: #666; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>{e(self.title)}</h1>
{body}
</body>
</html>
"""
        target = self.folder / "index.html"
        _atomic_write(target, page)
        return target

    # --- helpers ---------------------------------------------------------------------------
    def _published(self, post_id: str) -> Published:
        return Published(remote_id=post_id, url=(self.folder / "index.html").resolve().as_uri() + f"#post-{post_id}")

    def _image_of(self, meta_path: Path) -> str:
        try:
            return str(json.loads(meta_path.read_text(encoding="utf-8")).get("image") or "")
        except (OSError, ValueError, AttributeError):
            return ""


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
