"""The recipe inside a picture: the JSON and XMP packet written into its metadata, and
reading it back (PNG iTXt, XMP, JPEG comment) so `dream --recipe picture.png` can replay it."""
from __future__ import annotations

import json
import os
import re
import warnings
from html import escape, unescape
from pathlib import Path
from typing import Any, Iterator

from PIL import Image

from dreamer.image_load import ImageError, _formats, _not_an_image, _open_file

RECIPE_KEY = "lucid-dream-recipe"  # PNG iTXt keyword, JPEG comment prefix, XMP element name
XMP_NS = "https://github.com/lucid-dream-bot/ns/1.0/"


def _recipe_json(target: Path, recipe: Any) -> str | None:
    if recipe is None:
        return None
    if hasattr(recipe, "to_dict"):  # a Recipe passed as is
        recipe = recipe.to_dict()
    if not isinstance(recipe, dict):
        raise ImageError(f"{target}: recipe must be a dict, got {type(recipe).__name__}")
    try:
        # ASCII-only: EXIF/COM fields are bytes of unknown encoding, and \u escapes survive anything.
        return json.dumps(recipe, sort_keys=True, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ImageError(f"{target}: the recipe cannot be written as JSON ({exc})") from None



def _xmp(recipe_json: str) -> bytes:
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" xmlns:lucid="{XMP_NS}">\n'
        f"   <lucid:recipe>{escape(recipe_json, quote=False)}</lucid:recipe>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def _software() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return f"lucid-dream-bot {version('lucid-dream-bot')}"
    except PackageNotFoundError:
        return "lucid-dream-bot dev"


# A frame dive's frames (dreamer.animate.frame_path), and where each is written first: a killed
# dive leaves one.
FRAME_NAME = re.compile(r"frame_\d{5,}\.png")
FRAME_TMP = re.compile(r"frame_\d{5,}\.tmp\.png")



def has_our_mark(path: Path, fmt: str, key: str) -> bool:
    """Whether the picture at `path`, of format `fmt`, carries "lucid-dream-bot ..." in its
    `key` entry (a PNG's Software text, a GIF's comment)."""
    if not path.is_file():  # a named pipe (or a device) would block Image.open for ever
        return False
    try:
        with Image.open(path, formats=[fmt]) as im:
            mark = im.info.get(key)
    except Exception:  # noqa: BLE001 - not a picture Pillow can open as fmt: not ours
        return False
    if isinstance(mark, bytes):
        mark = mark.decode("utf-8", "replace")
    return isinstance(mark, str) and mark.startswith("lucid-dream-bot")


def is_our_frame(path: Path) -> bool:
    """Whether `path` is a frame a dive wrote: its name, and the mark in its PNG text."""
    return (FRAME_NAME.fullmatch(path.name) is not None and not path.is_symlink()
            and has_our_mark(path, "PNG", "Software"))


def read_embedded_recipe(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The recipe save_image embedded in a picture, or None when it carries none."""
    label = str(path)
    with _open_file(Path(path), label) as fp:
        try:
            head = fp.read(512)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(fp, formats=_formats()) as im:  # header and metadata only
                    info = dict(im.info)
        except Image.UnidentifiedImageError:
            reason, why = _not_an_image(head)
            raise ImageError(f"{label}: {why}", reason=reason) from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure is "cannot read"
            raise ImageError(f"{label}: cannot read the picture's metadata ({exc})") from None
    for text in _recipe_candidates(info):
        try:
            recipe = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(recipe, dict):
            return recipe
    return None


def _recipe_candidates(info: dict[str, Any]) -> Iterator[str]:
    if isinstance(info.get(RECIPE_KEY), str):  # PNG iTXt/tEXt
        yield str(info[RECIPE_KEY])
    xmp = info.get("xmp")
    if isinstance(xmp, (bytes, str)):
        text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
        # Regex, not an XML parser: the packet is ours, and a hostile one must not reach expat.
        for m in re.finditer(r"<(\w+):recipe>(.*?)</\1:recipe>", text, re.S):
            yield unescape(m.group(2))
        for m in re.finditer(r"\b\w+:recipe=\"([^\"]*)\"", text):
            yield unescape(m.group(1))
    comment = info.get("comment")
    if isinstance(comment, bytes):
        comment = comment.decode("utf-8", "replace")
    if isinstance(comment, str) and comment.startswith(RECIPE_KEY + ":"):
        yield comment[len(RECIPE_KEY) + 1 :]
