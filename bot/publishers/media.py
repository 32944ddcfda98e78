"""Make an image and a text fit a platform's limits (bytes, pixels, characters).

Shared by the publishers: each one reads its platform's limits and calls these, so the
re-encoding rules live in one place and can be tested without any server.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

# What fit_image can write; platforms advertise what they accept, we intersect.
_ENCODERS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_PIL_TO_MIME = {v: k for k, v in _ENCODERS.items()}
# Preferred output when the source cannot be kept: JPEG is accepted everywhere and is the
# only one whose size we can steer smoothly with a quality knob.
_PREFERENCE = ("image/jpeg", "image/webp", "image/png")
_QUALITIES = (92, 86, 80, 72, 64)
_SHRINK_STEP = 0.85  # per round once the quality ladder is exhausted
_MIN_SIDE = 32  # below this an image is no longer worth posting


def fit_image(
    source: str | Path | bytes | Image.Image,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: Iterable[str] = ("image/jpeg", "image/png", "image/webp"),
) -> tuple[bytes, str]:
    """Return (encoded bytes, mime type) no larger than max_bytes and max_pixels (w*h).

    A file that already fits, in an accepted format, is returned byte for byte (no
    needless re-encoding). Otherwise the image is downscaled to the pixel limit and then
    encoded with decreasing JPEG quality, shrinking further until it fits.
    Raises ValueError with a readable message for unreadable images or impossible limits.
    """
    accepted = [f.lower() for f in formats]
    targets = [m for m in _PREFERENCE if m in accepted]
    if not targets:
        raise ValueError(
            f"none of the accepted image types {sorted(accepted)} can be written "
            f"(we can write {sorted(_ENCODERS)})"
        )
    if max_bytes <= 0 or max_pixels <= 0:
        raise ValueError(f"impossible image limits: max_bytes={max_bytes}, max_pixels={max_pixels}")

    original, image = _open(source)
    source_mime = _PIL_TO_MIME.get(image.format or "") if original is not None else None
    image = ImageOps.exif_transpose(image)
    if (
        original is not None
        and source_mime in accepted
        and len(original) <= max_bytes
        and image.width * image.height <= max_pixels
        and not _has_exif_rotation(original)
    ):
        return original, source_mime

    mime = targets[0]
    # Keep PNG/WebP sources lossless when that is allowed and the size allows it.
    if source_mime in ("image/png", "image/webp") and source_mime in targets:
        mime = source_mime
    image = _downscale(image, max_pixels)
    while True:
        data = _encode_to_fit(image, mime, max_bytes)
        if data is not None:
            return data, mime
        if mime != "image/jpeg" and "image/jpeg" in targets:
            mime = "image/jpeg"  # lossless did not fit: give the quality ladder a chance
            continue
        new_size = (int(image.width * _SHRINK_STEP), int(image.height * _SHRINK_STEP))
        if min(new_size) < _MIN_SIDE:
            raise ValueError(
                f"cannot make the image fit in {max_bytes} bytes even at {image.width}x{image.height}"
            )
        image = image.resize(new_size, Image.Resampling.LANCZOS)


def fit_text(
    text: str,
    limit: int,
    suffix: str = "…",
    *,
    length: Callable[[str], int] = len,
) -> str:
    """Shorten text to at most `limit` (as measured by `length`), ending in `suffix`.

    Cuts at a word boundary when one is reasonably close, so words and links are never
    chopped in half, and strips dangling punctuation before the suffix. `length` lets a
    platform count its own way (Mastodon counts every link as 23 characters).
    """
    if limit <= 0:
        return ""
    if length(text) <= limit:
        return text
    if length(suffix) >= limit:
        return suffix[:limit] if length(suffix[:limit]) <= limit else ""
    # Largest cut position whose result fits; a search rather than arithmetic because
    # `length` need not count one per character (a long link counts as 23 on Mastodon).
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if length(_cut_nicely(text, mid) + suffix) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return _cut_nicely(text, lo) + suffix


def split_trailing_hashtags(caption: str) -> tuple[str, list[str]]:
    """Split a caption whose last line is only hashtags into (text, ["#tag", ...]), so each
    platform can place tags its own way (a tag bar on Mastodon, the tags field on Tumblr)."""
    lines = caption.rstrip().split("\n")
    last = lines[-1].split()
    if len(lines) > 1 and last and all(re.fullmatch(r"#\w+", word) for word in last):
        return "\n".join(lines[:-1]).rstrip(), last
    return caption.rstrip(), []


def _cut_nicely(text: str, cut: int) -> str:
    head = text[:cut]
    if cut < len(text) and not text[cut].isspace():
        # Inside a word: fall back to the last space if it is not too far. Inside a link:
        # always, since half a link is a broken link.
        space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        inside_link = re.match(r"https?://", head[space + 1 :]) is not None
        if space >= cut // 2 or inside_link:
            head = head[: max(space, 0)]
    return head.rstrip(" \t\n,;:-–—([{/").rstrip()


def _open(source: str | Path | bytes | Image.Image) -> tuple[bytes | None, Image.Image]:
    if isinstance(source, Image.Image):
        return None, source
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read image file {source}: {exc.strerror or exc}") from exc
    else:
        data = bytes(source)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        name = source if isinstance(source, (str, Path)) else "image data"
        raise ValueError(f"{name} is not a readable image: {exc}") from exc
    return data, image


def _has_exif_rotation(data: bytes) -> bool:
    # A rotated-by-EXIF original would be shown sideways where EXIF is stripped.
    try:
        return Image.open(io.BytesIO(data)).getexif().get(0x0112, 1) not in (1, None)
    except Exception:  # noqa: BLE001 - unreadable EXIF: treat as not rotated
        return False


def _downscale(image: Image.Image, max_pixels: int) -> Image.Image:
    w, h = image.size
    if w * h <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (w * h))
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    while nw * nh > max_pixels:  # float rounding can leave us a row over
        if nw >= nh:
            nw -= 1
        else:
            nh -= 1
    return image.resize((nw, nh), Image.Resampling.LANCZOS)


def _encode_to_fit(image: Image.Image, mime: str, max_bytes: int) -> bytes | None:
    fmt = _ENCODERS[mime]
    if mime == "image/jpeg":
        rgb = _flatten(image)
        for quality in _QUALITIES:
            data = _save(rgb, fmt, quality=quality, optimize=True, progressive=True)
            if len(data) <= max_bytes:
                return data
        return None
    if mime == "image/webp":
        for quality in _QUALITIES:
            data = _save(image.convert("RGBA" if _has_alpha(image) else "RGB"), fmt, quality=quality)
            if len(data) <= max_bytes:
                return data
        return None
    converted = image if image.mode in ("RGB", "RGBA", "L", "LA", "P") else image.convert("RGB")
    data = _save(converted, fmt, optimize=True)
    return data if len(data) <= max_bytes else None


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)


def _flatten(image: Image.Image) -> Image.Image:
    # JPEG has no alpha: composite on white rather than letting PIL turn it black.
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def fit_video(path: Path, scratch: Path, limits: "VideoLimits", transcode: Callable[..., object]) -> Path:
    """`path` itself when it is within a server's video limits (bytes, frame rate, pixels),
    else `scratch`, re-encoded by `transcode` (dreamer.video.transcode) to fit them."""
    from dreamer.video import probe

    info = probe(path)
    if (path.stat().st_size <= limits.video_size_limit and float(info.fps) <= limits.video_frame_rate_limit
            and info.width * info.height <= limits.video_matrix_limit):
        return path
    transcode(path, scratch, max_pixels=limits.video_matrix_limit, max_fps=limits.video_frame_rate_limit,
              max_bytes=limits.video_size_limit)
    return scratch


def fit_thumbnail(poster: Path | None, limits: "VideoLimits") -> tuple[bytes, str] | None:
    """A video's poster frame fitted to the server's image limits, or None when there is none
    we can use (the server then makes its own)."""
    if poster is None or not poster.is_file():
        return None
    try:
        return fit_image(poster, max_bytes=limits.image_size_limit, max_pixels=limits.image_matrix_limit,
                         formats=limits.supported_mime_types)
    except ValueError:
        return None


class VideoLimits(Protocol):
    video_size_limit: int
    video_frame_rate_limit: int
    video_matrix_limit: int
    image_size_limit: int
    image_matrix_limit: int
    supported_mime_types: tuple[str, ...]
