"""What every net imported from files (Caffe, ONNX) shares: options, labels, and the DreamNet.

A file says nothing of how its net wants pixels fed (mean, scale, channel order) or what its
classes are called, so an imported net takes `ImportOptions` from, in order of precedence:
keyword arguments to `create_model`, a sidecar TOML beside the model file (`deploy.toml` for
`deploy.prototxt`, `googlenet.toml` for `googlenet.onnx`; beside the weights also works), and
what the files themselves say (a prototxt's `transform_param`, a mean `.binaryproto`). Labels
come from the options or a `labels.txt`, `labels.json`, `synset_words.txt` or MIT's
`categoryIndex_places205.csv` beside the weights or the model; a 1000-class net without one,
or with Caffe's ImageNet synset_words.txt, gets the bundled ImageNet labels (with their
synonyms and groups).

Sidecar keys (all optional), in the net's own units and channel order:

    bgr = true                  # the net takes BGR (Caffe nets do)
    pixel_range = 255           # pixels in 0..255 (Caffe) or 0..1 (most torch exports)
    mean = [104, 117, 123]      # per channel, subtracted first
    std = [1, 1, 1]             # per channel, divided by next (or: scale = 0.017, Caffe-style)
    mean_file = "mean.binaryproto"   # Caffe nets: a mean image, averaged per channel
    input_size = 224
    class_layer = "loss3/classifier"
    default_layer = "inception_4c/output"
    labels = "synset_words.txt"
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from models.base import DreamNet, ModelError, freeze
from models.fold import fast_form
from models.labels import Labels, LabelsFileError

log = logging.getLogger(__name__)

LABEL_FILES = ("labels.txt", "labels.json", "synset_words.txt", "categoryIndex_places205.csv")


@dataclass
class ImportOptions:
    labels: str | Path | Labels | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: float | None = None
    pixel_range: float | None = None
    bgr: bool | None = None
    mean_file: str | Path | None = None
    input_size: int | None = None
    class_layer: str | None = None
    default_layer: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str,
                     base: Path | None = None) -> ImportOptions:
        """Options from keyword arguments or a sidecar; relative paths are taken from `base`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"{where}: unknown option(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if key in ("mean", "std"):
                values[key] = _triple(value, key, where)
            elif key in ("scale", "pixel_range"):
                values[key] = _positive(value, key, where)
            elif key == "bgr":
                if not isinstance(value, bool):
                    raise ModelError(f"{where}: bgr must be true or false")
                values[key] = value
            elif key == "input_size":
                if isinstance(value, bool) or not isinstance(value, int) or value < 8:
                    raise ModelError(f"{where}: input_size must be a whole number of pixels")
                values[key] = value
            elif key in ("labels", "mean_file"):
                if isinstance(value, Labels):
                    values[key] = value
                else:
                    path = Path(value).expanduser()
                    values[key] = base / path if base is not None and not path.is_absolute() \
                        else path
            else:
                values[key] = str(value)
        return cls(**values)

    def over(self, lower: ImportOptions) -> ImportOptions:
        """These options, with `lower`'s filling what these leave unset."""
        return dataclasses.replace(lower, **{f.name: getattr(self, f.name) for f in fields(self)
                                             if getattr(self, f.name) is not None})


