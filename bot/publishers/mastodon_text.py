"""What a Mastodon server allows and how our text fits it: the limits read from its instance
configuration (never hard-coded: servers differ; mastodon.social allows 16 MiB and 33 MP
images, older servers 10 MiB), the length Mastodon counts, the status text of a post, and
the plain text of a status' HTML."""
from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import Post
from .marker import post_ref
from .media import fit_text, split_trailing_hashtags

# Used only for keys a server does not report. Stock Mastodon values, picked on the
# cautious side where versions differ (10 MiB / 16 MP are the pre-4.x image limits).
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23
DEFAULT_DESCRIPTION_LIMIT = 1500  # Mastodon's MAX_DESCRIPTION_LENGTH; not reported before 4.4
DEFAULT_IMAGE_SIZE_LIMIT = 10 * 1024 * 1024
DEFAULT_IMAGE_MATRIX_LIMIT = 4096 * 4096
DEFAULT_MIME_TYPES = ("image/jpeg", "image/png")
# Stock Mastodon's video limits (99 MiB, 120 fps, 4K), for servers that do not report theirs
DEFAULT_VIDEO_SIZE_LIMIT = 99 * 1024 * 1024
DEFAULT_VIDEO_FRAME_RATE_LIMIT = 120
DEFAULT_VIDEO_MATRIX_LIMIT = 3840 * 2160

_MIN_BODY = 40  # below this many characters of caption we start dropping hashtags
_URL_RE = re.compile(r"https?://[^\s<>\"]+")
_URL_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class MastodonLimits:
    """The numbers we need from a server's instance configuration."""

    max_characters: int = DEFAULT_MAX_CHARACTERS
    characters_reserved_per_url: int = DEFAULT_URL_CHARACTERS
    max_media_attachments: int = 4
    description_limit: int = DEFAULT_DESCRIPTION_LIMIT
    image_size_limit: int = DEFAULT_IMAGE_SIZE_LIMIT
    image_matrix_limit: int = DEFAULT_IMAGE_MATRIX_LIMIT
    supported_mime_types: tuple[str, ...] = DEFAULT_MIME_TYPES
    video_size_limit: int = DEFAULT_VIDEO_SIZE_LIMIT
    video_frame_rate_limit: int = DEFAULT_VIDEO_FRAME_RATE_LIMIT
    video_matrix_limit: int = DEFAULT_VIDEO_MATRIX_LIMIT
    poll_max_options: int = 4  # stock Mastodon's poll limits, for servers that do not say
    poll_max_characters_per_option: int = 50
    poll_min_expiration: int = 300
    poll_max_expiration: int = 2_629_746


def limits_from_instance(instance: Mapping[str, Any]) -> MastodonLimits:
    """Read limits from an `/api/v2/instance` (or v1) body; missing/null/bad values fall
    back to stock defaults (e.g. `description_limit` is absent before Mastodon 4.4)."""
    config = _mapping(instance.get("configuration"))
    statuses = _mapping(config.get("statuses"))
    media = _mapping(config.get("media_attachments"))
    polls = _mapping(config.get("polls"))
    mimes = media.get("supported_mime_types")
    if isinstance(mimes, list) and all(isinstance(m, str) for m in mimes) and mimes:
        mime_types = tuple(m.lower() for m in mimes)
    else:
        mime_types = DEFAULT_MIME_TYPES
    return MastodonLimits(
        # Pleroma/Akkoma report `max_toot_chars` at the top level instead.
        max_characters=_positive(
            statuses.get("max_characters"), _positive(instance.get("max_toot_chars"), DEFAULT_MAX_CHARACTERS)
        ),
        characters_reserved_per_url=_positive(statuses.get("characters_reserved_per_url"), DEFAULT_URL_CHARACTERS),
        max_media_attachments=_positive(statuses.get("max_media_attachments"), 4),
        description_limit=_positive(media.get("description_limit"), DEFAULT_DESCRIPTION_LIMIT),
        image_size_limit=_positive(media.get("image_size_limit"), DEFAULT_IMAGE_SIZE_LIMIT),
        image_matrix_limit=_positive(media.get("image_matrix_limit"), DEFAULT_IMAGE_MATRIX_LIMIT),
        supported_mime_types=mime_types,
        video_size_limit=_positive(media.get("video_size_limit"), DEFAULT_VIDEO_SIZE_LIMIT),
        video_frame_rate_limit=_positive(media.get("video_frame_rate_limit"), DEFAULT_VIDEO_FRAME_RATE_LIMIT),
        video_matrix_limit=_positive(media.get("video_matrix_limit"), DEFAULT_VIDEO_MATRIX_LIMIT),
        poll_max_options=_positive(polls.get("max_options"), 4),
        poll_max_characters_per_option=_positive(polls.get("max_characters_per_option"), 50),
        poll_min_expiration=_positive(polls.get("min_expiration"), 300),
        poll_max_expiration=_positive(polls.get("max_expiration"), 2_629_746),
    )


