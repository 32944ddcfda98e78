"""The Neue Post Format (NPF) body of a Tumblr post: an image block with alt text, the
caption as text blocks (links marked), tags with the post's reference last."""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from .base import Post
from .marker import post_ref
from .media import fit_text, split_trailing_hashtags

TEXT_LIMIT = 4096  # per text block and for alt text, in code points
MAX_TAGS = 30
MEDIA_IDENTIFIER = "dream"
VIDEO_IDENTIFIER = "dive"


class TumblrState(StrEnum):
    """The state a post is made in (NPF's `state`), the config's [publishers.tumblr] state."""

    PUBLISHED = "published"
    QUEUE = "queue"  # the blog's queue: Tumblr publishes it later, under a new id
    DRAFT = "draft"
    PRIVATE = "private"  # published, seen only by the blog (not offered in the config)

    @property
    def published_at_once(self) -> bool:
        """Whether the post is live, under the id it was made with, as soon as it is made."""
        return self in (TumblrState.PUBLISHED, TumblrState.PRIVATE)


_URL_RE = re.compile(r"https?://[^\s<>\"]+")
_URL_TRAILING = ".,;:!?)]}'\""


def build_npf(post: Post, *, mime: str, width: int, height: int, state: TumblrState,
              video: tuple[int, int] | None = None) -> dict[str, Any]:
    """The NPF request body for a post whose image is sent as part MEDIA_IDENTIFIER; for a
    dive (`video`: its width and height), a video block whose video is part VIDEO_IDENTIFIER
    and whose poster is that image. NPF video blocks carry no alt text, so a dive's
    description follows it as the first text block."""
    caption, caption_tags = split_trailing_hashtags(post.caption.strip())
    image = {"type": mime, "identifier": MEDIA_IDENTIFIER, "width": width, "height": height}
    alt = fit_text(post.alt_text.strip(), TEXT_LIMIT)
    content: list[dict[str, Any]]
    if video is not None:
        content = [
            {"type": "video", "media": {"type": "video/mp4", "identifier": VIDEO_IDENTIFIER,
                                        "width": video[0], "height": video[1]}, "poster": [image]},
            {"type": "text", "subtype": "quote", "text": alt},
        ]
    else:
        content = [{"type": "image", "media": [image], "alt_text": alt}]
    title = (post.title or "").strip()
    if title and not caption.startswith(title):
        content.append({"type": "text", "subtype": "heading1", "text": fit_text(title, TEXT_LIMIT)})
    # One text block per caption line: NPF text blocks are paragraphs, and a credit line
    # should not run into the class names.
    for line in caption.split("\n"):
        if line.strip():
            content.append(_text_block(fit_text(line.strip(), TEXT_LIMIT)))
    body: dict[str, Any] = {
        "content": content,
        "tags": ",".join(_tags(list(post.tags) + caption_tags, post_ref(post.post_id))),
        "state": TumblrState(state).value,  # the plain string, whatever the caller passed
    }
    if post.source_url:
        body["source_url"] = post.source_url
    return body


def _text_block(text: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    links = []
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        # NPF indexes count code points, as Python str indexes do.
        links.append({"start": match.start(), "end": match.start() + len(url), "type": "link", "url": url})
    if links:
        block["formatting"] = links
    return block


def _tags(raw: list[str], ref: str) -> list[str]:
    # "machine made", "#MachineMade" and "machine-made" are one tag: keep the first spelling
    # (the configured tags come first; they may have spaces, which Tumblr tags allow).
    seen = {re.sub(r"\W", "", ref.lower())}
    tags: list[str] = []
    for tag in raw:
        clean = re.sub(r"\s+", " ", tag.replace(",", " ")).strip().lstrip("#").strip()
        key = re.sub(r"[\W_]", "", clean.lower())
        if key and key not in seen:
            seen.add(key)
            tags.append(clean)
    return tags[: MAX_TAGS - 1] + [ref]
