"""A Caffe net (prototxt + caffemodel) as one torch module whose every blob can be hooked.

`CaffeNet.forward` runs the layers in prototxt order over a dict of blobs, as Caffe does, and
returns the class layer's blob (pre-softmax logits). `CaffeNet.blob_modules` maps each blob name
to the module whose output is that blob's final value: for in-place layers (top == bottom, such
as `conv1` followed by its ReLU) that is the last layer writing it, matching what
`net.blobs[name]` held in Caffe after a forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from models.caffe.layers import WEIGHTED, CaffeError, LayerSpec, build
from models.caffe.prototxt import Message, PrototxtError, parse_file
from models.caffe.wire import Blob, WeightsLayer, WireError, read_caffemodel
from models.imported import flatten_logits

# V1 prototxt (`layers { type: CONVOLUTION }`) and V1 caffemodel enum numbers -> V2 type names.
V1_TYPES = {
    "ABSVAL": (35, "AbsVal"), "ACCURACY": (1, "Accuracy"), "ARGMAX": (30, "ArgMax"),
    "BNLL": (2, "BNLL"), "CONCAT": (3, "Concat"), "CONTRASTIVE_LOSS": (37, "ContrastiveLoss"),
    "CONVOLUTION": (4, "Convolution"), "DATA": (5, "Data"), "DECONVOLUTION": (39, "Deconvolution"),
    "DROPOUT": (6, "Dropout"), "DUMMY_DATA": (32, "DummyData"),
    "EUCLIDEAN_LOSS": (7, "EuclideanLoss"), "ELTWISE": (25, "Eltwise"), "EXP": (38, "Exp"),
    "FLATTEN": (8, "Flatten"), "HDF5_DATA": (9, "HDF5Data"), "HDF5_OUTPUT": (10, "HDF5Output"),
    "HINGE_LOSS": (28, "HingeLoss"), "IM2COL": (11, "Im2col"), "IMAGE_DATA": (12, "ImageData"),
    "INFOGAIN_LOSS": (13, "InfogainLoss"), "INNER_PRODUCT": (14, "InnerProduct"),
    "LRN": (15, "LRN"), "MEMORY_DATA": (29, "MemoryData"),
    "MULTINOMIAL_LOGISTIC_LOSS": (16, "MultinomialLogisticLoss"), "MVN": (34, "MVN"),
    "POOLING": (17, "Pooling"), "POWER": (26, "Power"), "RELU": (18, "ReLU"),
    "SIGMOID": (19, "Sigmoid"), "SIGMOID_CROSS_ENTROPY_LOSS": (27, "SigmoidCrossEntropyLoss"),
    "SILENCE": (36, "Silence"), "SOFTMAX": (20, "Softmax"), "SOFTMAX_LOSS": (21, "SoftmaxWithLoss"),
    "SPLIT": (22, "Split"), "SLICE": (33, "Slice"), "TANH": (23, "TanH"),
    "WINDOW_DATA": (24, "WindowData"), "THRESHOLD": (31, "Threshold"),
}
_V1_BY_NUMBER = {str(num): name for num, name in V1_TYPES.values()}
_DATA_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData",
               "AnnotatedData"}
# Layers after the class scores: the class layer is what feeds them. A Sigmoid counts when it
# ends the net (multi-label nets such as illustration2vec's tagger).
_HEAD_TYPES = {"Softmax", "SoftmaxWithLoss", "Accuracy", "ArgMax", "Silence", "Sigmoid",
               "SigmoidCrossEntropyLoss"}


@dataclass
class NetSpec:
    """What the prototxt says: the input blob and its shape, the layers, preprocessing hints."""

    name: str
    input: str
    input_shape: list[int]  # (N, C, H, W); empty when the prototxt gives none
    layers: list[LayerSpec]
    transform: Message  # the first transform_param found (mean_value, mean_file, scale)


@dataclass
class _Step:
    key: str  # module key in the ModuleDict
    bottoms: list[str]
    tops: list[str]
    picks: list[str]  # for a layer with several tops, the Pick module of each
    done: list[str] = field(default_factory=list)  # blobs no later step reads


class Pick(nn.Module):
    """One top of a layer with several tops, so each such blob has its own hookable module."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, outputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return outputs[self.index]


