"""A tiny random-weight classifier for fast engine tests: same interface as the real zoo."""
from __future__ import annotations

import torch
from torch import nn

from models.base import DreamNet, ModelError, freeze, not_weights
from models.registry import register


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 1000, width: int = 8):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(width, width * 2, 3, stride=2, padding=1), nn.ReLU())
        self.conv3 = nn.Sequential(nn.Conv2d(width * 2, width * 4, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))
        return self.fc(self.pool(x).flatten(1))


LAYERS = ("conv1", "conv2", "conv3", "fc")


@register("tiny", "a tiny random-weight net (tests and smoke runs; dreams are noise)", LAYERS)
def tiny(weights: str | None = None, seed: int = 0, input_size: int = 64) -> DreamNet:
    # A fixed seed so two builds are the same net: engine determinism tests depend on it.
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    net = TinyNet()
    torch.random.set_rng_state(gen_state)
    if weights:
        try:
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except OSError as exc:  # missing or unreadable: say so, not "not a state dict"
            raise ModelError(f"cannot load tiny weights from {weights}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - see not_weights
            raise not_weights("tiny", weights, exc) from None
    freeze(net)
    from models.labels import imagenet

    return DreamNet(
        name="tiny",
        module=net,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        input_size=input_size,
        layers={"conv1": net.conv1, "conv2": net.conv2, "conv3": net.conv3, "fc": net.fc},
        labels=imagenet(),
        default_layer="conv2",
    )


@register("tiny-b", "another tiny random-weight net (tests of nets dreaming together)", LAYERS)
def tiny_b(weights: str | None = None) -> DreamNet:
    net = tiny(weights, seed=1)
    net.name = "tiny-b"
    return net
