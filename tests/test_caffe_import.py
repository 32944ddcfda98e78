"""Caffe import: small nets written by the test (prototxt text + caffemodel bytes encoded here
from protobuf's wire format, random weights) must compute what a hand-built torch reference with
Caffe's own rules computes, expose every blob as a layer, dream, and fail clearly on bad files."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models import ModelError, create_model
from models.caffe.layers import LRN, Pooling
from models.labels import Labels

SIZE = 35  # odd, so Caffe's ceil rounding of pooled sizes matters


# --- protobuf wire format, written independently of the importer's reader ---------------------
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:  # length-delimited (wire type 2)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def int_field(number: int, value: int) -> bytes:  # varint (wire type 0)
    return varint(number << 3) + varint(value)


def blob(array: np.ndarray, legacy: bool = False) -> bytes:
    """BlobProto: shape = 7 {dim = 1 packed}, data = 5 packed floats; or the legacy 4-D
    num/channels/height/width = 1..4 that 2014 caffemodels use."""
    array = np.asarray(array, dtype=np.float32)
    if legacy:
        dims = (1,) * (4 - array.ndim) + array.shape
        head = b"".join(int_field(i + 1, d) for i, d in enumerate(dims))
    else:
        head = field(7, field(1, b"".join(varint(d) for d in array.shape)))
    return head + field(5, array.astype("<f4").tobytes())


def layer_v2(name: str, type_: str, blobs=()) -> bytes:
    return field(100, field(1, name.encode()) + field(2, type_.encode())
                 + b"".join(field(7, blob(b)) for b in blobs))


def layer_v1(name: str, type_number: int, blobs=()) -> bytes:
    return field(2, field(4, name.encode()) + int_field(5, type_number)
                 + b"".join(field(6, blob(b, legacy=True)) for b in blobs))


# --- Caffe's arithmetic, written out from its C++ (pooling_layer.cpp, lrn_layer.cpp) ------------
def caffe_pool(x: np.ndarray, k, s, p, method: str, ceil: bool = True) -> np.ndarray:
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    n, c, h, w = x.shape

    def out(size, kk, ss, pp):
        o = int(math.ceil((size + 2 * pp - kk) / ss)) + 1 if ceil else (size + 2 * pp - kk) // ss + 1
        if pp and (o - 1) * ss >= size + pp:
            o -= 1
        return o

    oh, ow = out(h, kh, sh, ph), out(w, kw, sw, pw)
    y = np.zeros((n, c, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * sh - ph, j * sw - pw
            he, we = min(hs + kh, h + ph), min(ws + kw, w + pw)
            pool_size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            window = x[:, :, hs:he, ws:we]
            if method == "MAX":
                y[:, :, i, j] = window.max((2, 3))
            else:
                y[:, :, i, j] = window.sum((2, 3)) / pool_size
    return y


def caffe_lrn_across(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    c = x.shape[1]
    half = (size - 1) // 2
    y = np.empty_like(x, dtype=np.float64)
    for i in range(c):
        lo, hi = max(0, i - half), min(c, i + half + 1)
        scale = k + alpha / size * (x[:, lo:hi] ** 2).sum(1)
        y[:, i] = x[:, i] * scale ** -beta
    return y


def caffe_lrn_within(x: np.ndarray, size: int, alpha: float, beta: float) -> np.ndarray:
    pad = (size - 1) // 2
    mean_sq = caffe_pool(x.astype(np.float64) ** 2, (size, size), (1, 1), (pad, pad), "AVE")
    return x * (1 + alpha * mean_sq) ** -beta


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("size,k,s,p", [
    (18, 3, 2, 0), (17, 3, 2, 1), (9, 3, 1, 1), (13, 2, 2, 1), (14, 3, 3, 2), (10, 5, 3, 2),
    (7, 7, 1, 0), (12, 4, 3, 3), (11, 3, 2, 1)])
def test_pooling_matches_caffe_rounding_and_divisor(method, size, k, s, p):
    x = np.random.default_rng(size * k + s + p).standard_normal((2, 3, size, size + 1))
    pool = Pooling(method, (k, k), (s, s), (p, p), global_pool=False, ceil=True)
    got = pool(torch.from_numpy(x)).numpy()
    want = caffe_pool(x, (k, k), (s, s), (p, p), method)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_global_and_floor_pooling():
    x = torch.randn(2, 4, 7, 9, dtype=torch.float64)
    assert torch.allclose(Pooling("AVE", (1, 1), (1, 1), (0, 0), True, True)(x),
                          x.mean((2, 3), keepdim=True))
    assert torch.equal(Pooling("MAX", (1, 1), (1, 1), (0, 0), True, True)(x),
                       x.amax((2, 3), keepdim=True))
    floor = Pooling("MAX", (3, 3), (2, 2), (0, 0), False, ceil=False)(x)
    np.testing.assert_allclose(floor.numpy(), caffe_pool(x.numpy(), (3, 3), (2, 2), (0, 0), "MAX",
                                                         ceil=False))


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (3, 2.0, 0.5, 2.0),
                                               (7, 0.5, 1.2, 1.0)])
def test_lrn_uses_caffe_alpha_as_is(size, alpha, beta, k):
    x = np.random.default_rng(size).standard_normal((2, 9, 5, 6)) * 3
    across = LRN(size, alpha, beta, k, across=True)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(across, caffe_lrn_across(x, size, alpha, beta, k), rtol=1e-5)
    within = LRN(size, alpha, beta, k, across=False)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(within, caffe_lrn_within(x, size, alpha, beta), rtol=1e-5)


# --- a small GoogLeNet-like net -----------------------------------------------------------------
PROTOTXT = """
name: "MiniGoogLeNet"
input: "data"
input_shape { dim: 10 dim: 3 dim: 35 dim: 35 }
layer { name: "conv1/7x7_s2" type: "Convolution" bottom: "data" top: "conv1/7x7_s2"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 8 pad: 3 kernel_size: 7 stride: 2
    weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.2 } } }
