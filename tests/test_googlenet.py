"""GoogLeNet: architecture, torchvision weight format, weight resolution; random weights, no network."""
from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

import pytest
import torch

import models.googlenet as gn
from models.base import ModelError
from models.registry import create_model, list_models

CLASSIC_LAYERS = [
    "conv1", "pool1", "conv2", "conv3", "pool2",
    "inception_3a", "inception_3b", "pool3",
    "inception_4a", "inception_4b", "inception_4c", "inception_4d", "inception_4e", "pool4",
    "inception_5a", "inception_5b", "classifier",
]
INCEPTIONS = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
AUX_IN = {"aux1": 512, "aux2": 528}  # torchvision's training-only heads, present in its file
TORCHVISION_NUM_PARAMS = 6_624_904  # GoogLeNet_Weights.IMAGENET1K_V1.meta["num_params"]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test here may reach the network or the real user cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(gn.ENV_ALLOW_DOWNLOAD, "0")
    monkeypatch.delenv(gn.ENV_WEIGHTS, raising=False)

    def no_network(url, *args, **kwargs):
        pytest.fail(f"network access attempted: {url}")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


@pytest.fixture(scope="module")
def net():
    return gn.build_googlenet(pretrained=False)


def torchvision_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's googlenet state dict, written out from its layout."""
    shapes: dict[str, tuple[int, ...]] = {}

    def basic(prefix: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{prefix}.conv.weight"] = (cout, cin, k, k)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.bn.{stat}"] = (cout,)
        shapes[f"{prefix}.bn.num_batches_tracked"] = ()

    basic("conv1", 3, 64, 7)
    basic("conv2", 64, 64, 1)
    basic("conv3", 64, 192, 3)
    for name in INCEPTIONS:
        cin, c1, c3r, c3, c5r, c5, cp = gn._INCEPTIONS[name]
        p = f"inception{name}"
        basic(f"{p}.branch1", cin, c1, 1)
        basic(f"{p}.branch2.0", cin, c3r, 1)
        basic(f"{p}.branch2.1", c3r, c3, 3)
        basic(f"{p}.branch3.0", cin, c5r, 1)
        basic(f"{p}.branch3.1", c5r, c5, 3)  # 3x3 in torchvision's port, not 5x5
        basic(f"{p}.branch4.1", cin, cp, 1)
    for aux, cin in AUX_IN.items():
        basic(f"{aux}.conv", cin, 128, 1)
        shapes[f"{aux}.fc1.weight"], shapes[f"{aux}.fc1.bias"] = (1024, 2048), (1024,)
        shapes[f"{aux}.fc2.weight"], shapes[f"{aux}.fc2.bias"] = (1000, 1024), (1000,)
    shapes["fc.weight"], shapes["fc.bias"] = (1000, 1024), (1000,)
    return shapes


def torchvision_file(path: Path, seed: int = 1) -> torch.nn.Module:
    """Save a random net in torchvision's format (aux heads included); return that net."""
    with torch.random.fork_rng(devices=[]):  # leave the global RNG as other tests expect it
        torch.manual_seed(seed)
        source = gn.GoogLeNet().eval()
    with torch.no_grad():  # non-trivial BN statistics, so buffers must load too
        for m in source.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    state = dict(source.state_dict())
    for key, shape in torchvision_shapes().items():
        if key.startswith(tuple(AUX_IN)):
            state[key] = torch.zeros(shape, dtype=torch.long) if shape == () else torch.randn(shape)
    torch.save(state, path)
    return source


