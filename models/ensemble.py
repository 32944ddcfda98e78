"""Several nets dreaming as one: their logits averaged on the same views.

A class that has to convince two nets at once grows features the nets share, which is what a
third net (or a person) reads: the transfer effect that makes ensembles of attacked nets fool
an unseen one. On the quality benchmark's held-out hybrids, Lite0 with Lite1 took the weaker
class from 30 % to 48 % of the judge's views (benchmarks/README.md). Each member normalises the
pixels its own way (Caffe's BGR nets can dream with RGB ones); they must share their classes."""
from __future__ import annotations

import torch
from torch import nn

from models.base import DreamNet, ModelError


class _Mean(nn.Module):
    """Pixels in [0, 1] -> the mean of the members' logits, each fed as it was trained."""

    def __init__(self, nets: list[DreamNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(n.module for n in nets)
        self._normalise = [n.normalise for n in nets]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(norm(x)) for m, norm in zip(self.members, self._normalise)]).mean(0)


def ensemble(name: str, nets: list[DreamNet], turns: bool = False) -> DreamNet:
    """One DreamNet averaging the logits of `nets`; layers are named `<member>:<layer>`. With
    `turns` the engine runs one member a step, in turn, wherever it needs only the logits: each
    step costs one net, and over the steps the dream still answers to all of them."""
    if len(nets) < 2:
        raise ModelError("an ensemble needs at least two nets")
    if len({n.name for n in nets}) < len(nets):
        raise ModelError(f"an ensemble's nets need different names, got {[n.name for n in nets]}")
    first = nets[0]
    for net in nets[1:]:
        if not same_classes(first, net):
            raise ModelError(f"cannot dream {first.name} and {net.name} together: their classes differ")
    layers = {f"{n.name}:{k}": m for n in nets for k, m in n.layers.items()}
    return DreamNet(name=name, module=_Mean(nets), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                    input_size=first.input_size, layers=layers, labels=first.labels,
                    default_layer=f"{first.name}:{first.default_layer}" if first.default_layer else None,
                    num_classes=first.num_classes, turns=list(nets) if turns else None)


def same_classes(a: DreamNet, b: DreamNet) -> bool:
    """Whether class i means the same to both nets (both labelled alike)."""
    if a.labels is None or b.labels is None:
        return False
    return list(a.labels.names) == list(b.labels.names)