layer { name: "conv1/relu_7x7" type: "ReLU" bottom: "conv1/7x7_s2" top: "conv1/7x7_s2" }
layer { name: "pool1/3x3_s2" type: "Pooling" bottom: "conv1/7x7_s2" top: "pool1/3x3_s2"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "pool1/norm1" type: "LRN" bottom: "pool1/3x3_s2" top: "pool1/norm1"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "inception_3a/1x1" type: "Convolution" bottom: "pool1/norm1" top: "inception_3a/1x1"
  convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "inception_3a/relu_1x1" type: "ReLU" bottom: "inception_3a/1x1" top: "inception_3a/1x1"
  relu_param { negative_slope: 0.1 } }
layer { name: "inception_3a/3x3" type: "Convolution" bottom: "pool1/norm1" top: "inception_3a/3x3"
  convolution_param { num_output: 6 kernel_h: 3 kernel_w: 1 pad_h: 2 pad_w: 0 group: 2
    dilation: 2 bias_term: false } }
layer { name: "inception_3a/pool" type: "Pooling" bottom: "pool1/norm1" top: "inception_3a/pool"
  pooling_param { pool: AVE kernel_size: 3 stride: 1 pad: 1 } }
layer { name: "inception_3a/pool_proj" type: "Convolution" bottom: "inception_3a/pool"
  top: "inception_3a/pool_proj" convolution_param { num_output: 4 kernel_size: 1 stride_h: 1 stride_w: 1 } }
layer { name: "inception_3a/output" type: "Concat" bottom: "inception_3a/1x1"
  bottom: "inception_3a/3x3" bottom: "inception_3a/pool_proj" top: "inception_3a/output" }
