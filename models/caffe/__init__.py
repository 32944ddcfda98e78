"""Caffe nets without Caffe: a `deploy.prototxt` and its `.caffemodel` become a DreamNet.

    create_model("bvlc_googlenet/deploy.prototxt", weights="bvlc_googlenet.caffemodel")

Every blob of the prototxt is a layer the deepdream objective can target (`inception_4c/output`,
`pool5`, ...); the class output is the blob feeding the final Softmax (`loss3/classifier`,
`fc8`), or the one named by the `class_layer` option. Pixels go in as Caffe nets expect them:
BGR, 0..255, minus the mean (from the options, the prototxt's `transform_param`, a mean
`.binaryproto`/`.npy` beside the files, or else the ImageNet mean 104, 117, 123), times `scale`.
See `models.imported` for the options and the sidecar file that holds them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from models.base import DreamNet
from models.caffe.layers import CaffeError
from models.caffe.net import CaffeNet, NetSpec, build_net, read_prototxt, read_weights
from models.caffe.wire import WireError, read_blobproto
from models.imported import (ImportOptions, find_labels, gather_options, make_dreamnet,
                             pick_default_layer, probe)

__all__ = ["CaffeError", "load_caffe"]

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".prototxt", ".protxt")  # MIT's Places205 deploy file is a ".protxt"
IMAGENET_BGR_MEAN = (104.0, 117.0, 123.0)  # what BVLC's nets and the original deepdream used
_SPATIAL_TYPES = {"Convolution", "Pooling", "LRN", "ReLU", "Concat", "Eltwise", "BatchNorm",
                  "Scale", "PReLU", "ELU", "Dropout", "Sigmoid", "TanH"}


def load_caffe(model: str | Path, weights: str | Path | None = None, **options: Any) -> DreamNet:
    """Import a Caffe net; `options` as in `models.imported.ImportOptions`."""
    prototxt, caffemodel = _paths(Path(model).expanduser(),
                                  Path(weights).expanduser() if weights else None)
    opts = gather_options(prototxt, caffemodel, options)
    spec = read_prototxt(prototxt)
    net = build_net(spec, read_weights(caffemodel), caffemodel, opts.class_layer, prototxt)

    input_size = opts.input_size or _input_size(spec, prototxt)
    what = f"Caffe net {prototxt.name}"
    num_classes = probe(net, input_size, what)
    mean = _mean(opts, spec, prototxt, caffemodel, imagenet_like=num_classes == 1000)
    if opts.std is not None:
        std = opts.std
    else:
        scale = opts.scale or spec.transform.get_float("scale", 1.0) or 1.0
        std = (1.0 / scale,) * 3
    labels = find_labels(opts, num_classes, caffemodel.parent, prototxt.parent)
    dream_net = make_dreamnet(
        name=str(prototxt),
        module=net,
        layers=dict(net.blob_modules),
        options=opts,
        pixel_range=opts.pixel_range or 255.0,
        bgr=True if opts.bgr is None else opts.bgr,
        mean=mean,
        std=std,
        input_size=input_size,
        num_classes=num_classes,
        labels=labels,
        default_layer=pick_default_layer(_feature_blobs(spec, net),
                                         ("inception_4c/output", "conv5")),
    )
    net.blob_modules = dict(dream_net.layers)  # folding may have re-pointed some blobs
    return dream_net


def _paths(model: Path, weights: Path | None) -> tuple[Path, Path]:
    """(prototxt, caffemodel), forgiving swapped arguments and a caffemodel given alone."""
    if model.suffix.lower() == ".caffemodel" and (weights is None
                                                 or weights.suffix.lower() in TEXT_SUFFIXES):
        model, weights = (weights, model) if weights is not None else (None, model)
        if model is None:
            found = sorted(p for p in weights.parent.iterdir()  # type: ignore[union-attr]
                           if p.suffix.lower() in TEXT_SUFFIXES)
            deploy = [p for p in found if "deploy" in p.name.lower()]
            if len(deploy) == 1 or len(found) == 1:
                model = (deploy or found)[0]
            else:
                raise CaffeError(f"{weights} needs its deploy.prototxt: give it as the model "
                                 "and the .caffemodel as the weights")
    if weights is None:
        found = sorted(model.parent.glob("*.caffemodel"))
        if len(found) != 1:
            raise CaffeError(f"{model} needs its weights: give the .caffemodel with --weights")
        weights = found[0]
    for path, what in ((model, "prototxt"), (weights, "weights")):
        if not path.is_file():
            raise CaffeError(f"the {what} file {path} does not exist")
    return model, weights


def _input_size(spec: NetSpec, prototxt: Path) -> int:
    if len(spec.input_shape) < 4:
        log.warning("%s gives no input shape; assuming 224x224 pictures", prototxt)
        return 224
    channels, height, width = spec.input_shape[1:4]
    if channels != 3:
        raise CaffeError(f"{prototxt}: the net takes {channels}-channel input; only colour "
                         "(3-channel) nets can dream")
    if height != width:
        raise CaffeError(f"{prototxt}: the input is {height}x{width}; only square inputs are "
                         "supported (set input_size in the model options to override)")
    return height


def _mean(opts: ImportOptions, spec: NetSpec, prototxt: Path, caffemodel: Path,
          imagenet_like: bool) -> tuple[float, ...]:
    """The per-channel mean in Caffe's BGR 0..255 units (see the module doc for the order)."""
    if opts.mean is not None:
        return opts.mean
    if opts.mean_file is not None:
        return _mean_from_file(Path(opts.mean_file))
    values = spec.transform.get_floats("mean_value")
    if len(values) == 1:
        return (values[0],) * 3
    if len(values) == 3:
        return tuple(values)
    if values:
        raise CaffeError(f"{prototxt}: transform_param has {len(values)} mean_value entries; "
                         "expected 1 or 3")
    named = spec.transform.get_str("mean_file")
    if named:
        for folder in (prototxt.parent, caffemodel.parent):
            for candidate in (folder / named, folder / Path(named).name):
                if candidate.is_file():
                    return _mean_from_file(candidate)
        log.warning("%s names the mean file %s, which is not there", prototxt, named)
    beside = _mean_files_beside(prototxt, caffemodel)
    if len(beside) == 1:
        return _mean_from_file(beside[0])
    # Right for ImageNet nets; only worth a warning for nets trained on other pictures.
    log.log(logging.INFO if imagenet_like else logging.WARNING,
            "no mean given for %s; assuming the ImageNet mean %s (BGR). Put a mean in the "
            "model options if the net was trained with another", prototxt, IMAGENET_BGR_MEAN)
    return IMAGENET_BGR_MEAN


