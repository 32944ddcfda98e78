"""ONNX image classifiers as DreamNets, converted to torch by onnx2torch.

    create_model("googlenet-12.onnx")

onnx2torch turns each ONNX node into a submodule of a torch.fx GraphModule, so every node output
is hookable: the DreamNet's layers are the graph's float tensors of rank >= 2, by their ONNX
tensor names. A final Softmax/LogSoftmax/Sigmoid is cut off so the class output is pre-softmax
logits (the engine ascends those); `class_layer` names another tensor instead.

An ONNX file does not say how to feed it: the default is torchvision's (RGB, 0..1, ImageNet
mean/std); nets converted from Caffe, such as the ONNX model zoo's GoogLeNet, want
`bgr = true`, `pixel_range = 255`, `mean = [104, 117, 123]`, `std = [1, 1, 1]` in a sidecar
TOML (see `models.imported`). A net exported with a fixed batch size of 1 is made to take
batches when its only obstacles are Reshape nodes with a constant leading 1.

The graph surgery is models/onnx_graph.py; importing onnx/onnx2torch and converting,
models/onnx_convert.py.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.base import DreamNet, ModelError
from models.imported import (ImportOptions, find_labels, flatten_logits, gather_options,
                             make_dreamnet, pick_default_layer, probe)
from models.onnx_convert import ONNX2TORCH_OPSET, _convert, _import, _onnx2torch
from models.onnx_graph import _class_tensor, _fold_constants, _free_batch, _infer_shapes, _input, _keep_only

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ONNX2TORCH_OPSET", "OnnxNet", "load_onnx", "_onnx2torch"]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


class OnnxNet(nn.Module):
    """The converted graph, returning (N, classes) logits."""

    def __init__(self, graph: nn.Module):
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.graph(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return flatten_logits(out)


def load_onnx(model: str | Path, weights: str | Path | None = None, **options: Any) -> DreamNet:
    """Import an ONNX classifier; `options` as in `models.imported.ImportOptions`."""
    path = Path(model).expanduser()
    if weights is not None:
        raise ModelError(f"{path}: an ONNX file holds its own weights; drop --weights")
    if not path.is_file():
        raise ModelError(f"the ONNX file {path} does not exist")
    onnx = _import("onnx")
    opts = gather_options(path, None, options)
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise ModelError(f"{path} is not a readable ONNX model ({type(e).__name__}: {e}); the "
                         "file may be truncated (download it again)") from None
    _, size = _input(proto, path, opts)
    class_tensor = _class_tensor(proto, opts.class_layer, path)
    _keep_only(proto, class_tensor, onnx)
    _fold_constants(proto)
    proto = _infer_shapes(proto, onnx)

    what = f"ONNX net {path.name}"
    graph, proto = _convert(proto, path)
    module = OnnxNet(graph)
    try:
        num_classes = probe(module, size, what)
    except ModelError:
        # Exported for batches of exactly one? Free the batch axis and try once more.
        if not _free_batch(proto, onnx):
            raise
        graph, proto = _convert(proto, path)
        module = OnnxNet(graph)
        num_classes = probe(module, size, what)
        log.info("%s: fixed batch size of 1 freed", path)
    layers = _layers(module.graph, proto, class_tensor)
    labels = find_labels(opts, num_classes, path.parent)
    pixel_range, bgr, mean, std = _preprocessing(opts, path)
    return make_dreamnet(
        name=str(path), module=module, layers=layers, options=opts, pixel_range=pixel_range,
        bgr=bgr, mean=mean, std=std, input_size=size, num_classes=num_classes, labels=labels,
        default_layer=pick_default_layer(_spatial(layers, proto), ("inception_4c/output",)),
    )


def _preprocessing(opts: ImportOptions, path: Path) -> tuple[float, bool, tuple, tuple]:
    """(pixel range, bgr, mean, std) in the net's units: the options, torchvision's otherwise."""
    if opts.mean_file is not None:
        raise ModelError(f"{path}: mean_file is for Caffe nets; give mean = [b, g, r] or "
                         "[r, g, b] values instead")
    bgr = bool(opts.bgr)
    pixel_range = opts.pixel_range or 1.0
    if opts.mean is None and opts.std is None and opts.scale is None:
        log.info("%s: no preprocessing given; assuming torchvision's (ImageNet mean/std)", path)
    order = (lambda v: v[::-1]) if bgr else (lambda v: v)
    mean = opts.mean or tuple(m * pixel_range for m in order(IMAGENET_MEAN))
    if opts.std is not None:
        std = opts.std
    elif opts.scale is not None:
        std = (1.0 / opts.scale,) * 3
    elif opts.mean is not None:
        std = (1.0, 1.0, 1.0)  # a mean alone means plain mean subtraction, as in Caffe
    else:
        std = tuple(s * pixel_range for s in order(IMAGENET_STD))
    return pixel_range, bgr, mean, std


def _tensor_types(proto: Any) -> dict[str, tuple[int, int | None]]:
    """tensor name -> (element type, rank or None), from shape inference."""
    out = {}
    for value in list(proto.graph.value_info) + list(proto.graph.output):
        t = value.type.tensor_type
        rank = len(t.shape.dim) if t.HasField("shape") else None
        out[value.name] = (t.elem_type, rank)
    return out


def _layers(graph: nn.Module, proto: Any, class_tensor: str) -> dict[str, nn.Module]:
    """ONNX tensor name -> the submodule computing it, for float feature tensors."""
    types_ = _tensor_types(proto)
    layers: dict[str, nn.Module] = {}
    for _name, module in graph.named_children():
        mapping = getattr(module, "onnx_mapping", None)
        if mapping is None or len(mapping.outputs) != 1:
            continue
        tensor = mapping.outputs[0]
        elem, rank = types_.get(tensor, (0, None))
        if elem and elem not in _FLOAT_TYPES:
            continue  # shapes, indices: not activations
        if rank is not None and rank < 2 and tensor != class_tensor:
            continue
        layers[tensor] = module
    return layers


def _spatial(layers: dict[str, nn.Module], proto: Any) -> list[str]:
    """Feature-map tensors for the default deepdream layer: block outputs (Concat, else
    Add, else Relu) when the graph has them, else every 4-D tensor."""
    types_ = _tensor_types(proto)
    ops = {out: node.op_type for node in proto.graph.node for out in node.output}
    maps = [name for name in layers if types_.get(name, (0, None))[1] == 4]
    for op in ("Concat", "Add", "Relu"):
        blocks = [name for name in maps if ops.get(name) == op]
        if len(blocks) >= 3:
            return blocks
    return maps
