"""One registry for the zoo, in the spirit of timm's `create_model(name)`."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from models.base import DreamNet, ModelError
from models.files import FILE_SUFFIXES, is_file_model  # noqa: F401  (the registry's names)

Factory = Callable[..., DreamNet]
_FACTORIES: dict[str, Factory] = {}
_DESCRIPTIONS: dict[str, str] = {}
_LAYERS: dict[str, tuple[str, ...]] = {}


def register(name: str, description: str = "",
             layers: Sequence[str] | None = None) -> Callable[[Factory], Factory]:
    """`layers`: the net's layer names, fixed by its architecture, so that a config naming a
    layer is checked without building the net (tests/test_unseen_configs2.py keeps them true)."""
    def deco(fn: Factory) -> Factory:
        _FACTORIES[name] = fn
        _DESCRIPTIONS[name] = description or (fn.__doc__ or "").strip().splitlines()[0]
        if layers is not None:
            _LAYERS[name] = tuple(layers)
        return fn

    return deco


def known_layers(name: str) -> list[str] | None:
    """A registered net's layer names without building it; None when only the net itself can
    say (a net imported from a file, or a name not registered)."""
    if is_file_model(name):
        return None
    _load_builtin()
    found = _LAYERS.get(name)
    return None if found is None else list(found)


def list_models() -> dict[str, str]:
    _load_builtin()
    return dict(_DESCRIPTIONS)


def create_model(name: str, weights: str | None = None, device: str | None = None,
                 **options: Any) -> DreamNet:
    """Build a registered net, or import one from files by path.

    `weights` overrides where a registered net's weights come from (a local file). A name
    ending in .prototxt (with weights= the .caffemodel) or .onnx imports that file;
    `options` (labels, mean, std, bgr, class_layer, ...) are for those, see models.imported.
    """
    if is_file_model(name):
        net = _import_file_model(name, weights, options)
        if device is not None:
            net.to(device)
        return net
    _load_builtin()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; available: {', '.join(sorted(_FACTORIES))}, or a "
            "path to a Caffe deploy.prototxt (with its .caffemodel as weights) or an .onnx file"
        ) from None
    if options:
        raise ModelError(f"model {name!r} takes no options ({', '.join(sorted(options))}); "
                         "they are for nets imported from files")
    net = factory(weights=weights)
    if device is not None:
        net.to(device)
    return net




def _import_file_model(name: str, weights: str | None, options: dict[str, Any]) -> DreamNet:
    # Imported late: the Caffe and ONNX importers are only needed for nets from files.
    if str(name).lower().endswith(".onnx"):
        from models.onnx_import import load_onnx

        return load_onnx(name, weights, **options)
    from models.caffe import load_caffe

    return load_caffe(name, weights, **options)


def _load_builtin() -> None:
    # Imported for their @register side effect; late so `import models` stays cheap.
    import models.efficientnet_lite  # noqa: F401
    import models.tiny  # noqa: F401

    try:
        import models.googlenet  # noqa: F401
    except ImportError:
        pass