layer { name: "inception_3a/bn" type: "BatchNorm" bottom: "inception_3a/output" top: "inception_3a/output"
  batch_norm_param { eps: 0.001 } }
layer { name: "inception_3a/scale" type: "Scale" bottom: "inception_3a/output" top: "inception_3a/output"
  scale_param { bias_term: true } }
layer { name: "res/branch" type: "Convolution" bottom: "inception_3a/output" top: "res/branch"
  convolution_param { num_output: 14 kernel_size: 3 pad: 1 } }
layer { name: "res/sum" type: "Eltwise" bottom: "inception_3a/output" bottom: "res/branch" top: "res/sum"
  eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }
layer { name: "res/max" type: "Eltwise" bottom: "res/sum" bottom: "inception_3a/output" top: "res/max"
  eltwise_param { operation: MAX } }
layer { name: "res/prod" type: "Eltwise" bottom: "res/max" bottom: "res/branch" top: "res/prod"
  eltwise_param { operation: PROD } }
layer { name: "side/global" type: "Pooling" bottom: "res/prod" top: "side/global"
  pooling_param { pool: AVE global_pooling: true } }
layer { name: "pool2" type: "Pooling" bottom: "res/prod" top: "pool2"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "pool3" type: "Pooling" bottom: "pool2" top: "pool3"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "pool3/drop" type: "Dropout" bottom: "pool3" top: "pool3"
  dropout_param { dropout_ratio: 0.4 } }
layer { name: "flat" type: "Flatten" bottom: "pool3" top: "flat" }
layer { name: "fc7" type: "InnerProduct" bottom: "flat" top: "fc7" inner_product_param { num_output: 10 } }
layer { name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7" }
layer { name: "loss3/classifier" type: "InnerProduct" bottom: "fc7" top: "loss3/classifier"
  inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "loss3/classifier" top: "prob" }
"""

BLOBS_IN_ORDER = [
    "conv1/7x7_s2", "pool1/3x3_s2", "pool1/norm1", "inception_3a/1x1", "inception_3a/3x3",
    "inception_3a/pool", "inception_3a/pool_proj", "inception_3a/output", "res/branch", "res/sum",
    "res/max", "res/prod", "side/global", "pool2", "pool3", "flat", "fc7", "loss3/classifier"]


def make_weights(seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)

    def r(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    pooled = 3  # 35 -conv s2-> 18 -pool ceil-> 9 -> 9 ... -pool2-> 5 -pool3 ceil-> 3
    return {
        "conv1/7x7_s2": [r(8, 3, 7, 7, scale=0.1), r(8)],
        "inception_3a/1x1": [r(4, 8, 1, 1), r(4)],
        "inception_3a/3x3": [r(6, 4, 3, 1)],
        "inception_3a/pool_proj": [r(4, 8, 1, 1), r(4)],
        # Caffe keeps running sums and their normaliser: mean = blob0 / blob2[0].
        "inception_3a/bn": [r(14) * 4, np.abs(r(14)) * 4 + 0.2, np.array([4.0], np.float32)],
        "inception_3a/scale": [r(14) + 1, r(14)],
        "res/branch": [r(14, 14, 3, 3, scale=0.1), r(14)],
        "fc7": [r(10, 14 * pooled * pooled, scale=0.1), r(10)],
        "loss3/classifier": [r(5, 10), r(5)],
    }


def reference(x: torch.Tensor, w: dict[str, list[np.ndarray]]) -> dict[str, torch.Tensor]:
    """The mini net by hand: torch ops plus Caffe's pooling and LRN rules from above."""
    t = {k: [torch.from_numpy(a).double() for a in v] for k, v in w.items()}
    pool = lambda y, *a: torch.from_numpy(caffe_pool(y.numpy(), *a))  # noqa: E731
    b: dict[str, torch.Tensor] = {}
    b["conv1/7x7_s2"] = F.relu(F.conv2d(x, *t["conv1/7x7_s2"], stride=2, padding=3))
    b["pool1/3x3_s2"] = pool(b["conv1/7x7_s2"], (3, 3), (2, 2), (0, 0), "MAX")
    b["pool1/norm1"] = torch.from_numpy(caffe_lrn_across(b["pool1/3x3_s2"].numpy(), 5, 1e-4, 0.75, 1))
    n = b["pool1/norm1"]
    b["inception_3a/1x1"] = F.leaky_relu(F.conv2d(n, *t["inception_3a/1x1"]), 0.1)
    b["inception_3a/3x3"] = F.conv2d(n, t["inception_3a/3x3"][0], padding=(2, 0), dilation=2, groups=2)
    b["inception_3a/pool"] = pool(n, (3, 3), (1, 1), (1, 1), "AVE")
    b["inception_3a/pool_proj"] = F.conv2d(b["inception_3a/pool"], *t["inception_3a/pool_proj"])
    cat = torch.cat([b["inception_3a/1x1"], b["inception_3a/3x3"], b["inception_3a/pool_proj"]], 1)
    mean, var, factor = t["inception_3a/bn"]
    cat = (cat - (mean / factor).view(1, -1, 1, 1)) / torch.sqrt((var / factor).view(1, -1, 1, 1) + 1e-3)
    gamma, beta = t["inception_3a/scale"]
    b["inception_3a/output"] = cat * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)
    b["res/branch"] = F.conv2d(b["inception_3a/output"], *t["res/branch"], padding=1)
    b["res/sum"] = b["inception_3a/output"] - 0.5 * b["res/branch"]
    b["res/max"] = torch.maximum(b["res/sum"], b["inception_3a/output"])
    b["res/prod"] = b["res/max"] * b["res/branch"]
    b["side/global"] = b["res/prod"].mean((2, 3), keepdim=True)
    b["pool2"] = pool(b["res/prod"], (3, 3), (2, 2), (1, 1), "AVE")
    b["pool3"] = pool(b["pool2"], (2, 2), (2, 2), (0, 0), "MAX")
    b["flat"] = b["pool3"].flatten(1)
    b["fc7"] = F.relu(F.linear(b["flat"], *t["fc7"]))
    b["loss3/classifier"] = F.linear(b["fc7"], *t["loss3/classifier"])
    return b


