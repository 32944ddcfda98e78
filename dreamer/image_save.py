"""Saving pictures and animations atomically, with the recipe embedded and in a sidecar."""
from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from dreamer.image_load import ImageError, _to_rgb
from dreamer.image_meta import RECIPE_KEY, _recipe_json, _software, _xmp, read_embedded_recipe

SIDECAR_FILE = "file"  # the sidecar's key naming the picture (or video) whose recipe it holds
SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}
# dreamer.video.VIDEO_FORMATS' suffixes (a dive's sidecar is its video's); not imported from
# there: dreamer.video imports this module
VIDEO_SUFFIXES = (".mp4", ".webm")


def save_image(
    image: Image.Image,
    path: str | os.PathLike[str],
    recipe: dict[str, Any] | None = None,
    *,
    quality: int = 92,
) -> Path:
    """Write a picture (JPEG, PNG or WebP by extension) atomically, with the recipe embedded in its
    metadata and in a `<stem>.json` sidecar beside it. Returns the path written."""
    target = Path(path)
    fmt = _format_for(target, SAVE_FORMATS)
    if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
        raise ImageError(f"{target}: quality = {quality!r} must be an integer 1..100")
    recipe_json = _recipe_json(target, recipe)
    if recipe_json is not None:
        check_sidecar(target)
    software = _software()
    picture = _for_format(image, fmt)

    params: dict[str, Any] = {}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", software)
        if recipe_json is not None:
            info.add_itxt(RECIPE_KEY, recipe_json)
        params["pnginfo"] = info
    else:
        exif = Image.Exif()
        exif[0x0131] = software  # Software
        params.update(exif=exif.tobytes(), quality=quality)
        if recipe_json is not None and len(recipe_json) < 60_000:  # one JPEG segment holds < 64 KiB
            params["xmp"] = _xmp(recipe_json)
            if fmt == "JPEG":
                params["comment"] = f"{RECIPE_KEY}:{recipe_json}"
        if fmt == "JPEG":
            # Dreams are full of fine coloured detail that 4:2:0 chroma subsampling smears.
            params.update(optimize=True, subsampling=0 if quality >= 90 else 2)
        else:
            params.update(method=4)

    _atomic_write(target, lambda f: save_compact(picture, f, fmt, **params))
    if recipe_json is not None:
        _write_sidecar(target, recipe, software)
    return target


def save_compact(image: Image.Image, fp: Any, fmt: str, **params: Any) -> None:
    """image.save, and an optimised or progressive JPEG that does not fit Pillow's buffer written
    plainly instead. Such a JPEG is made in one buffer Pillow sizes at about a byte a pixel; a
    dream full of fine colour detail at quality 90+ without chroma subsampling (how dreams are
    saved) can need more, and libjpeg then fails with "Suspension not allowed here" (an OSError):
    the dream would be lost for a few per cent of file size. `fp` must be seekable."""
    try:
        image.save(fp, format=fmt, **params)
    except OSError:
        if fmt != "JPEG" or not (params.get("optimize") or params.get("progressive")):
            raise
        fp.seek(0)
        fp.truncate()
        image.save(fp, format=fmt, **{**params, "optimize": False, "progressive": False})


def save_animation(
    frames: list[Image.Image],
    path: str | os.PathLike[str],
    duration_ms: int = 80,
    *,
    recipe: dict[str, Any] | None = None,
) -> Path:
    """Write a looping animated GIF or WebP (by extension) atomically; a recipe, when given, goes
    into the sidecar (and the WebP's XMP)."""
    target = Path(path)
    fmt = _format_for(target, ANIMATION_FORMATS)
    frames = list(frames)
    if not frames:
        raise ImageError(f"{target}: an animation needs at least one frame")
    if not isinstance(duration_ms, int) or isinstance(duration_ms, bool) or duration_ms < 1:
        raise ImageError(f"{target}: duration_ms = {duration_ms!r} must be a positive integer")
    size = frames[0].size
    for i, frame in enumerate(frames):
        if frame.size != size:
            raise ImageError(
                f"{target}: frame {i} is {frame.width}x{frame.height} but frame 0 is {size[0]}x{size[1]}"
            )
    recipe_json = _recipe_json(target, recipe)
    if recipe_json is not None:
        check_sidecar(target)
    rgb = [f if f.mode == "RGB" else _to_rgb(f, str(target)) for f in frames]  # GIF quantises each itself
    params: dict[str, Any] = dict(save_all=True, append_images=rgb[1:], duration=duration_ms, loop=0)
    if fmt == "WEBP":
        params.update(quality=90, method=4)
        if recipe_json is not None and len(recipe_json) < 60_000:
            params["xmp"] = _xmp(recipe_json)
    else:
        params["comment"] = _software()
    _atomic_write(target, lambda f: rgb[0].save(f, format=fmt, **params))
    if recipe_json is not None:
        _write_sidecar(target, recipe, _software())
    return target


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """photo.jpg -> photo.json"""
    return Path(path).with_suffix(".json")


