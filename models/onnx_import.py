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

onnx2torch imports torchvision for two detection ops (NonMaxSuppression, RoiAlign) only, and
torchvision does not import beside our torch wheel; when it is missing or broken those two ops
are stubbed with a clear error and everything else converts as usual.
"""
from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.base import DreamNet, ModelError
from models.imported import (ImportOptions, find_labels, flatten_logits, gather_options,
                             make_dreamnet, pick_default_layer, probe)

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HEADS = {"Softmax", "LogSoftmax", "Sigmoid"}
_FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
ONNX2TORCH_OPSET = 17  # the newest opset whose ops onnx2torch 1.5 converts
_INSTALL = ("install them with `pip install onnx` and `pip install --no-deps onnx2torch==1.5.15` "
            "(--no-deps: onnx2torch asks for torchvision, which would replace this torch)")


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


# --- imports ---------------------------------------------------------------------------------
def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ModelError(f"ONNX import needs the {name} package ({e}); {_INSTALL}") from None


def _onnx2torch() -> types.ModuleType:
    if "onnx2torch" in sys.modules:
        return sys.modules["onnx2torch"]
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - absent, or present but built for another torch
        for key in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[key]
        stub, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")

        def unavailable(*_args: Any, **_kwargs: Any) -> Any:
            raise ModelError("this ONNX model uses a detection op (NonMaxSuppression or "
                             "RoiAlign) that needs torchvision: it is not a classifier")

        ops.nms = ops.roi_align = ops.box_convert = unavailable  # type: ignore[attr-defined]
        stub.ops = ops  # type: ignore[attr-defined]
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = stub, ops
        try:
            return _import("onnx2torch")
        finally:
            # The stub only ever served onnx2torch's own imports; nobody else may find it.
            del sys.modules["torchvision"], sys.modules["torchvision.ops"]
    return _import("onnx2torch")


# --- graph surgery ---------------------------------------------------------------------------
def _input(proto: Any, path: Path, opts: ImportOptions) -> tuple[str, int]:
    initialised = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initialised]
    if len(inputs) != 1:
        raise ModelError(f"{path}: the graph has {len(inputs)} inputs; only nets with one "
                         "picture input can dream")
    dims = inputs[0].type.tensor_type.shape.dim
    static = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if len(static) != 4:
        raise ModelError(f"{path}: the input {inputs[0].name!r} has {len(static)} axes; an "
                         "image classifier takes (batch, 3, height, width)")
    if static[1] not in (None, 3):
        raise ModelError(f"{path}: the input has {static[1]} channels; only colour (3-channel) "
                         "nets can dream")
    if opts.input_size:
        return inputs[0].name, opts.input_size
    height, width = static[2], static[3]
    if height is None or width is None:
        log.info("%s: the input size is not fixed; using 224 (set input_size to change)", path)
        return inputs[0].name, 224
    if height != width:
        raise ModelError(f"{path}: the input is {height}x{width}; only square inputs are "
                         "supported (set input_size in the model options to override)")
    return inputs[0].name, height


def _producers(proto: Any) -> dict[str, Any]:
    return {out: node for node in proto.graph.node for out in node.output}


def _class_tensor(proto: Any, explicit: str | None, path: Path) -> str:
    producers = _producers(proto)
    if explicit:
        if explicit in producers:
            return explicit
        by_node = {n.name: n for n in proto.graph.node if n.name}
        if explicit in by_node and len(by_node[explicit].output) == 1:
            return by_node[explicit].output[0]
        raise ModelError(f"{path}: no tensor or node named {explicit!r} for the class layer")
    if not proto.graph.output:
        raise ModelError(f"{path}: the graph has no outputs")
    tensor = proto.graph.output[0].name
    # Walk back over the output activation (and a Flatten/Reshape after it, if any).
    node = producers.get(tensor)
    while node is not None and node.op_type in _HEADS | {"Flatten", "Reshape", "Squeeze"}:
        if node.op_type in _HEADS:
            return node.input[0]
        node = producers.get(node.input[0])
    return tensor


def _keep_only(proto: Any, tensor: str, onnx: types.ModuleType) -> None:
    """Make `tensor` the graph's one output and drop the nodes it does not need."""
    nodes = list(proto.graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    needed: set[int] = set()
    stack = [tensor]
    while stack:
        index = producer.get(stack.pop())
        if index is None or index in needed:
            continue
        needed.add(index)
        stack.extend(i for i in nodes[index].input if i)
    keep = []
    for i in sorted(needed):
        copy = onnx.NodeProto()
        copy.CopyFrom(nodes[i])
        keep.append(copy)
    del proto.graph.node[:]
    proto.graph.node.extend(keep)
    del proto.graph.output[:]
    proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))


def _fold_constants(proto: Any) -> None:
    """Turn Constant nodes, and Identity nodes that copy an initialiser, into initialisers.

    onnx2torch reads a Conv's or Gemm's weights only from initialisers, but torch's exporter
    writes a weight shared by several nodes (often an all-zero bias) once and aliases it with
    Identity nodes, and some exporters give weights as Constant nodes.
    """
    from onnx import helper, numpy_helper

    initialisers = {i.name: i for i in proto.graph.initializer}
    keep = []
    for node in list(proto.graph.node):
        tensor = None
        if node.op_type == "Identity" and node.input[0] in initialisers:
            tensor = numpy_helper.to_array(initialisers[node.input[0]])
        elif node.op_type == "Constant" and len(node.attribute) == 1 \
                and node.attribute[0].name == "value":
            tensor = numpy_helper.to_array(node.attribute[0].t)
        if tensor is None:
            keep.append(node)
            continue
        folded = numpy_helper.from_array(tensor, node.output[0])
        proto.graph.initializer.append(folded)
        initialisers[node.output[0]] = folded
        if proto.ir_version < 4:  # before IR 4 every initialiser is also a graph input
            proto.graph.input.append(helper.make_tensor_value_info(
                folded.name, folded.data_type, list(folded.dims)))
    if len(keep) != len(proto.graph.node):
        copies = []
        for node in keep:
            copy = type(node)()
            copy.CopyFrom(node)
            copies.append(copy)
        del proto.graph.node[:]
        proto.graph.node.extend(copies)