def status_length(text: str, url_characters: int = DEFAULT_URL_CHARACTERS) -> int:
    """Length as Mastodon counts it: every link counts as `url_characters`; trailing
    punctuation is not part of a link. Counting code points over-counts combined emoji,
    which only errs on the safe side."""
    total = len(text)
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        total += url_characters - len(url)
    return total


def fit_status(text: str, limits: MastodonLimits, room: int | None = None) -> str:
    """`text` shortened to what the server allows in a status (or in `room` characters)."""
    room = limits.max_characters if room is None else room
    return fit_text(text.strip(), room, length=lambda s: status_length(s, limits.characters_reserved_per_url))


def compose_status(post: Post, limits: MastodonLimits, spoiler_text: str | None = None) -> str:
    """The exact status text for a post: caption, reference line, hashtags.

    Hashtags are the caption's own trailing hashtag line plus `post.tags` not already in
    the caption, as one last line (Mastodon shows a trailing hashtag line as a tag bar).
    The reference line is always kept; the caption is shortened first, then hashtags are
    dropped from the end if the caption would otherwise shrink below a few words.
    The content warning counts towards the limit, as it does on the server.
    """
    return compose_text(post.post_id, post.caption, post.tags, limits, spoiler_text)


def compose_text(key: str, caption: str, extra_tags: tuple[str, ...], limits: MastodonLimits,
                 spoiler_text: str | None = None) -> str:
    """`compose_status` for any status the bot makes under a stable key (a post, a poll)."""
    ref = post_ref(key)
    body, tags = split_trailing_hashtags(caption.strip())
    seen = {t.lower() for t in tags}
    for raw in extra_tags:
        tag = _hashtag(raw)
        if tag and tag.lower() not in seen and not _mentions_tag(body, tag):
            tags.append(tag)
            seen.add(tag.lower())

    budget = limits.max_characters - len(spoiler_text or "")

    def length(s: str) -> int:
        return status_length(s, limits.characters_reserved_per_url)

    def render(b: str, t: list[str]) -> str:
        text = f"{b}\n{ref}" if b else ref
        return f"{text}\n\n{' '.join(t)}" if t else text

    while True:
        room = budget - length(render("", tags)) - 1  # 1: the newline before the ref
        if tags and room < min(_MIN_BODY, length(body)):
            tags.pop()
            continue
        fitted = fit_text(body, room, length=length) if room > 0 else ""
        return render(fitted, tags)


def html_to_text(content: str) -> str:
    """Plain text of a status' HTML content (line breaks kept, links as their text)."""
    text = re.sub(r"<br\s*/?>", "\n", content, flags=re.I)
    text = re.sub(r"</p\s*>", "\n\n", text, flags=re.I)
    text = re.sub(r"<[^>]+>", "", text)
    lines = [line.strip() for line in html.unescape(text).split("\n")]
    return "\n".join(lines).strip()


def _hashtag(tag: str) -> str:
    words = [w for w in re.split(r"[^\w]+", tag.strip().lstrip("#")) if w]
    if not words:
        return ""
    if len(words) == 1:
        return "#" + words[0]
    return "#" + "".join(w[:1].upper() + w[1:] for w in words)


def _mentions_tag(text: str, tag: str) -> bool:
    return re.search(rf"(?<![\w#]){re.escape(tag)}(?!\w)", text, re.I) is not None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _positive(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return default
    return int(value)