def write_caffemodel(path, weights, extra: bytes = b"") -> bytes:
    """Every prototxt layer in file order, as Caffe writes them (parameter-free ones without
    blobs), plus a training-only layer the deploy net lacks."""
    data = field(1, b"MiniGoogLeNet") + layer_v2("data", "Data")
    for name in [l.split('"')[1] for l in PROTOTXT.split("layer { name: ")[1:]]:
        type_ = PROTOTXT.split(f'name: "{name}" type: "')[1].split('"')[0]
        data += layer_v2(name, type_, weights.get(name, ()))
    data += layer_v2("loss3/loss3", "SoftmaxWithLoss") + extra
    path.write_bytes(data)
    return data


@pytest.fixture
def caffe_files(tmp_path):
    folder = tmp_path / "mini_googlenet"
    folder.mkdir()
    prototxt = folder / "deploy.prototxt"
    prototxt.write_text(PROTOTXT)
    weights = make_weights()
    caffemodel = folder / "mini.caffemodel"
    write_caffemodel(caffemodel, weights)
    return prototxt, caffemodel, weights


def test_outputs_equal_the_reference_and_every_blob_is_a_layer(caffe_files):
    prototxt, caffemodel, weights = caffe_files
    net = create_model(str(prototxt), weights=str(caffemodel))
    assert net.layer_names() == BLOBS_IN_ORDER  # forward order, no 'prob' (cut), no input
    assert net.input_size == SIZE and net.num_classes == 5 and net.bgr
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 50
    want = reference(x.double(), weights)

    seen = {}
    hooks = [net.layers[name].register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out)) for name in BLOBS_IN_ORDER]
    with torch.no_grad():
        logits = net.module(x)
    for h in hooks:
        h.remove()
    assert logits.shape == (3, 5)
    torch.testing.assert_close(logits.double(), want["loss3/classifier"], rtol=1e-4, atol=1e-4)
    for name in BLOBS_IN_ORDER:  # in-place blobs hold their final value (conv1 after its ReLU)
        # float32 against float64: tolerance relative to the blob's range
        scale = float(want[name].abs().max())
        torch.testing.assert_close(seen[name].double(), want[name], rtol=1e-4, atol=1e-5 * scale,
                                   msg=lambda m, name=name: f"blob {name}: {m}")
    assert (seen["conv1/7x7_s2"] >= 0).all()