def _infer_shapes(proto: Any, onnx: types.ModuleType) -> Any:
    try:
        return onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - layers are still found without shapes
        return proto


def _free_batch(proto: Any, onnx: types.ModuleType) -> bool:
    """Let a graph exported for batch 1 take any batch: a symbolic batch axis on its input,
    and 0 ('copy the input's axis') for the leading 1 of constant Reshape shapes."""
    from onnx import numpy_helper

    changed = False
    initialisers = {i.name: i for i in proto.graph.initializer}
    constants = {n.output[0]: n for n in proto.graph.node if n.op_type == "Constant"}
    for node in proto.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        name = node.input[1]
        if name in initialisers:
            shape = numpy_helper.to_array(initialisers[name]).copy()
            if shape.size and shape[0] == 1:
                shape[0] = 0
                initialisers[name].CopyFrom(numpy_helper.from_array(shape, name))
                changed = True
        elif name in constants:
            for attr in constants[name].attribute:
                if attr.name == "value":
                    shape = numpy_helper.to_array(attr.t).copy()
                    if shape.size and shape[0] == 1:
                        shape[0] = 0
                        attr.t.CopyFrom(numpy_helper.from_array(shape))
                        changed = True
    initialised = set(initialisers)
    for value in proto.graph.input:
        if value.name not in initialised:
            dim = value.type.tensor_type.shape.dim[0]
            if dim.HasField("dim_value"):
                dim.dim_param = "batch"
                changed = True
    return changed


def _convert(proto: Any, path: Path) -> tuple[nn.Module, Any]:
    """The GraphModule, and the graph it was made from (maybe moved to another opset)."""
    onnx2torch = _onnx2torch()
    try:
        return _run_converter(onnx2torch, proto, path), proto
    except NotImplementedError as e:
        first = e
    other = _change_opset(proto)
    if other is not None:
        try:
            return _run_converter(onnx2torch, other, path), other
        except NotImplementedError:
            pass
    raise ModelError(f"{path}: onnx2torch cannot convert it: {first}")


def _run_converter(onnx2torch: types.ModuleType, proto: Any, path: Path) -> nn.Module:
    _accept_newer_versions(proto)
    try:
        return onnx2torch.convert(proto, attach_onnx_mapping=True)
    except (NotImplementedError, ModelError):
        raise
    except Exception as e:  # noqa: BLE001 - the converter's errors are of every kind
        raise ModelError(f"{path}: onnx2torch failed ({type(e).__name__}: {e})") from None


def _change_opset(proto: Any) -> Any | None:
    """The graph moved by ONNX's version converter into the opsets onnx2torch knows best:
    down to 17 from newer ones, up to 13 from old ones; None when it cannot be moved."""
    from onnx import version_converter

    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    target = ONNX2TORCH_OPSET if opset > ONNX2TORCH_OPSET else 13
    if opset == target:
        return None
    try:
        moved = version_converter.convert_version(proto, target)
    except Exception:  # noqa: BLE001 - no adapter for some op: keep the first error
        return None
    log.info("converted from opset %d to %d for onnx2torch", opset, target)
    return moved


# Ops whose versions after onnx2torch's only widened the element types (bfloat16, float8,
# int4, strings) and so convert as their newest known version. AveragePool-19 added
# dilations, fine while a node leaves them at 1.
_TYPE_ONLY_BUMPS = {
    "Abs", "Add", "Cast", "CastLike", "Ceil", "Concat", "Constant", "ConstantOfShape", "Conv",
    "ConvTranspose", "Div", "Dropout", "Elu", "Equal", "Exp", "Flatten", "Floor", "Gemm",
    "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity",
    "InstanceNormalization", "LeakyRelu", "Log", "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg",
    "PRelu", "Pow", "Reciprocal", "Relu", "Reshape", "Round", "Selu", "Shape", "Sigmoid", "Size",
    "Softplus", "Softsign", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "Unsqueeze",
    "AveragePool",
}


def _default_dilations(node: Any) -> bool:
    return all(v == 1 for a in node.attribute if a.name == "dilations" for v in a.ints)


def _accept_newer_versions(proto: Any) -> None:
    """Register onnx2torch's newest converter of an op for the newer version a graph uses,
    where that version only widened the op's types (see _TYPE_ONLY_BUMPS)."""
    from onnx import defs
    from onnx2torch.node_converters.registry import add_converter, get_converter

    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    for node in proto.graph.node:
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or op not in _TYPE_ONLY_BUMPS:
            continue
        if op == "AveragePool" and not _default_dilations(node):
            continue
        try:
            get_converter(op, opset)
            continue
        except NotImplementedError:
            pass
        try:
            since = defs.get_schema(op, max_inclusive_version=opset).since_version
        except defs.SchemaError:
            continue
        version = since
        while version > 1:
            try:
                version = defs.get_schema(op, max_inclusive_version=version - 1).since_version
            except defs.SchemaError:
                break
            try:
                converter = get_converter(op, version)
            except NotImplementedError:
                continue
            add_converter(operation_type=op, version=since)(converter)
            log.info("ONNX %s-%d converted as %s-%d (only its types changed)", op, since, op,
                     version)
            break


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
