"""What every net in the zoo hands the engine: a module plus everything needed to feed it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from models.labels import Labels


class ModelError(Exception):
    """A model cannot be built or its weights cannot be found; the message says what to do."""


def not_weights(name: str, path: object, exc: BaseException) -> ModelError:
    """The error for a --weights file torch cannot load into `name`: any file can be given, and
    the unpickler fails on a picture or a text with UnpicklingError, EOFError, KeyError..."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return ModelError(f"cannot load {name} weights from {path}: not a PyTorch state dict of this net "
                      f"({type(exc).__name__}{': ' + first if first else ''})")


@dataclass
class DreamNet:
    """A classifier ready to dream with.

    `module` maps a *normalised* batch (N, 3, H, W) to class logits (N, classes).
    Pixels enter the engine as RGB in [0, 1]; `normalise` turns them into what the net was
    trained on (mean/std, and channel order for BGR nets such as Caffe's).
    """

    name: str
    module: nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    layers: dict[str, nn.Module] = field(default_factory=dict)
    labels: "Labels | None" = None
    bgr: bool = False
    default_layer: str | None = None
    # Set when the class output is not the last nn.Linear (a 1x1 conv, an imported graph).
    num_classes: int | None = None
    # An ensemble whose members take turns: the engine runs member `step % len(turns)` alone for
    # a step that needs only the class logits (models.ensemble), instead of all of them.
    turns: "list[DreamNet] | None" = None

    def normalise(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb.flip(1) if self.bgr else rgb
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        if self.bgr:
            mean, std = mean.flip(1), std.flip(1)
        return (x - mean) / std

    def layer_names(self) -> list[str]:
        return list(self.layers)

    def layer(self, name: str) -> nn.Module:
        try:
            return self.layers[name]
        except KeyError:
            raise ModelError(
                f"model {self.name!r} has no layer {name!r}; "
                f"its layers are: {', '.join(self.layers) or '(none)'}"
            ) from None

    def to(self, device: torch.device | str) -> "DreamNet":
        self.module.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode, no parameter gradients: the engine only ever differentiates w.r.t. pixels."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
