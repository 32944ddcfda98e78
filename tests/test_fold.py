"""models.fold: BatchNorms (and Caffe's BatchNorm + Scale) folded into the convolution before
them at load, for every family of net, must leave the logits, every named layer's activations
and the gradients the engine takes w.r.t. the pixels as they were."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models.efficientnet_lite as effnet
import models.googlenet as gn
import models.imported as imported
from models import create_model
from models.base import DreamNet, freeze
from models.fold import Tap, fast_form, fold_batchnorms
from test_caffe_import import field, layer_v2

AFFINES = (nn.modules.batchnorm._BatchNorm,)


def unfolded(monkeypatch, module, build):
    """What `build()` makes with the loader's fast_form turned off: the stock net."""
    with monkeypatch.context() as m:
        m.setattr(module, "fast_form", lambda net: net)
        return build()


def random_statistics(net: DreamNet, seed: int = 0) -> None:
    """BatchNorm statistics far from the identity, so a wrong fold shows."""
    g = torch.Generator().manual_seed(seed)
    for m in net.module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.2)


def observe(net: DreamNet, x: torch.Tensor, layers: list[str] | None = None):
    """Logits, every named layer's activations, and d(logit 0 + energy of `layers`)/d(pixels)."""
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, name=name: seen.__setitem__(name, out))
               for name, m in net.layers.items()]
    xin = x.clone().requires_grad_(True)
    try:
        logits = net.module(xin)
    finally:
        for h in handles:
            h.remove()
    loss = logits[:, 0].sum() + sum(seen[n].pow(2).mean() for n in layers or [])
    (grad,) = torch.autograd.grad(loss, xin)
    return logits.detach(), {k: v.detach() for k, v in seen.items()}, grad


def assert_same(stock: DreamNet, fast: DreamNet, x: torch.Tensor, layers: list[str] | None = None):
    assert list(fast.layers) == list(stock.layers)  # every name kept, in order
    want_logits, want, want_grad = observe(stock, x, layers)
    got_logits, got, got_grad = observe(fast, x, layers)
    close(got_logits, want_logits, "logits")
    assert set(got) == set(want)
    for name in want:
        close(got[name], want[name], f"layer {name}")
    # A few pixels sit on a ReLU6 kink that float rounding moves: compare the whole gradient.
    err = float((got_grad - want_grad).norm() / want_grad.norm())
    assert err < 5e-3, f"gradient w.r.t. the pixels differs by {err:.1e} (relative)"


def close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    scale = float(want.abs().max()) + 1e-12
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4 * scale, msg=lambda m: f"{what}: {m}")


def affines_left(net: DreamNet) -> int:
    return sum(isinstance(m, AFFINES) for m in net.module.modules())


# --- the zoo ---------------------------------------------------------------------------------
def test_efficientnet_lite_folds_every_batchnorm():
    # Seeded: the random weights came from whatever the suite had left in torch's generator, and
    # now and then put pixels on ReLU6 kinks that rounding moves (CI once saw 5.5e-3; seeded 1e-7).
    torch.manual_seed(0)
    stock = effnet.build_efficientnet_lite("efficientnet-lite0", pretrained=False, fast=False)
    random_statistics(stock)
    bns = affines_left(stock)
    fast = copy.deepcopy(stock)
    assert fold_batchnorms(fast) == bns == 49
    assert affines_left(fast) == 0
    assert isinstance(fast.layers["stem"], nn.Identity) and isinstance(fast.layers["head"], nn.Identity)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    assert_same(stock, fast, x, ["stem", "block10", "head"])
    # Whole photos of another size go through the same TF-"same" padding.
    assert_same(stock, fast, torch.randn(1, 3, 150, 190, generator=torch.Generator().manual_seed(2)), ["block5"])


def test_googlenet_folds_every_batchnorm_and_keeps_the_classic_layers(monkeypatch):
    torch.manual_seed(0)  # the random weights: as above
    stock = unfolded(monkeypatch, gn, lambda: gn.build_googlenet(pretrained=False))
    random_statistics(stock, seed=2)
    fast = copy.deepcopy(stock)
    assert fold_batchnorms(fast) == 57
    assert affines_left(fast) == 0
    assert fast.layers["inception_4c"] is fast.module.inception4c  # containers stay as they are
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    assert_same(stock, fast, x, ["conv1", "inception_4c"])


