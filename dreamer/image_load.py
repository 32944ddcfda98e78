"""Loading a user's picture to RGB, proof against hostile files.

Everything that can go wrong with a user's file becomes an `ImageError` with one line that names
the file and says what is wrong, so the CLI and the bot can show it as is.
"""
from __future__ import annotations

import io
import math
import os
import re
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from dreamer.image_colour import from_profile
from dreamer.image_frames import ANIMATED, pick_frame

# Decoders we let near user files. Pillow knows many more (EPS would even start Ghostscript);
# a photo bot needs none of them, and loose ones such as TGA "recognise" random bytes.
_WANTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "AVIF")
ANIMATION_FORMATS = frozenset({"GIF", "PNG", "WEBP"})  # the formats whose frames are an animation
MAX_SIDE = 100_000  # no real photo is longer than this on one side; a header saying so is broken
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {  # EXIF orientation -> what undoes it (the table ImageOps.exif_transpose uses)
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


class ImageError(ValueError):
    """A picture cannot be read or written; the message names the file and says why. `reason`,
    where known, says why in one word a program can go by (the bot words its own reply from it,
    as the message names the file and may quote its bytes): one of REASONS, or ""."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


# ImageError.reason values: a photo format we do not read, something that is no picture at all,
# a file cut short (or empty), or a picture whose data is damaged.
REASONS = ("heic", "svg", "web_page", "not_a_picture", "unsupported", "truncated", "damaged")


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = 16_000_000,
    bomb_pixels: int = 100_000_000,
    name: str | None = None,
) -> Image.Image:
    """Read a picture (path or the file's bytes) as a fully loaded RGB image.

    EXIF orientation is applied, transparency is laid over white, 16-bit and float greyscale are
    scaled to 8 bits, animations give one frame (the first, unless it is blank: image_frames),
    colours are converted to sRGB from an embedded RGB (or, for CMYK, CMYK) ICC profile,
    metadata (EXIF, GPS, ICC) is dropped.
    Headers over `bomb_pixels` are refused before any pixel is decoded; pictures over
    `max_pixels` are shrunk (aspect kept). Raises ImageError for anything that is not a usable
    picture.
    """
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    if not is_bytes and not isinstance(source, (str, os.PathLike)):
        raise ImageError(f"{name or 'image'}: expected a file path or the file's bytes, got {type(source).__name__}")
    label = name or ("image" if is_bytes else str(source))
    for key, value in (("max_pixels", max_pixels), ("bomb_pixels", bomb_pixels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ImageError(f"{label}: {key} = {value!r} must be a positive integer")

    if is_bytes:
        data = bytes(source)
        if not data:  # a download that stopped before its first byte
            raise ImageError(f"{label}: the file is empty", reason="truncated")
        return _load_from(io.BytesIO(data), label, max_pixels, bomb_pixels)
    with _open_file(Path(source), label) as fp:
        return _load_from(fp, label, max_pixels, bomb_pixels)


def _open_file(path: Path, label: str) -> IO[bytes]:
    try:
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if path.is_dir():
            raise ImageError(f"{label}: is a folder, not a picture")
        if not path.is_file():  # a FIFO or /dev/zero would hang or never end
            raise ImageError(f"{label}: not a regular file")
        if path.stat().st_size == 0:
            raise ImageError(f"{label}: the file is empty")
        return open(path, "rb")
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{label}: cannot read the file (permission denied)") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ImageError(f"{label}: cannot read the file ({getattr(exc, 'strerror', None) or exc})") from None


def _load_from(fp: IO[bytes], label: str, max_pixels: int, bomb_pixels: int) -> Image.Image:
    try:
        head = fp.read(512)
        fp.seek(0)
    except OSError as exc:
        raise ImageError(f"{label}: cannot read the file ({exc.strerror or exc})") from None
    try:
        # The bomb warning fires from the global Image.MAX_IMAGE_PIXELS; our own bomb_pixels check
        # below is the one that decides. Decoders' UserWarnings ("Corrupt EXIF data" from a cut
        # TIFF) put a site-packages path on the user's terminal and say nothing the ImageError
        # does not. All are noise here (and would turn into exceptions under `-W error`).
        # catch_warnings is process-wide state, but only for this block.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)
            return _decode(fp, label, max_pixels, bomb_pixels)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's own hard limit (twice the global MAX_IMAGE_PIXELS) struck before our check could.
        pillow_limit = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else bomb_pixels
        limit = min(bomb_pixels, pillow_limit)
        raise ImageError(_bomb_message(label, _probe_size(fp, head), limit, str(exc))) from None
    except Image.UnidentifiedImageError:
        tiff = _unsupported_tiff(fp, head)
        reason, why = ("unsupported", tiff) if tiff else _not_an_image(head)
        raise ImageError(f"{label}: {why}", reason=reason) from None
    except (OSError, EOFError) as exc:
        raise ImageError(f"{label}: {_damage(exc)}", reason=_damage_reason(exc)) from None
    except MemoryError:
        raise ImageError(f"{label}: not enough memory to decode this picture") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise SyntaxError, ValueError, struct.error...
        raise ImageError(f"{label}: the image data is damaged ({type(exc).__name__}: {exc})",
                         reason="damaged") from None


def _decode(fp: IO[bytes], label: str, max_pixels: int, bomb_pixels: int) -> Image.Image:
    with Image.open(fp, formats=_formats()) as im:
        width, height = im.size  # from the header: nothing decoded yet
        if width <= 0 or height <= 0:
            raise ImageError(f"{label}: the header says {width}x{height} pixels; the file is broken")
        if width * height > bomb_pixels:
            raise ImageError(_bomb_message(label, (width, height), bomb_pixels))
        if max(width, height) > MAX_SIDE:
            raise ImageError(f"{label}: {width}x{height} is over {MAX_SIDE} pixels on a side; the header is broken")
        if im.format == "JPEG" and width * height > max_pixels:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 size (never below the target): a 50 MP
            # photo then costs a fraction of the time and memory.
            im.draft(None, _fit(width, height, max_pixels))
        im.load()
        orientation = _orientation(im)
        # Pillow says is_animated for any file of several images: a phone's MPO (HDR gain map,
        # 3D) or a multi-page TIFF is one photo, not an animation to warn about
        animated = im.format in ANIMATION_FORMATS and bool(getattr(im, "is_animated", False))
        icc = im.info.get("icc_profile")  # the first frame's: a GIF's later frames may not repeat it
        frame = pick_frame(im, _to_rgb) if animated else None
        out = from_profile(im, icc, "CMYK") if im.mode == "CMYK" else None
        if out is None:
            out = _to_rgb(im, label)
        else:
            icc = None  # its colours are sRGB now
    if out.width * out.height > max_pixels:
        out = out.resize(_fit(out.width, out.height, max_pixels), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = from_profile(out, icc, "RGB") or out  # after the shrink: a 50 MP photo's colours cost a 16 MP one's
    for op in _TRANSPOSE.get(orientation, ()):
        out = out.transpose(op)
    out.info = {} if frame is None else {ANIMATED: frame}  # no EXIF/GPS/ICC of the source photo travels on
    return out


def _formats() -> list[str]:
    Image.init()
    return [f for f in _WANTED_FORMATS if f in Image.OPEN]


def _fit(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect whose area is at most max_pixels."""
    scale = math.sqrt(max_pixels / (width * height))
    w = min(width, max(1, math.floor(width * scale)))
    # max_pixels // w guards against float rounding on the edge (and a side clamped to 1).
    h = max(1, min(height, math.floor(height * scale), max_pixels // w))
    return w, h


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
        return int(value) if isinstance(value, int) else 1
    except Exception:  # noqa: BLE001 - a broken EXIF block should not cost the picture
        return 1


def _to_rgb(im: Image.Image, label: str = "image") -> Image.Image:
    mode = im.mode
    if mode.startswith("I") or mode == "F":
        values = _grey_values(im)
        key = im.info.get("transparency")
        if not isinstance(key, (int, float)) or isinstance(key, bool):
            return Image.fromarray(_grey_to_uint8(values, mode), "L").convert("RGB")
        # The tRNS grey is in the file's own units (0..65535 for 16 bits), so it is matched
        # before scaling: after it, several 16-bit greys share one 8-bit value.
        alpha = np.where(values == key, 0, 255).astype(np.uint8)
        grey = Image.fromarray(_grey_to_uint8(values, mode), "L")
        grey.putalpha(Image.fromarray(alpha, "L"))
        return _on_white(grey)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        return _on_white(im)
    if mode == "RGB":
        return im.copy()
    try:
        return im.convert("RGB")  # L, 1, P, CMYK (naive, no ICC), YCbCr, LAB, HSV, RGBX
    except ValueError:
        raise ImageError(f"{label}: colour mode {mode} is not supported") from None


def _on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    # Transparent areas are black in the raw data; a viewer shows them on white, so do we.
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _grey_values(im: Image.Image) -> np.ndarray:
    """High-bit-depth greyscale as float32 in the file's own units."""
    try:
        return np.asarray(im).astype(np.float32)
    except (TypeError, ValueError):  # an I;16 flavour numpy does not know
        return np.asarray(im.convert("I")).astype(np.float32)


def _grey_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Scale high-bit-depth greyscale (`_grey_values`, changed in place) to 0..255 (Pillow's
    own convert clips it to white)."""
    finite = np.isfinite(a)
    if not finite.all():
        a[~finite] = 0.0
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
        a /= 257.0  # 16-bit data (Pillow also gives 16-bit PNG/PGM as I)
    elif mode == "F" and lo >= 0 and hi <= 1:
        a *= 255.0
    elif not (lo >= 0 and hi <= 255):
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _probe_size(fp: IO[bytes], head: bytes) -> tuple[int, int] | None:
    """The header size, read without Pillow's global bomb check (only to word the message)."""
    for fmt in _formats():
        factory, accept = Image.OPEN[fmt]
        try:
            found = accept(head) if accept else True
            if not found or isinstance(found, str):  # a str is Pillow's "almost, but no"
                continue
            fp.seek(0)
            return factory(fp, "").size
        except Exception:  # noqa: BLE001 - best effort
            continue
    return None


def _bomb_message(label: str, size: tuple[int, int] | None, bomb_pixels: int, pillow: str = "") -> str:
    limit = f"{_mp(bomb_pixels)} MP"
    if size is None:
        found = re.search(r"\((\d+) pixels\)", pillow)
        if found:
            return f"{label}: {_mp(int(found.group(1)))} MP is over the safety limit (decompression bomb?)"
        return f"{label}: the picture is too large to open safely (decompression bomb?)"
    w, h = size
    return f"{label}: {w}x{h} = {_mp(w * h)} MP is over the {limit} limit (decompression bomb?)"


def _mp(pixels: int) -> str:
    """Megapixels for a message: 900, 16, 2.5, 0.0012."""
    mp = pixels / 1e6
    if mp >= 10:
        return f"{mp:.0f}"
    if mp >= 0.1:
        return f"{mp:.1f}".removesuffix(".0")
    return f"{mp:.2g}"


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _not_an_image(head: bytes) -> tuple[str, str]:
    """Why Pillow could not identify the file, as well as the first bytes can tell: (an
    ImageError.reason, the words for the message)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return "truncated", f"starts like a {kind} but the header is damaged or cut short"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "truncated", "starts like a WebP but the header is damaged or cut short"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace")
        if brand in ("heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"):
            return "heic", "HEIC/HEIF pictures are not supported; export it as JPEG or PNG"
        return "not_a_picture", f"not a picture (looks like an MP4/QuickTime-style file, brand {brand!r})"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "web_page", "not an image (looks like an HTML page: a link to a web page rather than to the picture?)"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "svg", "SVG drawings are not supported; export it as PNG"
    if head.startswith(b"PK\x03\x04"):
        return "not_a_picture", "not an image (looks like a ZIP archive)"
    if head.startswith(b"%PDF"):
        return "not_a_picture", "not an image (looks like a PDF)"
    if _looks_like_text(head):
        return "not_a_picture", "not an image (looks like text)"
    return "unsupported", "not an image (unknown or unsupported format; use JPEG, PNG, WebP or GIF)"


def _unsupported_tiff(fp: IO[bytes], head: bytes) -> str | None:
    """Why a sound TIFF is refused: Pillow reads integer samples of up to 16 bits a colour, and
    reports a float or 32-bit colour TIFF (HDR and scientific exports) as unidentifiable, which
    would read as a damaged header."""
    if not head.startswith((b"II*\x00", b"MM\x00*")):
        return None
    try:
        from PIL import TiffImagePlugin

        fp.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            TiffImagePlugin.TiffImageFile(fp)
    except SyntaxError as exc:
        if "unknown pixel mode" in str(exc):
            return ("this TIFF's pixel format (floating-point or 32-bit colour?) is not supported; "
                    "save it as an 8- or 16-bit TIFF, PNG or JPEG")
    except Exception:  # noqa: BLE001 - best effort: the caller's message stands
        pass
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # a multi-byte character cut at the end of the sample is fine
            return False
    return True


def _damage(exc: BaseException) -> str:
    if _damage_reason(exc) == "truncated":
        return "the image data is truncated (the file was cut short while copying or downloading?)"
    return f"the image data is damaged ({str(exc) or type(exc).__name__})"


def _damage_reason(exc: BaseException) -> str:
    cut = isinstance(exc, EOFError) or re.search(r"truncat|broken data stream|premature end", str(exc), re.I)
    return "truncated" if cut else "damaged"
