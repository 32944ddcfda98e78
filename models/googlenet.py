"""GoogLeNet (Inception v1), the classic DeepDream net, loading torchvision's ImageNet weights.

Written in plain torch because torchvision does not import beside our torch wheel. Parameter
names follow torchvision's so its release file loads as it is; the DeepDream layer names
(`inception_4c`, ...) live only in `DreamNet.layers`.

The weights are never bundled: they come from, in order, an explicit path, the
LUCID_DREAM_GOOGLENET environment variable, the user cache, or a one-off download into that
cache when downloads are allowed.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import torch
from torch import nn

from models.base import DreamNet, ModelError, freeze
from models.fold import fast_form
from models.registry import register

log = logging.getLogger(__name__)

URL = "https://download.pytorch.org/models/googlenet-1378be20.pth"
FILENAME = "googlenet-1378be20.pth"
# torch.hub convention: the name carries the first hex digits of the file's sha256.
# torchvision publishes no full digest for this file, so the prefix is all we can pin.
SHA256_PREFIX = "1378be20"
ENV_WEIGHTS = "LUCID_DREAM_GOOGLENET"
ENV_ALLOW_DOWNLOAD = "LUCID_DREAM_ALLOW_DOWNLOAD"

# torchvision trained this net on pixels scaled to [-1, 1] (TensorFlow's Inception
# preprocessing); its transform_input=True undoes ImageNet mean/std and applies exactly
# (x - 0.5) / 0.5, so we normalise to that directly.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

# (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj) per Inception block.
_INCEPTIONS = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}
_AUX_PREFIXES = ("aux1.", "aux2.")  # training-only heads in torchvision's file; unused here


class ConvBNReLU(nn.Module):
    """Bias-free conv, BatchNorm (eps 1e-3 as in the TensorFlow original), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cpool: int):
        super().__init__()
        self.branch1 = ConvBNReLU(cin, c1, 1)
        self.branch2 = nn.Sequential(ConvBNReLU(cin, c3r, 1), ConvBNReLU(c3r, c3, 3, padding=1))
        # The torchvision port uses a 3x3 here where the paper has 5x5 (pytorch/vision#906);
        # the released weights are 3x3, so we must match.
        self.branch3 = nn.Sequential(ConvBNReLU(cin, c5r, 1), ConvBNReLU(c5r, c5, 3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), ConvBNReLU(cin, cpool, 1)
        )
        self.out_channels = c1 + c3 + c5 + cpool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """Inception v1 without the auxiliary heads; maps a normalised batch to 1000 logits."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = ConvBNReLU(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = ConvBNReLU(64, 64, 1)
        self.conv3 = ConvBNReLU(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(*_INCEPTIONS["3a"])
        self.inception3b = Inception(*_INCEPTIONS["3b"])
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(*_INCEPTIONS["4a"])
        self.inception4b = Inception(*_INCEPTIONS["4b"])
        self.inception4c = Inception(*_INCEPTIONS["4c"])
        self.inception4d = Inception(*_INCEPTIONS["4d"])
        self.inception4e = Inception(*_INCEPTIONS["4e"])
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(*_INCEPTIONS["5a"])
        self.inception5b = Inception(*_INCEPTIONS["5b"])
        # Adaptive pooling lets whole photos of any size through (deepdream), not just 224.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for block in (self.inception4a, self.inception4b, self.inception4c, self.inception4d):
            x = block(x)
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))

    def dream_layers(self) -> dict[str, nn.Module]:
        """The layer names of the original Caffe/TensorFlow DeepDream, in forward order."""
        return {
            "conv1": self.conv1,
            "pool1": self.maxpool1,
            "conv2": self.conv2,
            "conv3": self.conv3,
            "pool2": self.maxpool2,
            "inception_3a": self.inception3a,
            "inception_3b": self.inception3b,
            "pool3": self.maxpool3,
            "inception_4a": self.inception4a,
            "inception_4b": self.inception4b,
            "inception_4c": self.inception4c,
            "inception_4d": self.inception4d,
            "inception_4e": self.inception4e,
            "pool4": self.maxpool4,
            "inception_5a": self.inception5a,
            "inception_5b": self.inception5b,
            "classifier": self.fc,
        }


# --- weights -------------------------------------------------------------------------------


def cache_path() -> Path:
    """Where a downloaded copy lives: $XDG_CACHE_HOME (or ~/.cache)/lucid-dream/<file>."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative value.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "lucid-dream" / FILENAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_ok(digest: str) -> bool:
    return digest.startswith(SHA256_PREFIX)


def downloads_allowed() -> bool:
    """LUCID_DREAM_ALLOW_DOWNLOAD=1/0 decides; unset, only a person at a terminal (not CI) may."""
    value = os.environ.get(ENV_ALLOW_DOWNLOAD, "").strip().lower()
    if value:
        return value in ("1", "true", "yes", "on")
    return sys.stdin is not None and sys.stdin.isatty() and not os.environ.get("CI")