def check_sidecar(path: str | os.PathLike[str]) -> None:
    """Raise ImageError when the recipe sidecar of `path` would replace a file that is not one of
    ours: photo.json beside photo.jpg is often the photo's own credits (bot/sources/folder.py reads
    them), and a user's recipe.json must not become a dream's."""
    side = sidecar_path(path)
    if (side.exists() or side.is_symlink()) and not is_our_sidecar(side):
        raise ImageError(f"{path}: its recipe would be written to {side}, which holds something else; "
                         "choose another output name, or move that file")
    other = _other_dream(Path(path), side) if side.exists() else None
    if other is not None:
        raise ImageError(f"{path}: its recipe would be written to {side}, which holds the recipe of {other}; "
                         "choose another output name")


def _other_dream(path: Path, side: Path) -> Path | None:
    """The other dream beside `path` whose recipe our sidecar `side` holds (x.jpg's x.json for
    x.png): a dream's sidecar is replaced only by the same dream made again. The sidecar names
    its dream (SIDECAR_FILE); one from before it did is taken to be a dream of the same stem
    that is there: a picture carrying its recipe, or a video."""
    try:
        owner = json.loads(side.read_text(encoding="utf-8")).get(SIDECAR_FILE)
    except (OSError, ValueError, AttributeError):
        owner = None
    if isinstance(owner, str) and owner:
        other = side.with_name(Path(owner).name)
        return other if other.name != path.name and other.is_file() else None
    video = path.suffix.lower() in VIDEO_SUFFIXES
    for ext in (*SAVE_FORMATS, *ANIMATION_FORMATS, *VIDEO_SUFFIXES):
        if ext == path.suffix.lower():
            continue  # the output itself, however its extension is written
        if video and ext not in VIDEO_SUFFIXES:
            continue  # a picture beside a video of its name is its poster or preview (dives), no dream
        for other in (path.with_suffix(ext), path.with_suffix(ext.upper())):
            if other.is_file() and (ext in VIDEO_SUFFIXES or carries_recipe(other)):
                return other
    return None


def carries_recipe(picture: str | os.PathLike[str]) -> bool:
    """Whether `picture` is a dream (save_image embedded its recipe), not the photo it was
    dreamt from: `dream x.jpg -o x.png` made again must not take x.jpg for x.json's dream, nor
    replace a photo named x.png (dreamer.cli.check_outputs)."""
    try:
        return read_embedded_recipe(picture) is not None
    except (ImageError, OSError, ValueError):
        return False


def is_our_sidecar(side: Path) -> bool:
    """Whether `side` is a recipe file dream wrote: {"recipe", "software": "lucid-dream-bot …"}."""
    try:
        if not side.is_file() or side.stat().st_size > 16_000_000:
            return False
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(doc, dict) and "recipe" in doc
            and str(doc.get("software", "")).startswith("lucid-dream-bot"))


def _format_for(target: Path, formats: dict[str, str]) -> str:
    fmt = formats.get(target.suffix.lower())
    if fmt is None:
        allowed = ", ".join(formats)
        raise ImageError(f"{target}: cannot save {target.suffix or 'a file without extension'}; use one of {allowed}")
    return fmt


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise ImageError(f"expected a PIL image to save, got {type(image).__name__}")
    keep = {"JPEG": ("RGB", "L"), "PNG": ("RGB", "RGBA", "L", "LA", "P"), "WEBP": ("RGB", "RGBA")}[fmt]
    return image if image.mode in keep else _to_rgb(image)


def _write_sidecar(target: Path, recipe: Any, software: str) -> None:
    write_recipe_file(sidecar_path(target), recipe, software, {SIDECAR_FILE: target.name})


def write_recipe_file(path: Path, recipe: Any, software: str, extra: dict[str, str] | None = None) -> None:
    """A recipe file dream knows for its own (is_our_sidecar): {"recipe", "software",
    "created", ...extra}, written whole or not at all. A picture's sidecar, a frame dive's
    recipe.json."""
    if hasattr(recipe, "to_dict"):
        recipe = recipe.to_dict()
    doc = {"recipe": recipe, "software": software,
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(extra or {})}
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _atomic_write(target: Path, write: Any) -> None:
    """Write through a temp file in the same folder and rename it over the target, so a crash or a
    full disk never leaves half a file under the real name."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"{target}: cannot create the folder {target.parent} ({exc.strerror or exc})") from None
    tmp, fd = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ImageError(f"{target}: cannot write the file ({exc.strerror or exc})") from None
        if isinstance(exc, (ValueError, TypeError)) and not isinstance(exc, ImageError):
            raise ImageError(f"{target}: cannot encode the picture ({exc})") from None
        raise


def _temp_beside(target: Path) -> tuple[Path, int]:
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # os.open with 0o666 lets the umask decide the mode, as for any new file
            # (tempfile.mkstemp would leave the picture readable by its owner only).
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ImageError(f"{target}: cannot write in {target.parent} ({exc.strerror or exc})") from None
    raise ImageError(f"{target}: cannot create a temporary file in {target.parent}")