def test_preprocessing_is_bgr_minus_the_imagenet_mean_by_default(caffe_files):
    prototxt, caffemodel, _ = caffe_files
    net = create_model(str(prototxt), weights=str(caffemodel))
    rgb = torch.rand(1, 3, 4, 4)
    want = rgb.flip(1) * 255 - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(net.normalise(rgb), want, rtol=1e-5, atol=1e-3)
    assert net.labels is None  # five classes and no labels file beside


def test_mean_and_scale_from_the_prototxt(tmp_path, caffe_files):
    prototxt, caffemodel, _ = caffe_files
    # The newer spelling of the input: an Input layer, here carrying Caffe's transform_param.
    prototxt.write_text(PROTOTXT.replace(
        'input: "data"\ninput_shape { dim: 10 dim: 3 dim: 35 dim: 35 }',
        'layer { name: "data" type: "Input" top: "data"\n'
        '  input_param { shape { dim: 1 dim: 3 dim: 35 dim: 35 } }\n'
        '  transform_param { mean_value: 10 mean_value: 20 mean_value: 30 scale: 0.5 } }'))
    net = create_model(str(prototxt), weights=str(caffemodel))
    rgb = torch.rand(1, 3, 2, 2)
    want = (rgb.flip(1) * 255 - torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)) * 0.5
    torch.testing.assert_close(net.normalise(rgb), want, rtol=1e-5, atol=1e-3)


def test_mean_binaryproto_beside_and_labels_file_beside(caffe_files):
    prototxt, caffemodel, _ = caffe_files
    mean_image = np.stack([np.full((6, 6), 50.0), np.full((6, 6), 60.0),
                           np.arange(36.0).reshape(6, 6)])[None]
    (caffemodel.parent / "mini_mean.binaryproto").write_bytes(blob(mean_image, legacy=True))
    (caffemodel.parent / "labels.txt").write_text("daisy\nrose, Rosa\ntulip\nsunflower\niris\n")
    net = create_model(str(prototxt), weights=str(caffemodel))
    np.testing.assert_allclose(np.array(net.mean) * 255, [17.5, 60.0, 50.0], rtol=1e-6)  # RGB
    assert net.labels.name(1) == "rose" and net.labels.resolve("Rosa") == [1]


def test_wrong_size_labels_and_sidecar_options(caffe_files):
    prototxt, caffemodel, _ = caffe_files
    (caffemodel.parent / "labels.txt").write_text("only\ntwo\n")
    with pytest.raises(ModelError, match="2 classes but the net has 5"):
        create_model(str(prototxt), weights=str(caffemodel))
    (caffemodel.parent / "flowers.json").write_text('["a", "b", "c", "d", "e"]')
    (caffemodel.parent / "deploy.toml").write_text(
        'mean = [1, 2, 3]\nscale = 0.25\nlabels = "flowers.json"\ndefault_layer = "res/max"\n')
    net = create_model(str(prototxt), weights=str(caffemodel))
    assert net.labels.names == ["a", "b", "c", "d", "e"] and net.default_layer == "res/max"
    np.testing.assert_allclose(np.array(net.mean) * 255, [3, 2, 1], rtol=1e-6)
    np.testing.assert_allclose(np.array(net.std) * 255, [4, 4, 4], rtol=1e-6)
    # Keyword options win over the sidecar; a class layer can be named.
    ten = Labels([f"feature {i}" for i in range(10)])
    net = create_model(str(prototxt), weights=str(caffemodel), class_layer="fc7", labels=ten,
                       mean=[0, 0, 0])
    assert net.num_classes == 10 and net.mean == (0.0, 0.0, 0.0)
    assert net.layer_names()[-1] == "fc7"