def _mean_files_beside(prototxt: Path, caffemodel: Path) -> list[Path]:
    found: list[Path] = []
    for folder in dict.fromkeys((caffemodel.parent, prototxt.parent)):
        found += sorted(folder.glob("*.binaryproto"))
        found += sorted(p for p in folder.glob("*.npy") if "mean" in p.name.lower())
    named_mean = [p for p in found if "mean" in p.name.lower()]
    return named_mean if named_mean else found


def _mean_from_file(path: Path) -> tuple[float, ...]:
    """Per-channel mean of a mean image (.binaryproto as Caffe writes it, or a (3, H, W) .npy)."""
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            array = read_blobproto(path).array()
    except (OSError, ValueError, WireError) as e:
        raise CaffeError(f"cannot read the mean file {path}: {e}") from None
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 4:
        array = array[0]
    if array.ndim == 1 and array.size == 3:
        return tuple(float(v) for v in array)
    if array.ndim != 3 or array.shape[0] != 3:
        raise CaffeError(f"the mean file {path} holds shape {array.shape}, not a 3-channel "
                         "mean image")
    return tuple(float(v) for v in array.reshape(3, -1).mean(1))


def _feature_blobs(spec: NetSpec, net: CaffeNet) -> list[str]:
    """Blobs with spatial maps, before the first fully connected layer: deepdream material."""
    names: list[str] = []
    for layer in spec.layers:
        if layer.type in ("InnerProduct", "Flatten", "Reshape"):
            break
        if layer.type in _SPATIAL_TYPES:
            names += [t for t in layer.tops if t not in names]
    return [n for n in names if n in net.blob_modules]


