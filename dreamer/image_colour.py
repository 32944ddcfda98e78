"""A picture's colours converted to sRGB from the ICC profile its file embeds (dreamer.image_load).

Phones shoot Display P3 and cameras Adobe RGB; read as sRGB (we save no profile) their colours
come out dull or shifted. Press-ready JPEGs from Photoshop are CMYK with the printer's profile,
and the naive CMYK formula is off by as much as one ink printer from another.
"""
from __future__ import annotations

import functools
import io

from PIL import Image


def from_profile(im: Image.Image, icc: object, space: str) -> Image.Image | None:
    """`im` (RGB or CMYK, as `space` says) converted to sRGB through the embedded profile `icc`;
    None when there is none, it is of another colour space (a grey profile on an RGB picture),
    or lcms cannot read it: a broken profile must not cost the picture."""
    if not isinstance(icc, bytes) or not icc:
        return None
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != space:
            return None
        return ImageCms.profileToProfile(im, source, _srgb(), outputMode="RGB")
    except Exception:  # noqa: BLE001 - PyCMSError, OSError, ImportError (Pillow without lcms)...
        return None


@functools.cache
def _srgb() -> object:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