def test_old_v1_format_prototxt_and_caffemodel(tmp_path):
    prototxt = tmp_path / "caffenet.prototxt"
    prototxt.write_text("""
name: "MiniCaffeNet"
input: "data"
input_dim: 10 input_dim: 3 input_dim: 35 input_dim: 35
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 6 kernel_size: 5 stride: 3 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layers { name: "norm1" type: LRN bottom: "pool1" top: "norm1"
  lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 } }
layers { name: "fc8" type: INNER_PRODUCT bottom: "norm1" top: "fc8"
  inner_product_param { num_output: 4 } }
layers { name: "prob" type: SOFTMAX bottom: "fc8" top: "prob" }
""")
    rng = np.random.default_rng(3)
    w = {"conv1": [rng.standard_normal((6, 3, 5, 5)).astype(np.float32) * 0.1,
                   rng.standard_normal(6).astype(np.float32)],
         "fc8": [rng.standard_normal((4, 6 * 5 * 5)).astype(np.float32) * 0.1,
                 rng.standard_normal(4).astype(np.float32)]}
    caffemodel = tmp_path / "caffenet.caffemodel"
    caffemodel.write_bytes(layer_v1("conv1", 4, w["conv1"]) + layer_v1("relu1", 18)
                           + layer_v1("pool1", 17) + layer_v1("norm1", 15)
                           + layer_v1("fc8", 14, w["fc8"]) + layer_v1("prob", 20))
    net = create_model(str(caffemodel), weights=str(prototxt))  # swapped: forgiven
    assert net.layer_names() == ["conv1", "pool1", "norm1", "fc8"]
    x = torch.randn(2, 3, 35, 35, dtype=torch.float64) * 20
    y = F.relu(F.conv2d(x, torch.from_numpy(w["conv1"][0]).double(),
                        torch.from_numpy(w["conv1"][1]).double(), stride=3))  # 11x11
    y = caffe_pool(y.numpy(), (3, 3), (2, 2), (0, 0), "MAX")  # ceil: 5x5 (floor would be 5 too)
    y = torch.from_numpy(caffe_lrn_across(y, 3, 0.5, 0.75, 1.0)).flatten(1)
    want = F.linear(y, torch.from_numpy(w["fc8"][0]).double(), torch.from_numpy(w["fc8"][1]).double())
    with torch.no_grad():
        torch.testing.assert_close(net.module(x.float()).double(), want, rtol=1e-4, atol=1e-4)


def test_truncated_caffemodel_gives_a_clear_error(caffe_files):
    prototxt, caffemodel, weights = caffe_files
    data = caffemodel.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 7):
        caffemodel.write_bytes(data[:cut])
        with pytest.raises(ModelError, match="truncated"):
            create_model(str(prototxt), weights=str(caffemodel))
    caffemodel.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        create_model(str(prototxt), weights=str(caffemodel))
    caffemodel.write_bytes(prototxt.read_bytes())  # a text file given as the weights
    with pytest.raises(ModelError, match="caffemodel"):
        create_model(str(prototxt), weights=str(caffemodel))


def test_unknown_layer_type_names_the_layer(caffe_files):
    prototxt, caffemodel, _ = caffe_files
    prototxt.write_text(PROTOTXT.replace(
        'layer { name: "flat" type: "Flatten"', 'layer { name: "flat" type: "Frobnicate"'))
    with pytest.raises(ModelError, match=r"layer 'flat' \(Frobnicate\): unsupported layer type"):
        create_model(str(prototxt), weights=str(caffemodel))


