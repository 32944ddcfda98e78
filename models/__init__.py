"""The network zoo: `create_model(name)` returns a DreamNet (module, preprocessing, layers, labels)."""
from models.base import DreamNet, ModelError
from models.registry import create_model, list_models

__all__ = ["DreamNet", "ModelError", "create_model", "list_models"]