def test_loaders_give_the_fast_form():
    for net in (gn.build_googlenet(pretrained=False), create_model("efficientnet-lite0")):
        assert affines_left(net) == 0
        convs = [m for m in net.module.modules() if isinstance(m, nn.Conv2d)]
        assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last)
                             for c in convs if c.weight.shape[-1] > 1 or c.weight.shape[-2] > 1)


def test_the_real_lite0_weights_fold_to_the_same_logits():
    # The fast form also lets stride-1 convolutions pad by themselves: same values, any size.
    stock = effnet.build_efficientnet_lite("efficientnet-lite0", fast=False)
    fast = create_model("efficientnet-lite0")
    assert sum(type(m).__name__ == "Conv2dDynamicSamePadding" for m in fast.module.modules()) == 5
    for size in [(224, 224), (157, 203)]:
        x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(4))
        assert_same(stock, fast, stock.normalise(x), ["block3", "block15"])


# --- imported Caffe nets -----------------------------------------------------------------------
PROTOTXT = """
name: "FoldMe"
input: "data"
input_shape { dim: 1 dim: 3 dim: 20 dim: 20 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "conv1/bn" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { eps: 0.001 } }
layer { name: "conv1/scale" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "conv1/relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 5 kernel_size: 3 pad: 1 } }
layer { name: "conv2/bn" type: "BatchNorm" bottom: "conv2" top: "conv2/bn" }
layer { name: "conv2/scale" type: "Scale" bottom: "conv2/bn" top: "conv2/scale" scale_param { bias_term: true } }
layer { name: "conv3" type: "Convolution" bottom: "conv2/scale" top: "conv3"
  convolution_param { num_output: 5 kernel_size: 1 } }
layer { name: "conv3/bn" type: "BatchNorm" bottom: "conv3" top: "conv3/bn" }
layer { name: "sum" type: "Eltwise" bottom: "conv3/bn" bottom: "conv3" top: "sum" }
layer { name: "pool" type: "Pooling" bottom: "sum" top: "pool" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 4 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def caffe_weights(seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)

    def r(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def bn(n):  # Caffe stores running sums and their normaliser
        return [r(n) * 3, np.abs(r(n)) * 3 + 0.3, np.array([3.0], np.float32)]

    return {
        "conv1": [r(6, 3, 3, 3)], "conv1/bn": bn(6), "conv1/scale": [r(6) + 1, r(6)],
        "conv2": [r(5, 6, 3, 3), r(5)], "conv2/bn": bn(5), "conv2/scale": [r(5) + 1, r(5)],
        "conv3": [r(5, 5, 1, 1), r(5)], "conv3/bn": bn(5), "fc": [r(4, 5), r(4)],
    }


@pytest.fixture
def caffe_net(tmp_path):
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text(PROTOTXT)
    weights = caffe_weights()
    data = field(1, b"FoldMe")
    for name in [l.split('"')[1] for l in PROTOTXT.split("layer { name: ")[1:]]:
        type_ = PROTOTXT.split(f'name: "{name}" type: "')[1].split('"')[0]
        data += layer_v2(name, type_, weights.get(name, ()))
    caffemodel = tmp_path / "foldme.caffemodel"
    caffemodel.write_bytes(data)
    return str(prototxt), str(caffemodel)


def test_caffe_batchnorm_and_scale_fold_in_place_and_into_named_blobs(monkeypatch, caffe_net):
    prototxt, caffemodel = caffe_net
    stock = unfolded(monkeypatch, imported, lambda: create_model(prototxt, weights=caffemodel))
    fast = create_model(prototxt, weights=caffemodel)
    # conv1's BatchNorm + Scale (in place) and conv2's (each blob named) fold; conv3's output is
    # also read by the sum, so its BatchNorm stays.
    kinds = [type(m).__name__ for m in fast.module.layers.values()]
    assert kinds.count("BatchNorm") == 1 and kinds.count("ChannelAffine") == 0
    assert type(fast.module.layers["conv3/bn"]).__name__ == "BatchNorm"
    # The blobs of the not-in-place chain read their own values through taps.
    assert isinstance(fast.layers["conv2"], Tap) and isinstance(fast.layers["conv2/bn"], Tap)
    assert fast.module.blob_modules == fast.layers
    x = torch.randn(3, 3, 20, 20, generator=torch.Generator().manual_seed(5)) * 40
    assert_same(stock, fast, x, ["conv2", "conv2/bn", "conv1", "sum"])


def test_caffe_net_dreams_on_a_tapped_blob(caffe_net):
    from PIL import Image

    from dreamer import Recipe, dream

    prototxt, caffemodel = caffe_net
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    out = dream(photo, Recipe.from_flat(model=prototxt, weights=caffemodel, mode="deepdream", layer="conv2",
                                        steps=2, seed=0))
    assert out.size == photo.size


# --- imported ONNX nets ------------------------------------------------------------------------
def test_onnx_conv_and_batchnorm_fold_and_the_conv_output_stays_a_layer(monkeypatch, tmp_path):
    from test_onnx_import import Branchy, export

    torch.manual_seed(0)
    branchy = Branchy().eval()
    path = tmp_path / "branchy.onnx"
    export(branchy, path, opset=13)
    # The exporter folds eval BatchNorms itself unless told not to; keep one in the file.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(branchy, (torch.randn(1, 3, 36, 36),), str(path), dynamo=False,
                          opset_version=13, input_names=["data"], output_names=["prob"],
                          dynamic_axes={"data": {0: "batch"}}, do_constant_folding=False,
                          training=torch.onnx.TrainingMode.PRESERVE)
    stock = unfolded(monkeypatch, imported, lambda: create_model(str(path)))
    assert affines_left(stock) == 1, "the test file should keep its BatchNorm"
    fast = create_model(str(path))
    assert affines_left(fast) == 0
    conv_out = [n for n in fast.layers if "stem" in n and "Conv" in n]
    assert len(conv_out) == 1 and isinstance(fast.layers[conv_out[0]], Tap)
    x = torch.randn(2, 3, 36, 36, generator=torch.Generator().manual_seed(6))
    assert_same(stock, fast, x, conv_out)
    with torch.no_grad():
        torch.testing.assert_close(fast.module(x), branchy.logits(x), rtol=1e-4, atol=1e-5)


# --- what must not fold ------------------------------------------------------------------------
class SharedWeight(nn.Module):
    """The conv's weight is read again elsewhere: folding it would change that second use, which
    the pattern cannot see; the check after folding must catch it and undo everything."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        a = self.bn(self.conv(x)).mean((2, 3))
        b = F.conv2d(x, self.conv.weight, padding=1).mean((2, 3))
        return self.fc(torch.cat([a, b], 1))


def test_a_fold_that_changes_anything_is_undone(caplog):
    torch.manual_seed(0)
    module = freeze(SharedWeight())
    net = DreamNet("shared", module, (0, 0, 0), (1, 1, 1), 16, layers={"bn": module.bn})
    random_statistics(net)
    stock = copy.deepcopy(net)
    assert fold_batchnorms(net) == 0
    assert isinstance(net.module.bn, nn.BatchNorm2d) and net.layers["bn"] is net.module.bn
    assert "runs unfolded" in caplog.text
    assert_same(stock, net, torch.randn(2, 3, 16, 16), ["bn"])


def test_a_batchnorm_after_something_else_is_left_alone():
    class AfterPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(F.max_pool2d(self.conv(x), 2)).mean((2, 3))

    net = DreamNet("pool", freeze(AfterPool()), (0, 0, 0), (1, 1, 1), 16)
    assert fold_batchnorms(net) == 0 and isinstance(net.module.bn, nn.BatchNorm2d)
    fast_form(net)  # channels_last still applies
    assert net.module.conv.weight.is_contiguous(memory_format=torch.channels_last)