def test_other_bad_inputs_give_clear_errors(caffe_files, tmp_path):
    prototxt, caffemodel, weights = caffe_files
    wrong = dict(weights, fc7=[np.zeros((7, 126), np.float32), np.zeros(7, np.float32)])
    write_caffemodel(caffemodel, wrong)
    with pytest.raises(ModelError, match=r"layer 'fc7' \(InnerProduct\): weights of shape"):
        create_model(str(prototxt), weights=str(caffemodel))
    del weights["res/branch"]
    write_caffemodel(caffemodel, weights)
    with pytest.raises(ModelError, match="'res/branch' .* has no weights"):
        create_model(str(prototxt), weights=str(caffemodel))
    bad = tmp_path / "bad.prototxt"
    bad.write_text('name: "x"\nlayer { name: "a" type: "ReLU"\n')
    with pytest.raises(ModelError, match="bad.prototxt line 2: block opened here is never closed"):
        create_model(str(bad), weights=str(caffemodel))
    bad.write_text('layer { name: "data" type: "Data" top: "data" top: "label" }\n' + PROTOTXT
                   .split('input_shape { dim: 10 dim: 3 dim: 35 dim: 35 }')[1])
    with pytest.raises(ModelError, match="train/val prototxt; use the net's deploy.prototxt"):
        create_model(str(bad), weights=str(caffemodel))
    with pytest.raises(ModelError, match="does not exist"):
        create_model(str(tmp_path / "nope.prototxt"), weights=str(caffemodel))


def test_dreams_lucid_and_deepdream(caffe_files):
    import dreamer
    from dreamer import Recipe

    prototxt, caffemodel, _ = caffe_files
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (44, 52, 3), np.uint8))
    for mode, extra in (("lucid", {"classes": {"0": 1, "3": -0.5}}),
                        ("deepdream", {"layer": "inception_3a/output"})):
        recipe = Recipe.from_flat(model=str(prototxt), weights=str(caffemodel), mode=mode, steps=6, octaves=1,
                                  iterations=2, tile_size=SIZE, seed=1, **extra)
        out = dreamer.dream(photo, recipe, device="cpu")
        assert out.size == photo.size
        assert np.abs(np.asarray(out, np.int16) - np.asarray(photo, np.int16)).mean() > 0.5, mode


def test_cli_lists_layers_and_classes_of_a_caffe_net(caffe_files, capsys):
    from dreamer.cli import main

    prototxt, caffemodel, _ = caffe_files
    model = ["--model", str(prototxt), "--weights", str(caffemodel)]
    assert main([*model, "--list-layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[0] for l in lines] == BLOBS_IN_ORDER
    assert main([*model, "--list-classes"]) == 0
    assert capsys.readouterr().out.split() == ["0", "class", "0", "1", "class", "1", "2", "class",
                                               "2", "3", "class", "3", "4", "class", "4"]
    (caffemodel.parent / "labels.txt").write_text("daisy\nrose\ntulip\nsunflower\niris\n")
    assert main([*model, "--list-classes", "tul"]) == 0
    assert capsys.readouterr().out.split() == ["2", "tulip"]
    other = caffemodel.parent / "mine.txt"
    other.write_text("a\nb\nc\nd\nwater lily\n")
    assert main([*model, "--labels", str(other), "--list-classes", "lily"]) == 0
    assert capsys.readouterr().out.split() == ["4", "water", "lily"]
    assert main([*model, "--classes", "goldfish", "--list-layers"]) == 2  # not an ImageNet net
    assert "unknown class 'goldfish'" in capsys.readouterr().err


def test_cli_dreams_with_a_caffe_net_by_class_name(caffe_files, tmp_path):
    from dreamer.cli import main

    prototxt, caffemodel, _ = caffe_files
    (caffemodel.parent / "labels.txt").write_text("daisy\nrose\ntulip\nsunflower\niris\n")
    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), np.uint8)).save(photo)
    out = tmp_path / "out.png"
    assert main([str(photo), "--model", str(prototxt), "--weights", str(caffemodel), "-c",
                 "tulip", "--steps", "2", "-q", "-o", str(out)]) == 0
    assert Image.open(out).size == (40, 40)


