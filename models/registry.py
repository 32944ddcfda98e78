"""One registry for the zoo, in the spirit of timm's `create_model(name)`."""
from __future__ import annotations

from typing import Callable

from models.base import DreamNet, ModelError

Factory = Callable[..., DreamNet]
_FACTORIES: dict[str, Factory] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str = "") -> Callable[[Factory], Factory]:
    def deco(fn: Factory) -> Factory:
        _FACTORIES[name] = fn
        _DESCRIPTIONS[name] = description or (fn.__doc__ or "").strip().splitlines()[0]
        return fn

    return deco


def list_models() -> dict[str, str]:
    _load_builtin()
    return dict(_DESCRIPTIONS)


def create_model(name: str, weights: str | None = None, device: str | None = None) -> DreamNet:
    """Build a registered net. `weights` overrides where its weights come from (a local file)."""
    _load_builtin()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; available: {', '.join(sorted(_FACTORIES))}"
        ) from None
    net = factory(weights=weights)
    if device is not None:
        net.to(device)
    return net


def _load_builtin() -> None:
    # Imported for their @register side effect; late so `import models` stays cheap.
    import models.efficientnet_lite  # noqa: F401
    import models.tiny  # noqa: F401

    try:
        import models.googlenet  # noqa: F401
    except ImportError:
        pass
