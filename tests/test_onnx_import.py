"""ONNX import: small nets exported here with torch.onnx (or written node by node with
onnx.helper) must give the torch reference's pre-softmax logits, expose their node outputs as
layers, dream, and fail clearly on bad files."""
from __future__ import annotations

import importlib.util
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from models import ModelError, create_model

# The [onnx] extra is optional: without it these tests are skipped, not failed.
onnx = pytest.importorskip("onnx", reason="the [onnx] extra is not installed")
if importlib.util.find_spec("onnx2torch") is None:  # importing it needs the importer's torchvision stand-in
    pytest.skip("onnx2torch is not installed (setup.sh: pip install --no-deps onnx2torch)", allow_module_level=True)


class Branchy(nn.Module):
    """Two branches joined by a Concat, BatchNorm with real statistics, Caffe-style ceil pooling,
    and a Softmax at the end that the importer must cut off."""

    def __init__(self, classes: int = 6, fixed_batch: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.left = nn.Conv2d(8, 4, 1)
        self.right = nn.Conv2d(8, 6, 3, padding=1, groups=2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 1, 1)
        self.fc = nn.Linear(10 * 9 * 9, classes)
        self.fixed_batch = fixed_batch
        with torch.no_grad():
            self.bn.running_mean.normal_()
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.normal_()
            self.bn.bias.normal_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        return torch.cat([torch.relu(self.left(x)), torch.relu(self.right(x))], 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avg(self.pool(self.features(x)))
        x = x.view(1, -1) if self.fixed_batch else x.flatten(1)
        return self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), 1)


def export(module: nn.Module, path, opset: int | None = None, dynamic: bool = True) -> None:
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(module, (torch.randn(1, 3, 36, 36),), str(path), dynamo=False,
                          opset_version=opset, input_names=["data"], output_names=["prob"],
                          dynamic_axes={"data": {0: "batch"}} if dynamic else None)


@pytest.fixture(scope="module")
def branchy():
    torch.manual_seed(0)
    return Branchy().eval()