def test_reads_weights_fast_enough_for_real_models(tmp_path):
    # CaffeNet is 233 MB: one packed field per blob must be decoded in bulk, not value by value.
    from models.caffe.wire import read_caffemodel

    big = np.random.default_rng(0).standard_normal((4096, 2048)).astype(np.float32)  # 32 MB
    path = tmp_path / "big.caffemodel"
    path.write_bytes(layer_v2("fc6", "InnerProduct", [big, big[0]]))
    import sys

    calls = 0

    def count(_frame, event, _arg):  # every Python and C call made while reading
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        layers = read_caffemodel(path)
    finally:
        sys.setprofile(None)
    assert calls < 10_000  # in bulk: a call per value would be millions (counted, not timed)
    np.testing.assert_array_equal(layers[0].blobs[0].array(), big)
    assert struct.pack("<f", big[0, 0]) == struct.pack("<f", layers[0].blobs[1].data[0])


def test_places205_file_names_and_category_index(caffe_files):
    # MIT ships deploy_places205.protxt (sic) and categoryIndex_places205.csv ("/a/abbey 0").
    prototxt, caffemodel, _ = caffe_files
    places = prototxt.with_name("deploy_places205.protxt")
    prototxt.rename(places)
    (caffemodel.parent / "categoryIndex_places205.csv").write_text(
        "/a/abbey 0\n/a/airport_terminal 1\n/f/field/wild 2\n/f/field/cultivated 3\n"
        "/s/swimming_pool/outdoor 4\n")
    net = create_model(str(places))  # the one .caffemodel beside it is found
    assert net.labels.names == ["abbey", "airport terminal", "field (wild)", "field (cultivated)",
                                "swimming pool (outdoor)"]
    assert net.labels.resolve("cultivated field") == [3]


def test_a_sigmoid_head_is_cut_like_a_softmax(caffe_files):
    # Multi-label nets (illustration2vec's tagger) end in a Sigmoid: dream on what feeds it.
    prototxt, caffemodel, weights = caffe_files
    prototxt.write_text(PROTOTXT.replace('name: "prob" type: "Softmax"', 'name: "prob" type: "Sigmoid"'))
    net = create_model(str(prototxt), weights=str(caffemodel))
    assert net.layer_names()[-1] == "loss3/classifier" and net.num_classes == 5
    x = torch.randn(2, 3, SIZE, SIZE, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(net.module(x.float()).double(),
                                   reference(x, weights)["loss3/classifier"], rtol=1e-4, atol=1e-4)


def test_caffe_synset_words_become_the_bundled_imagenet_labels(tmp_path):
    from models.imported import ImportOptions, find_labels
    from models.labels import imagenet

    bundled = imagenet()
    lines = [f"{bundled.wnid(i)} {', '.join(bundled.synonyms(i))}" for i in range(1000)]
    (tmp_path / "synset_words.txt").write_text("\n".join(lines) + "\n")
    labels = find_labels(ImportOptions(), 1000, tmp_path)
    assert labels is bundled and labels.groups  # synonyms and groups come with them
    lines[0], lines[1] = lines[1], lines[0]  # another order: the file's own labels, as written
    (tmp_path / "synset_words.txt").write_text("\n".join(lines) + "\n")
    labels = find_labels(ImportOptions(), 1000, tmp_path)
    assert labels is not bundled and labels.wnid(0) == bundled.wnid(1)
