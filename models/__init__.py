"""The network zoo: `create_model(name)` returns a DreamNet (module, preprocessing, layers, labels).

The names below load on first use (PEP 562), so `models.labels` and the other torch-free
modules import without torch: the bot's class lookups and config checks do not pay for it."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.base import DreamNet, ModelError
    from models.registry import create_model, list_models

__all__ = ["DreamNet", "ModelError", "create_model", "list_models"]
_HOME = {"DreamNet": "models.base", "ModelError": "models.base", "create_model": "models.registry",
         "list_models": "models.registry"}


def __getattr__(name: str):
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
