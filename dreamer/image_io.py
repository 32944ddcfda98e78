"""Pictures in and out: hostile-file-proof loading to RGB, atomic saving with the recipe embedded.

Everything that can go wrong with a user's file becomes an `ImageError` with one line that names
the file and says what is wrong, so the CLI and the bot can show it as is. The work is in
dreamer/image_load.py (loading), dreamer/image_save.py (saving) and dreamer/image_meta.py (the
recipe in a picture's metadata); this module keeps the names callers import from it.
"""
from __future__ import annotations

from dreamer.image_frames import animation_frame, frame_words, was_animated
from dreamer.image_load import MAX_SIDE, ImageError, load_image
from dreamer.image_meta import RECIPE_KEY, XMP_NS, _software, read_embedded_recipe
from dreamer.image_save import (ANIMATION_FORMATS, SAVE_FORMATS, carries_recipe, check_sidecar, save_animation,
                                save_image, sidecar_path)

__all__ = ["ANIMATION_FORMATS", "MAX_SIDE", "RECIPE_KEY", "SAVE_FORMATS", "XMP_NS", "ImageError", "_software",
           "animation_frame", "carries_recipe", "check_sidecar", "frame_words", "load_image", "read_embedded_recipe",
           "save_animation", "save_image", "sidecar_path", "was_animated"]