class CaffeNet(nn.Module):
    def __init__(self, spec: NetSpec, modules: list[nn.Module], class_blob: str):
        super().__init__()
        self.input_name = spec.input
        self.class_blob = class_blob
        self.layers = nn.ModuleDict()
        self.picks = nn.ModuleDict()
        self.steps: list[_Step] = []
        keys: set[str] = set()
        for layer, module in zip(spec.layers, modules):
            key = _module_key(layer.name, keys)
            self.layers[key] = module
            picks = []
            for i, top in enumerate(layer.tops if len(layer.tops) > 1 else []):
                picks.append(_module_key(f"{layer.name}:{top}", keys))
                self.picks[picks[-1]] = Pick(i)
            self.steps.append(_Step(key, layer.bottoms, layer.tops, picks))
        # Drop each blob after its last reader, so a forward holds only what autograd keeps.
        last_read: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            for b in step.bottoms:
                last_read[b] = i
        for b, i in last_read.items():
            if b != class_blob:
                self.steps[i].done.append(b)
        # Blob name -> module making its final value, in the order blobs become final.
        self.blob_modules: dict[str, nn.Module] = {}
        for step in self.steps:
            for i, top in enumerate(step.tops):
                self.blob_modules.pop(top, None)
                self.blob_modules[top] = self.picks[step.picks[i]] if step.picks \
                    else self.layers[step.key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blobs = {self.input_name: x}
        for step in self.steps:
            try:
                inputs = [blobs[b] for b in step.bottoms]
            except KeyError as e:
                raise CaffeError(f"blob {e.args[0]!r} is used before any layer makes it") from None
            out = self.layers[step.key](*inputs)
            if step.picks:
                for top, key in zip(step.tops, step.picks):
                    blobs[top] = self.picks[key](out)
            else:
                for top in step.tops:
                    blobs[top] = out
            for name in step.done:
                if name not in step.tops:  # an in-place layer's top lives on
                    blobs.pop(name, None)
        return flatten_logits(blobs[self.class_blob])  # (N, C), even for a conv classifier


def _module_key(name: str, taken: set[str]) -> str:
    """torch forbids '.' in module names; keep the rest of Caffe's name ('/' is fine)."""
    key = name.replace(".", "_") or "layer"
    base, n = key, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    taken.add(key)
    return key


# --- reading the prototxt --------------------------------------------------------------------
def read_prototxt(path: str | Path) -> NetSpec:
    path = Path(path)
    try:
        root = parse_file(path)
        return _net_spec(root, path)
    except PrototxtError as e:
        raise CaffeError(f"{path}: {e}") from None


def _net_spec(root: Message, path: Path) -> NetSpec:
    v2, v1 = root.messages("layer"), root.messages("layers")
    if v2 and v1:
        raise CaffeError(f"{path}: mixes 'layer' and old-style 'layers' blocks")
    specs: list[LayerSpec] = []
    transform = Message()
    for msg in v2 or v1:
        if msg.get("layer"):
            raise CaffeError(f"{path} {msg.where()}: this is Caffe's V0 format from before "
                             "2014; convert it to the current format first")
        type_ = msg.get_str("type", "") or ""
        if v1:
            if type_ not in V1_TYPES:
                raise CaffeError(f"{path} {msg.where()}: unknown old-style layer type {type_!r}")
            type_ = V1_TYPES[type_][1]
        if not _in_test_phase(msg):
            continue
        name = msg.get_str("name", "") or f"{type_.lower()}{len(specs)}"
        spec = LayerSpec(name, type_, [str(b) for b in msg.all("bottom")],
                         [str(t) for t in msg.all("top")], msg)
        if "transform_param" in msg and not transform:
            transform = msg.message("transform_param")
        specs.append(spec)

    input_name, shape = _input(root, specs, path)
    specs = [s for s in specs if s.type != "Input"]
    return NetSpec(root.get_str("name", path.stem) or path.stem, input_name, shape, specs,
                   transform)


def _in_test_phase(msg: Message) -> bool:
    """Caffe's include/exclude rules, for the TEST phase a deploy net runs in."""
    def phase_matches(rule: Message) -> bool:
        phase = rule.get_enum("phase", ("TRAIN", "TEST"), "")
        return phase in ("", "TEST")

    includes, excludes = msg.messages("include"), msg.messages("exclude")
    if includes:
        return any(phase_matches(r) for r in includes)
    return not any(phase_matches(r) and r.get("phase") for r in excludes)


def _input(root: Message, specs: list[LayerSpec], path: Path) -> tuple[str, list[int]]:
    names = [str(n) for n in root.all("input")]
    shape: list[int] = []
    if names:
        if root.get("input_shape"):
            shape = root.messages("input_shape")[0].get_ints("dim")
        elif root.get("input_dim"):
            shape = root.get_ints("input_dim")[:4]
    inputs = [s for s in specs if s.type == "Input"]
    for layer in inputs:
        names.extend(layer.tops)
        if not shape:
            shapes = layer.param("input_param").messages("shape")
            shape = shapes[0].get_ints("dim") if shapes else []
    data_layers = [s for s in specs if s.type in _DATA_TYPES]
    if not names and data_layers:
        raise CaffeError(f"{path}: layer {data_layers[0].name!r} ({data_layers[0].type}) reads a "
                         "training database: this is a train/val prototxt; use the net's "
                         "deploy.prototxt")
    if not names:
        if specs and specs[0].bottoms:
            return specs[0].bottoms[0], shape  # the first layer's input is the picture
        raise CaffeError(f"{path}: no input blob (no 'input:' and no Input layer)")
    if len(names) > 1:
        raise CaffeError(f"{path}: {len(names)} input blobs ({', '.join(names)}); only nets "
                         "with one picture input can dream")
    return names[0], shape


# --- the class layer -------------------------------------------------------------------------
def find_class_blob(spec: NetSpec, explicit: str | None, path: Path) -> tuple[str, int]:
    """The blob holding class logits and how many layers compute it.

    Named explicitly (a blob or layer name), or else the input of the net's final Softmax (or
    loss), or else the last blob made. Layers after the class blob (the Softmax) are dropped.
    """
    layers = spec.layers
    if explicit:
        by_layer = {l.name: l for l in layers}
        blob = by_layer[explicit].tops[0] if explicit in by_layer and by_layer[explicit].tops \
            else explicit
        writers = [i for i, l in enumerate(layers) if blob in l.tops]
        if not writers:
            raise CaffeError(f"{path}: no blob or layer named {explicit!r} for the class layer; "
                             f"blobs: {', '.join(_blob_names(layers))}")
        return blob, _last_writer_before_head(layers, blob)
    consumed = {b for l in layers for b in l.bottoms}
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if layer.type in _HEAD_TYPES and layer.bottoms:
            blob = layer.bottoms[0]
            return blob, _last_writer_before_head(layers[:i], blob)
        if any(t not in consumed or t in layer.bottoms for t in layer.tops):
            blob = layer.tops[0]
            return blob, _last_writer_before_head(layers, blob)
    raise CaffeError(f"{path}: the net has no layers")


def _last_writer_before_head(layers: list[LayerSpec], blob: str) -> int:
    """How many layers to run: up to the last one writing `blob` before a head reads it."""
    end = None
    for i, layer in enumerate(layers):
        if layer.type in _HEAD_TYPES and blob in layer.bottoms and end is not None:
            break
        if blob in layer.tops:
            end = i + 1
    if end is None:
        raise CaffeError(f"no layer makes the blob {blob!r}")
    return end


def _blob_names(layers: list[LayerSpec]) -> list[str]:
    return list(dict.fromkeys(t for l in layers for t in l.tops))


# --- building --------------------------------------------------------------------------------
def read_weights(path: str | Path) -> dict[str, WeightsLayer]:
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise CaffeError(f"{path}: HDF5 caffemodels are not supported; use the .caffemodel "
                         "(binary protobuf) file")
    try:
        layers = read_caffemodel(path)
    except OSError as e:
        raise CaffeError(f"cannot read the weights {path}: {e.strerror or e}") from None
    except WireError as e:
        raise CaffeError(f"{path} is not a complete .caffemodel ({e}); the file may be "
                         "truncated (download it again) or of another kind") from None
    if not layers:
        raise CaffeError(f"{path} holds no layers: it is not a .caffemodel")
    by_name: dict[str, WeightsLayer] = {}
    for layer in layers:
        if layer.type in _V1_BY_NUMBER:
            layer.type = _V1_BY_NUMBER[layer.type]
        # A train/val caffemodel may repeat a name (TRAIN and TEST data layers): keep the one
        # that has parameters.
        if layer.blobs or layer.name not in by_name:
            by_name[layer.name] = layer
    return by_name


def build_net(spec: NetSpec, weights: dict[str, WeightsLayer], weights_path: Path,
              class_layer: str | None, prototxt: Path) -> CaffeNet:
    class_blob, n_layers = find_class_blob(spec, class_layer, prototxt)
    spec.layers = spec.layers[:n_layers]
    modules: list[nn.Module] = []
    for layer in spec.layers:
        blobs: list[Blob] = []
        if layer.type in WEIGHTED:
            found = weights.get(layer.name)
            if found is None or not found.blobs:
                raise CaffeError(
                    f"layer {layer.name!r} ({layer.type}) has no weights in {weights_path.name}: "
                    "the caffemodel does not belong to this prototxt, or it is truncated")
            blobs = found.blobs
        modules.append(build(layer, blobs))
    net = CaffeNet(spec, modules, class_blob)
    net.eval()
    return net