def _triple(value: Any, key: str, where: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or not all(math.isfinite(v) for v in out):
        raise ModelError(f"{where}: {key} must be one number or three (one per channel)")
    if key == "std" and any(v <= 0 for v in out):
        raise ModelError(f"{where}: std values must be positive")
    return out


def _positive(value: Any, key: str, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out) or out <= 0:
        raise ModelError(f"{where}: {key} must be a positive number")
    return out


def gather_options(model: Path, weights: Path | None, given: Mapping[str, Any]) -> ImportOptions:
    """Keyword options over the sidecar's (the first `<stem>.toml` beside model or weights)."""
    explicit = ImportOptions.from_mapping(given, "model options", Path.cwd())
    for candidate in _sidecars(model, weights):
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                raise ModelError(f"cannot read the model options {candidate}: {e}") from None
            log.info("model options from %s", candidate)
            return explicit.over(ImportOptions.from_mapping(data, str(candidate),
                                                            candidate.parent))
    return explicit


def _sidecars(model: Path, weights: Path | None) -> list[Path]:
    out = [model.with_suffix(".toml")]
    if weights is not None:
        out.append(weights.with_suffix(".toml"))
    return [p for p in out if p.suffix.lower() != model.suffix.lower()]


def find_labels(options: ImportOptions, num_classes: int, *places: Path | None) -> Labels | None:
    """The net's labels: from the options, else a labels file in one of `places` (folders),
    else ImageNet's for a 1000-class net, else None. Checks the count matches the net."""
    source: str | Path | Labels | None = options.labels
    if source is None:
        for folder in dict.fromkeys(p for p in places if p is not None):
            for name in LABEL_FILES:
                if (folder / name).is_file():
                    source = folder / name
                    break
            if source is not None:
                break
    if source is None:
        if num_classes == 1000:
            from models.labels import imagenet

            return imagenet()
        return None
    if isinstance(source, Labels):
        labels = source
    else:
        try:
            labels = read_places_index(Path(source)) or Labels.from_file(source)
        except LabelsFileError as e:
            raise ModelError(str(e)) from None
    if len(labels) != num_classes:
        raise ModelError(f"the labels {source} name {len(labels)} classes but the net has "
                         f"{num_classes} outputs: is it the labels file of this net?")
    return _richer_imagenet(labels)


def _richer_imagenet(labels: Labels) -> Labels:
    """The bundled ImageNet labels instead of a file naming the same 1000 WordNet ids in the
    same order (Caffe's synset_words.txt): they add synonyms, aliases and groups."""
    if len(labels) != 1000 or labels.wnid(0) is None:
        return labels
    from models.labels import imagenet

    bundled = imagenet()
    if all(labels.wnid(i) == bundled.wnid(i) for i in range(1000)):
        return bundled
    return labels


_PLACES_LINE = re.compile(r"/[a-z]/(\S+)\s+(\d+)")


def read_places_index(path: Path) -> Labels | None:
    """MIT's `categoryIndex_places205.csv` ("/a/abbey 0", "/f/field/wild 67") as Labels named
    "abbey", "field (wild)" with the synonym "wild field"; None for a file of another kind."""
    try:
        lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    except (OSError, UnicodeDecodeError):
        return None
    matches = [_PLACES_LINE.fullmatch(l) for l in lines]
    if not lines or not all(matches):
        return None
    by_id: dict[int, list[str]] = {}
    for m in matches:
        scene, *kinds = m.group(1).replace("_", " ").split("/")  # type: ignore[union-attr]
        kind = " ".join(kinds)
        by_id[int(m.group(2))] = [f"{scene} ({kind})", f"{kind} {scene}"] if kind else [scene]  # type: ignore[union-attr]
    if sorted(by_id) != list(range(len(by_id))):
        raise LabelsFileError(f"labels file {path}: its class numbers are not 0..{len(by_id) - 1}")
    return Labels([by_id[i] for i in range(len(by_id))])


def probe(module: nn.Module, input_size: int, what: str) -> int:
    """Run a blank batch of two through the net; returns the class count. Fails clearly."""
    module.eval()  # never let a probe update BatchNorm statistics
    x = torch.zeros(2, 3, input_size, input_size)
    try:
        with torch.no_grad():
            out = module(x)
    except ModelError as e:
        raise ModelError(f"{what}: {e}") from None
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise ModelError(f"{what} fails on a {input_size}x{input_size} picture: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if out.dim() != 2 or out.shape[0] != 2:
        raise ModelError(f"{what}: its class output has shape {tuple(out.shape)}, "
                         "not (pictures, classes)")
    return int(out.shape[1])


def flatten_logits(out: torch.Tensor) -> torch.Tensor:
    """(N, C) logits from a classifier output; spatial maps (N, C, H, W) average per class."""
    if out.dim() > 2:
        return out.flatten(2).mean(2)
    return out


def make_dreamnet(*, name: str, module: nn.Module, layers: dict[str, nn.Module],
                  options: ImportOptions, pixel_range: float, bgr: bool,
                  mean: tuple[float, ...], std: tuple[float, ...], input_size: int,
                  num_classes: int, labels: Labels | None, default_layer: str | None) -> DreamNet:
    """The DreamNet for an imported net, in its fast form (models.fold): mean/std given per
    channel in the net's own order and pixel units become DreamNet's RGB [0, 1] values."""
    if bgr:  # DreamNet keeps mean/std in RGB order and flips them itself for BGR nets
        mean, std = mean[::-1], std[::-1]
    chosen = options.default_layer or default_layer
    if chosen is not None and chosen not in layers:
        raise ModelError(f"{name}: default_layer {chosen!r} is not one of its layers: "
                         f"{', '.join(layers)}")
    freeze(module)
    return fast_form(DreamNet(
        name=name,
        module=module,
        mean=tuple(m / pixel_range for m in mean),  # type: ignore[arg-type]
        std=tuple(s / pixel_range for s in std),  # type: ignore[arg-type]
        input_size=input_size,
        layers=layers,
        labels=labels,
        bgr=bgr,
        default_layer=chosen,
        num_classes=num_classes,
    ))


def pick_default_layer(names: list[str], preferred: tuple[str, ...] = ()) -> str | None:
    """A deepdream layer when the options name none: a classic name if the net has it, else a
    layer about two thirds of the way into its feature maps (mid-level shapes dream best)."""
    for name in preferred:
        if name in names:
            return name
    if not names:
        return None
    return names[min(len(names) - 1, int(len(names) * 0.66))]