def _how_to_provide(reason: str) -> str:
    return (
        f"{reason}\n"
        f"GoogLeNet needs torchvision's ImageNet weights (about 50 MB). Download\n"
        f"  {URL}\n"
        f"and then either save it as {cache_path()}\n"
        f"or set {ENV_WEIGHTS}=/path/to/{FILENAME}\n"
        f"or pass --weights /path/to/{FILENAME}.\n"
        f"To let this program fetch it by itself, set {ENV_ALLOW_DOWNLOAD}=1."
    )


def download(dest: Path, url: str = URL, timeout: float = 60.0) -> Path:
    """Fetch `url` to `dest` atomically; a file failing the checksum is deleted, never kept."""
    log.warning("downloading GoogLeNet weights from %s to %s", url, dest)
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Same folder as dest so the final rename is atomic: no reader ever sees half a file.
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if not _checksum_ok(digest.hexdigest()):
            raise ModelError(_how_to_provide(
                f"the file downloaded from {url} has sha256 {digest.hexdigest()}, which does not "
                f"start with the expected {SHA256_PREFIX}; it was discarded."
            ))
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        raise ModelError(_how_to_provide(f"cannot download GoogLeNet weights: {exc}")) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return dest


def resolve_weights(weights: str | os.PathLike[str] | None = None,
                    allow_download: bool | None = None) -> Path:
    """The weights file to load, downloading it into the cache only if that is allowed."""
    if weights:
        return _existing(Path(weights), "the weights file")
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        return _existing(Path(env), f"{ENV_WEIGHTS} is set, but")
    cached = cache_path()
    if cached.is_file():
        digest = sha256_of(cached)
        if not _checksum_ok(digest):
            # Our own cache: a bad copy would fail the same way forever, so drop it.
            cached.unlink(missing_ok=True)
            raise ModelError(
                f"{cached} is damaged (sha256 {digest} does not start with {SHA256_PREFIX}) "
                f"and was removed; run again to download it anew, or put a good copy there."
            )
        return cached
    if allow_download is None:
        allow_download = downloads_allowed()
    if not allow_download:
        raise ModelError(_how_to_provide(
            f"GoogLeNet weights not found and automatic download is off ({ENV_ALLOW_DOWNLOAD} "
            f"is not 1, or this is not an interactive session)."
        ))
    return download(cached, URL)


def _existing(path: Path, what: str) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise ModelError(_how_to_provide(f"{what} {path} does not exist or is not a file."))
    # A file under the official name is a copy of the official file: catch a truncated or
    # corrupted manual download before it turns into a confusing unpickling error. Renamed
    # files (fine-tunes, re-saves) are the user's business and are not checked.
    if path.name == FILENAME:
        digest = sha256_of(path)
        if not _checksum_ok(digest):
            raise ModelError(
                f"{path} is not the official {FILENAME}: its sha256 {digest} does not start with "
                f"{SHA256_PREFIX}. Download it again from {URL}."
            )
    return path


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a torchvision-format GoogLeNet state dict and key it for our module."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling raises a zoo of types; all mean "not a state dict"
        raise ModelError(
            f"{path} is not a PyTorch state dict ({type(exc).__name__}: {exc}). "
            f"Expected torchvision's {FILENAME} from {URL}."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(
            f"{path} holds a {type(state).__name__}, not a state dict of tensors. "
            f"Expected torchvision's {FILENAME} from {URL}."
        )
    return {k: v for k, v in state.items() if not k.startswith(_AUX_PREFIXES)}


def _load_into(net: GoogLeNet, path: Path) -> None:
    state = load_state(path)
    ours = net.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    wrong_shape = sorted(k for k in set(ours) & set(state) if ours[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

        problems = [
            f"{label}: {few(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected),
                                ("wrong shape", wrong_shape))
            if keys
        ]
        raise ModelError(
            f"{path} is not a torchvision GoogLeNet state dict ({'; '.join(problems)}). "
            f"Expected {FILENAME} from {URL}."
        )
    net.load_state_dict(state)


def build_googlenet(weights: str | os.PathLike[str] | None = None, pretrained: bool = True,
                    allow_download: bool | None = None) -> DreamNet:
    """GoogLeNet as a DreamNet; `pretrained=False` keeps random weights (tests, shapes)."""
    net = GoogLeNet()
    if pretrained:
        _load_into(net, resolve_weights(weights, allow_download))
    freeze(net)
    from models.labels import imagenet  # late: keeps this module importable on its own

    return fast_form(DreamNet(
        name="googlenet",
        module=net,
        mean=MEAN,
        std=STD,
        input_size=224,
        layers=net.dream_layers(),
        labels=imagenet(),
        default_layer="inception_4c",
    ))


# dream_layers' names, for a config to be checked without building the net.
LAYERS = ("conv1", "pool1", "conv2", "conv3", "pool2", "inception_3a", "inception_3b", "pool3", "inception_4a",
          "inception_4b", "inception_4c", "inception_4d", "inception_4e", "pool4", "inception_5a", "inception_5b",
          "classifier")


@register("googlenet", "GoogLeNet / Inception v1, ImageNet-1k: the classic DeepDream net "
                       "(torchvision weights, downloaded once)", LAYERS)
def googlenet(weights: str | None = None) -> DreamNet:
    return build_googlenet(weights)
