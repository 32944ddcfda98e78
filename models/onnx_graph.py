"""Surgery on an ONNX graph before conversion: find its image input and its class output (a
final Softmax/LogSoftmax/Sigmoid cut off), keep only what computes that output, fold constant
subgraphs, infer shapes, and free a batch axis fixed at 1."""
from __future__ import annotations

import logging
import types
from pathlib import Path
from typing import Any

from models.base import ModelError
from models.imported import ImportOptions

log = logging.getLogger(__name__)

_HEADS = {"Softmax", "LogSoftmax", "Sigmoid"}


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
