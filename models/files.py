"""Which model names are files to import rather than zoo names: a leaf without torch, so that a
recipe can tell them apart while it is read (dreamer.recipe) before any net loads."""
from __future__ import annotations

# ".protxt" is how MIT spelled Places205-GoogLeNet's deploy file.
FILE_SUFFIXES = (".prototxt", ".protxt", ".caffemodel", ".onnx")


def is_file_model(name: str) -> bool:
    """Whether a model name is a path to import (by its suffix) rather than a zoo name."""
    return str(name).lower().endswith(FILE_SUFFIXES)