def logits(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module(x)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float rounding: the loaded net has its BatchNorms folded (models.fold)."""
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


# --- architecture ------------------------------------------------------------------------


def test_logits_for_tiles_and_whole_photos(net):
    assert logits(net.module, torch.rand(2, 3, 224, 224)).shape == (2, 1000)
    # deepdream feeds whole photos of any size and differentiates w.r.t. the pixels
    photo = torch.rand(1, 3, 300, 400, requires_grad=True)
    out = net.module(net.normalise(photo))
    assert out.shape == (1, 1000)
    out[0, 7].backward()
    assert photo.grad is not None and photo.grad.abs().sum() > 0


def test_matches_torchvision_architecture():
    # The module as written, which torchvision's file loads into; the DreamNet then folds its
    # BatchNorms into the convolutions (models.fold, tests/test_fold.py).
    module = gn.GoogLeNet()
    ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    expected = {k: s for k, s in torchvision_shapes().items() if not k.startswith(tuple(AUX_IN))}
    assert ours == expected
    assert sum(p.numel() for p in module.parameters()) == TORCHVISION_NUM_PARAMS
    bns = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == 0.001 for m in bns)


def test_normalise_equals_torchvision_transform_input(net):
    rgb = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    imagenet = (rgb - mean) / std  # torchvision's usual preprocessing...
    transformed = imagenet * (std / 0.5) + (mean - 0.5) / 0.5  # ...then transform_input=True
    assert not net.bgr
    assert torch.allclose(net.normalise(rgb), transformed, atol=1e-5)


def test_classic_layer_names_and_hooks(net):
    assert net.layer_names() == CLASSIC_LAYERS
    assert net.default_layer == "inception_4c"
    assert net.input_size == 224
    assert net.labels is not None
    expected = {
        "conv1": (64, 112), "pool1": (64, 56), "conv3": (192, 56), "pool2": (192, 28),
        "inception_3a": (256, 28), "inception_3b": (480, 28), "pool3": (480, 14),
        "inception_4a": (512, 14), "inception_4c": (512, 14), "inception_4d": (528, 14),
        "inception_4e": (832, 14), "pool4": (832, 7), "inception_5b": (1024, 7),
    }
    seen: dict[str, tuple[int, ...]] = {}
    handles = [
        net.layer(name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, tuple(out.shape))
        )
        for name in CLASSIC_LAYERS
    ]
    try:
        logits(net.module, torch.rand(1, 3, 224, 224))
    finally:
        for h in handles:
            h.remove()
    assert set(seen) == set(CLASSIC_LAYERS)
    for name, (channels, side) in expected.items():
        assert seen[name] == (1, channels, side, side), name
    assert seen["classifier"] == (1, 1000)


def test_registered():
    assert "googlenet" in list_models()


# --- loading weights ---------------------------------------------------------------------


def test_torchvision_file_loads_via_weights_path(tmp_path):
    path = tmp_path / "my-googlenet.pth"
    source = torchvision_file(path)
    loaded = gn.build_googlenet(weights=str(path))
    x = torch.rand(2, 3, 224, 224)
    assert same(logits(loaded.module, x), logits(source, x))
    fresh = gn.build_googlenet(pretrained=False)
    assert not torch.allclose(logits(fresh.module, x), logits(source, x))
    assert not loaded.module.training
    assert all(not p.requires_grad for p in loaded.module.parameters())


def test_env_var_is_used_and_explicit_path_wins(tmp_path, monkeypatch):
    good = tmp_path / "good.pth"
    source = torchvision_file(good)
    x = torch.rand(1, 3, 224, 224)
    monkeypatch.setenv(gn.ENV_WEIGHTS, str(good))
    assert same(logits(create_model("googlenet").module, x), logits(source, x))

    monkeypatch.setenv(gn.ENV_WEIGHTS, str(tmp_path / "nowhere.pth"))
    with pytest.raises(ModelError, match=gn.ENV_WEIGHTS):
        create_model("googlenet")
    assert same(logits(create_model("googlenet", weights=str(good)).module, x),
                       logits(source, x))


def test_cached_file_is_checksummed(tmp_path, monkeypatch):
    cached = gn.cache_path()
    assert cached == tmp_path / "cache" / "lucid-dream" / "googlenet-1378be20.pth"
    cached.parent.mkdir(parents=True)
    source = torchvision_file(cached)
    # Our test file is not the real release, so pin the expected prefix to its own digest.
    monkeypatch.setattr(gn, "SHA256_PREFIX", hashlib.sha256(cached.read_bytes()).hexdigest()[:8])
    x = torch.rand(1, 3, 224, 224)
    assert same(logits(gn.build_googlenet().module, x), logits(source, x))

    with open(cached, "ab") as fh:  # tamper
        fh.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        gn.build_googlenet()
    assert not cached.exists()  # our own cache: a damaged copy is dropped


def test_official_name_with_wrong_checksum_is_rejected_not_deleted(tmp_path):
    path = tmp_path / gn.FILENAME
    torchvision_file(path)  # random weights: their sha256 cannot start with 1378be20
    with pytest.raises(ModelError, match="1378be20"):
        gn.build_googlenet(weights=str(path))
    assert path.exists()  # the user's file, not ours to delete


def test_offline_error_says_how_to_provide_the_file():
    with pytest.raises(ModelError) as info:
        create_model("googlenet")
    message = str(info.value)
    for needed in (gn.URL, gn.ENV_WEIGHTS, gn.ENV_ALLOW_DOWNLOAD, "--weights",
                   str(gn.cache_path())):
        assert needed in message
    assert not gn.cache_path().parent.exists()


def test_downloads_only_when_allowed(monkeypatch):
    monkeypatch.setenv(gn.ENV_ALLOW_DOWNLOAD, "1")
    assert gn.downloads_allowed()
    monkeypatch.setenv(gn.ENV_ALLOW_DOWNLOAD, "0")
    assert not gn.downloads_allowed()
    monkeypatch.delenv(gn.ENV_ALLOW_DOWNLOAD)
    monkeypatch.setenv("CI", "true")
    assert not gn.downloads_allowed()
    with pytest.raises(ModelError, match="download is off"):
        gn.build_googlenet()


@pytest.fixture
def file_urlopen(monkeypatch):
    """A real urlopen that serves file:// URLs only: downloads are exercised, the net is not."""
    real = urllib.request.OpenerDirector()
    real.add_handler(urllib.request.FileHandler())

    def urlopen(url, *args, **kwargs):
        assert str(url).startswith("file:"), f"network access attempted: {url}"
        return real.open(url, timeout=kwargs.get("timeout", 10))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_download_is_verified_and_atomic(tmp_path, monkeypatch, file_urlopen):
    served = tmp_path / "served.pth"
    source = torchvision_file(served)
    monkeypatch.setattr(gn, "URL", served.as_uri())
    cache_dir = gn.cache_path().parent

    monkeypatch.setattr(gn, "SHA256_PREFIX", "00000000")  # a corrupted download
    if hashlib.sha256(served.read_bytes()).hexdigest().startswith("00000000"):
        pytest.skip("astronomically unlikely digest collision")
    with pytest.raises(ModelError, match="discarded"):
        gn.build_googlenet(allow_download=True)
    assert list(cache_dir.iterdir()) == []  # neither the file nor a .part left behind

    monkeypatch.setattr(gn, "SHA256_PREFIX", hashlib.sha256(served.read_bytes()).hexdigest()[:8])
    net = gn.build_googlenet(allow_download=True)
    assert [p.name for p in cache_dir.iterdir()] == [gn.FILENAME]
    assert gn.cache_path().read_bytes() == served.read_bytes()
    x = torch.rand(1, 3, 224, 224)
    assert same(logits(net.module, x), logits(source, x))


def test_unreachable_download_says_how_to_provide(tmp_path, monkeypatch, file_urlopen):
    monkeypatch.setattr(gn, "URL", (tmp_path / "absent.pth").as_uri())
    with pytest.raises(ModelError, match="cannot download") as info:
        gn.build_googlenet(allow_download=True)
    assert gn.ENV_WEIGHTS in str(info.value)
    assert list(gn.cache_path().parent.iterdir()) == []


@pytest.mark.parametrize("content", ["garbage", "list", "wrong_keys", "wrong_shape"])
def test_not_a_googlenet_state_dict(tmp_path, content):
    path = tmp_path / "bad.pth"
    if content == "garbage":
        path.write_bytes(b"this is not a checkpoint")
    elif content == "list":
        torch.save([torch.zeros(1)], path)
    elif content == "wrong_keys":
        torch.save({"features.0.weight": torch.zeros(3)}, path)
    else:
        state = gn.GoogLeNet().state_dict()
        state["fc.weight"] = torch.zeros(10, 1024)
        torch.save(state, path)
    with pytest.raises(ModelError, match="state dict"):
        gn.build_googlenet(weights=str(path))