@pytest.mark.parametrize("opset", [7, 13, None])  # None: this torch's default (20 for 2.13)
def test_logits_equal_the_torch_net_before_its_softmax(branchy, tmp_path, opset):
    path = tmp_path / "branchy.onnx"
    export(branchy, path, opset)
    net = create_model(str(path))
    x = torch.randn(3, 3, 36, 36, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got, want = net.module(x), branchy.logits(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert net.num_classes == 6 and net.input_size == 36
    assert not torch.allclose(got.softmax(1), got)  # logits, not probabilities


def test_node_outputs_are_hookable_layers(branchy, tmp_path):
    path = tmp_path / "branchy.onnx"
    export(branchy, path)
    net = create_model(str(path))
    names = net.layer_names()
    concat = [n for n in names if "Concat" in n]
    assert len(concat) == 1 and names[-1] == "/fc/Gemm_output_0"
    assert not any("Softmax" in n for n in names)  # cut off with the rest of the head
    assert net.default_layer in names
    seen = {}
    handle = net.layers[concat[0]].register_forward_hook(lambda m, i, o: seen.setdefault("c", o))
    x = torch.randn(2, 3, 36, 36)
    with torch.no_grad():
        net.module(x)
        torch.testing.assert_close(seen["c"], branchy.features(x), rtol=1e-4, atol=1e-5)
    handle.remove()


def test_fixed_batch_export_takes_batches(tmp_path):
    torch.manual_seed(1)
    fixed = Branchy(fixed_batch=True).eval()
    path = tmp_path / "fixed.onnx"
    export(fixed, path, dynamic=False)
    net = create_model(str(path))
    x = torch.randn(4, 3, 36, 36)
    with torch.no_grad():
        want = torch.cat([fixed.logits(x[i:i + 1]) for i in range(4)])
        torch.testing.assert_close(net.module(x), want, rtol=1e-4, atol=1e-5)


def _lrn_graph(path, size=5, alpha=1e-3, beta=0.75, bias=2.0):
    """Conv, LRN (as the ONNX zoo's Caffe-born GoogLeNet uses it), global pool, Gemm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 3, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((4, 7)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["data_0", "w"], ["conv1"], kernel_shape=[3, 3], pads=[1] * 4),
        helper.make_node("LRN", ["conv1"], ["norm1"], size=size, alpha=alpha, beta=beta, bias=bias),
        helper.make_node("GlobalAveragePool", ["norm1"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc"], ["classifier"], transB=1),
        helper.make_node("Softmax", ["classifier"], ["prob_1"]),
    ]
    graph = helper.make_graph(
        nodes, "lrn", [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [1, 3, 40, 40])],
        [helper.make_tensor_value_info("prob_1", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(path))
    return w, fc


def test_onnx_lrn_and_caffe_style_preprocessing_from_a_sidecar(tmp_path):
    from tests.test_caffe_import import caffe_lrn_across

    path = tmp_path / "googlenet-ish.onnx"
    w, fc = _lrn_graph(path)
    (tmp_path / "googlenet-ish.toml").write_text(
        "bgr = true\npixel_range = 255\nmean = [104, 117, 123]\nstd = [1, 1, 1]\n")
    (tmp_path / "labels.txt").write_text("cat\ndog\nfish\nbird\n")
    net = create_model(str(path))
    assert net.layer_names() == ["conv1", "norm1", "pool", "flat", "classifier"]
    assert net.labels.resolve("fish") == [2] and net.bgr
    x = torch.randn(2, 3, 40, 40, dtype=torch.float64) * 30
    conv = torch.nn.functional.conv2d(x, torch.from_numpy(w).double(), padding=1)
    norm = torch.from_numpy(caffe_lrn_across(conv.numpy(), 5, 1e-3, 0.75, 2.0))
    want = norm.mean((2, 3)) @ torch.from_numpy(fc).double().t()
    with torch.no_grad():
        torch.testing.assert_close(net.module(x.float()).double(), want, rtol=1e-4, atol=1e-4)
    rgb = torch.rand(1, 3, 2, 2)
    torch.testing.assert_close(net.normalise(rgb),
                               rgb.flip(1) * 255 - torch.tensor([104.0, 117, 123]).view(1, 3, 1, 1),
                               rtol=1e-5, atol=1e-3)


def test_default_preprocessing_is_torchvision_and_class_layer_can_be_named(tmp_path):
    path = tmp_path / "n.onnx"
    _lrn_graph(path)
    net = create_model(str(path), class_layer="pool")
    assert not net.bgr and net.mean == (0.485, 0.456, 0.406) and net.std == (0.229, 0.224, 0.225)
    assert net.num_classes == 7 and net.layer_names() == ["conv1", "norm1", "pool"]
    assert net.labels is None


def test_bad_onnx_files_give_clear_errors(branchy, tmp_path):
    path = tmp_path / "branchy.onnx"
    export(branchy, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        create_model(str(path))
    path.write_bytes(data)
    with pytest.raises(ModelError, match="holds its own weights"):
        create_model(str(path), weights="x.bin")
    with pytest.raises(ModelError, match="does not exist"):
        create_model(str(tmp_path / "missing.onnx"))

    from onnx import TensorProto, helper

    odd = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")], "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(odd, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)]),
              str(tmp_path / "odd.onnx"))
    with pytest.raises(ModelError, match="onnx2torch cannot convert it.*Frobnicate"):
        create_model(str(tmp_path / "odd.onnx"))


def test_no_torchvision_stub_leaks():
    # onnx2torch needed a stand-in torchvision to import; nobody else may see it.
    from models.onnx_import import _onnx2torch

    _onnx2torch()
    module = sys.modules.get("torchvision")
    assert module is None or hasattr(module, "__file__")


def test_dreams_with_an_onnx_net(branchy, tmp_path):
    import dreamer
    from dreamer import Recipe

    path = tmp_path / "branchy.onnx"
    export(branchy, path)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 44, 3), np.uint8))
    net = create_model(str(path))
    for mode, extra in (("lucid", {"classes": {"0": 1, "5": 0.5}}),
                        ("deepdream", {"layer": net.default_layer})):
        recipe = Recipe.from_flat(model=str(path), mode=mode, steps=6, octaves=1, iterations=2, tile_size=36,
                                  seed=3, **extra)
        out = dreamer.dream(photo, recipe, device="cpu")
        assert out.size == photo.size
        assert np.abs(np.asarray(out, np.int16) - np.asarray(photo, np.int16)).mean() > 0.5, mode


def test_cli_lists_onnx_layers(branchy, tmp_path, capsys):
    from dreamer.cli import main

    path = tmp_path / "branchy.onnx"
    export(branchy, path)
    assert main(["--model", str(path), "--list-layers"]) == 0
    out = capsys.readouterr().out.split()
    assert "/fc/Gemm_output_0" in out and "(default)" in out
