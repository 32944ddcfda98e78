"""Optional features and the pip extra that brings each: a missing one is one clear sentence."""
from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {"redis": "a Redis queue", "tumblr": "posting to Tumblr", "onnx": "importing ONNX models"}


class MissingExtra(ImportError):
    """A feature's optional package is not installed; the message says how to install it."""


def require(module: str, extra: str) -> ModuleType:
    """`module`, or a MissingExtra naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{EXTRAS[extra]} needs the optional package {module.split('.')[0]} ({exc}); install it "
            f"with: pip install 'lucid-dream-bot[{extra}]' (./setup.sh installs every extra)"
        ) from None
