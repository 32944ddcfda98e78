"""Getting onnx and onnx2torch imported, and a graph converted by onnx2torch: into the opsets it
knows when it cannot convert a graph's own, and accepting newer op versions that only widened
their types.

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

from torch import nn

from models.base import ModelError

log = logging.getLogger(__name__)

ONNX2TORCH_OPSET = 17  # the newest opset whose ops onnx2torch 1.5 converts
_INSTALL = ("install them with `pip install onnx` and `pip install --no-deps onnx2torch==1.5.15` "
            "(--no-deps: onnx2torch asks for torchvision, which would replace this torch)")


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
