"""The zoo: the registry, and proof that the real Lite0/Lite2 weights are loaded."""
import pytest
import torch
from PIL import Image

from dreamer.recipe import Recipe
from dreamer.render import dream
from dreamer.transform import resize, to_tensor
from models import ModelError, create_model, list_models
from tests.conftest import PHOTOS


def classify(net, path, k=5):
    x = to_tensor(Image.open(path))
    h, w = x.shape[-2:]
    s = net.input_size * 256 / 224 / min(h, w)
    x = resize(x, (round(h * s), round(w * s)))
    h, w = x.shape[-2:]
    n = net.input_size
    x = x[..., (h - n) // 2:(h - n) // 2 + n, (w - n) // 2:(w - n) // 2 + n]
    with torch.no_grad():
        return net.module(net.normalise(x))[0].topk(k).indices.tolist()


@pytest.fixture(scope="module")
def lite0():
    return create_model("efficientnet-lite0")


def test_registry_lists_and_refuses_unknown():
    names = list_models()
    assert {"efficientnet-lite0", "efficientnet-lite2", "googlenet", "tiny"} <= set(names)
    with pytest.raises(ModelError, match="efficientnet-lite0"):
        create_model("resnet-9000")


@pytest.mark.slow
def test_lite0_really_has_imagenet_weights(lite0):
    assert 285 in classify(lite0, PHOTOS / "chelsea.jpg")[:3]  # Egyptian cat
    assert classify(lite0, PHOTOS / "coffee.jpg")[0] == 967  # espresso
    assert lite0.labels.name(285) == "Egyptian cat"


@pytest.mark.slow
def test_lite2_judge_loads_at_its_own_size():
    judge = create_model("efficientnet-lite2")
    assert judge.input_size == 260
    assert classify(judge, PHOTOS / "coffee.jpg")[0] == 967


def test_lite0_layers_for_deepdream(lite0):
    assert lite0.default_layer in lite0.layers
    assert {"stem", "block0", "head"} <= set(lite0.layers)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="cannot load efficientnet-lite0 weights"):
        create_model("efficientnet-lite0", weights=str(tmp_path / "nope.pth"))


@pytest.mark.slow
def test_real_lucid_dream_raises_the_target_class(lite0):
    photo = Image.open(PHOTOS / "rocket.jpg").resize((320, 214))
    recipe = Recipe.from_flat(classes={"goldfish": 1.0}, steps=32, seed=0)
    out = dream(photo, recipe, net=lite0)

    def goldfish_logit(img):
        x = resize(to_tensor(img), (224, 336))
        with torch.no_grad():
            return lite0.module(lite0.normalise(x))[0, 1].item()

    assert goldfish_logit(out) > goldfish_logit(photo) + 2.0
