"""Nets dreaming together (models.ensemble): one DreamNet whose logits are its members' mean."""
import dataclasses

import pytest
import torch
from PIL import Image

from dreamer.recipe import Recipe, RecipeError
from dreamer.render import dream, dream_net, load_net
from models import ModelError, create_model
from models.ensemble import ensemble, same_classes
from models.tiny import tiny
from tests.test_models import classify
from tests.conftest import PHOTOS


def _pair():
    a = dataclasses.replace(tiny(seed=0), name="a")
    b = dataclasses.replace(tiny(seed=1), name="b")
    return a, b


# The second: a net like the first, or a BGR Caffe-style net with its own mean and std, which
# can dream beside an RGB one because each member gets the pixels as it was trained on them.
@pytest.mark.parametrize("b_inputs", [{}, {"bgr": True, "mean": (0.4, 0.5, 0.6), "std": (0.2, 0.3, 0.25)}])
def test_logits_are_the_members_mean_and_layers_keep_their_member(b_inputs):
    a, b = _pair()
    b = dataclasses.replace(b, **b_inputs)
    both = ensemble("a+b", [a, b])
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        want = (a.module(a.normalise(x)) + b.module(b.normalise(x))) / 2
        got = both.module(both.normalise(x))
    assert torch.allclose(got, want, atol=1e-6)
    assert both.layer("b:conv2") is b.layers["conv2"]
    assert both.default_layer == "a:conv2"
    with pytest.raises(ModelError, match="a:conv1"):
        both.layer("conv1")  # a bare name is ambiguous: the error lists the member-named layers


def test_members_must_share_their_classes_and_have_their_own_names():
    a, b = _pair()
    with pytest.raises(ModelError, match="classes differ"):
        ensemble("x", [a, dataclasses.replace(b, labels=None)])
    assert not same_classes(a, dataclasses.replace(b, labels=None))
    with pytest.raises(ModelError, match="different names"):
        ensemble("x", [a, dataclasses.replace(b, name="a")])
    with pytest.raises(ModelError, match="at least two"):
        ensemble("x", [a])


def test_an_ensemble_dreams_like_any_net(tmp_path):
    """The engine needs nothing specific: both members' gradients reach the picture."""
    a, b = _pair()
    both = ensemble("a+b", [a, b])
    photo = Image.new("RGB", (80, 64), (120, 90, 60))
    recipe = Recipe.from_flat(classes={"goldfish": 1.0}, steps=3, batch_size=2, seed=1)
    out = dream(photo, recipe, net=both)
    only_a = dream(photo, recipe, net=a)
    assert out.size == photo.size
    assert out.tobytes() != photo.tobytes()
    assert out.tobytes() != only_a.tobytes()  # b's opinion changed the dream


def _hybrid(**kw):
    """A two-class hybrid dreamt as "mix" (a partner is what "mix" needs: "regions" dreams each
    class as a single, and "auto" gives it none)."""
    return Recipe.from_flat(model="tiny", classes={"goldfish": 1.0, "stingray": 1.0}, **{"hybrid": "mix", **kw})


def test_a_hybrid_dreams_with_its_partner_a_single_class_alone():
    assert dream_net(_hybrid(hybrid_partner="tiny-b"), "cpu").name == "tiny+tiny-b"
    alone = Recipe.from_flat(model="tiny", classes={"goldfish": 1.0}, hybrid_partner="tiny-b")
    assert dream_net(alone, "cpu").name == "tiny"
    assert dream_net(_hybrid(hybrid_partner=""), "cpu").name == "tiny"
    assert dream_net(_hybrid(), "cpu").name == "tiny"  # "auto" pairs only the default Lite0
    assert dream_net(_hybrid(hybrid_partner="tiny-b", method="tiles"), "cpu").name == "tiny"
    assert dream_net(_hybrid(hybrid_partner="tiny-b"), "cpu") is dream_net(_hybrid(hybrid_partner="tiny-b"), "cpu")
    with pytest.raises(ModelError, match="unknown model 'no-such-net'"):
        dream_net(_hybrid(hybrid_partner="no-such-net"), "cpu")


def test_dream_of_a_hybrid_runs_the_partner_net():
    partner = load_net("tiny-b", None, "cpu")
    calls = []
    handle = partner.module.register_forward_hook(lambda *_: calls.append(1))
    try:
        photo = Image.new("RGB", (80, 64), (120, 90, 60))
        dream(photo, _hybrid(hybrid_partner="tiny-b", steps=2, batch_size=2, seed=1, hybrid_steps=0.5))
        assert len(calls) == 3  # a two-class hybrid: 2 steps and half as many again
        calls.clear()
        dream(photo, _hybrid(hybrid_partner="", steps=2, batch_size=2, seed=1))
        assert calls == []
    finally:
        handle.remove()


def test_partners_in_turns_run_one_net_a_step_in_turn():
    # hybrid_partner_turns: step 0 the model, step 1 the partner, ...: each step costs one net
    model, partner = load_net("tiny", None, "cpu"), load_net("tiny-b", None, "cpu")
    calls = {"tiny": [], "tiny-b": []}
    handles = [n.module.register_forward_hook(lambda *_, k=k: calls[k].append(1))
               for k, n in (("tiny", model), ("tiny-b", partner))]
    try:
        photo = Image.new("RGB", (80, 64), (120, 90, 60))
        turns = _hybrid(hybrid_partner="tiny-b", hybrid_partner_turns=True, steps=4, batch_size=2, seed=1,
                        hybrid_steps=0.5)
        net = dream_net(turns, "cpu")
        assert net.name == "tiny+tiny-b in turns" and net is not dream_net(_hybrid(hybrid_partner="tiny-b"), "cpu")
        out = dream(photo, turns)  # a two-class hybrid: 4 steps and half as many again = 6
        assert (len(calls["tiny"]), len(calls["tiny-b"])) == (3, 3)
        assert dream(photo, turns).tobytes() == out.tobytes()  # the same seed, the same picture
        both = dream(photo, _hybrid(hybrid_partner="tiny-b", steps=4, batch_size=2, seed=1))
        assert both.tobytes() != out.tobytes()
    finally:
        for h in handles:
            h.remove()
    # each turn is that member's own logits; without a step (or for a layer) all of them, averaged
    from dreamer.activations import capture

    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), capture(net, frozenset({"logits"})) as run:
        assert torch.equal(run(x, 0)["logits"], model.module(model.normalise(x)))
        assert torch.equal(run(x, 3)["logits"], partner.module(partner.normalise(x)))
        assert torch.allclose(run(x)["logits"], net.module(net.normalise(x)))


@pytest.mark.slow
def test_the_default_recipe_dreams_hybrids_with_lite0_and_lite1_in_turns_for_regions():
    pair = {"goldfish": 1.0, "stingray": 1.0}
    mix = Recipe.from_flat(classes=pair, hybrid="mix")
    assert dream_net(mix, "cpu").name == "efficientnet-lite0+efficientnet-lite1"  # both nets every step
    regions = dream_net(Recipe(classes=pair), "cpu")  # the default
    assert regions.name == "efficientnet-lite0+efficientnet-lite1 in turns"
    assert [m.name for m in regions.turns] == ["efficientnet-lite0", "efficientnet-lite1"]
    # named explicitly, the partner takes turns only when told to
    assert dream_net(Recipe.from_flat(classes=pair, hybrid_partner="efficientnet-lite1"), "cpu").name == \
        "efficientnet-lite0+efficientnet-lite1"
    # a recipe recorded before the key dreams its regions with Lite0 alone, as it was made
    old = {k: v for k, v in Recipe(classes=pair).to_dict().items() if k != "hybrid_regions_partner"}
    assert Recipe.from_dict(old).views.hybrid_regions_partner is False
    assert dream_net(Recipe.from_dict(old), "cpu").name == "efficientnet-lite0"
    assert dream_net(Recipe.from_flat(classes=pair, hybrid_partner=""), "cpu").name == "efficientnet-lite0"
    assert dream_net(Recipe(classes={"goldfish": 1.0}), "cpu").name == "efficientnet-lite0"
    with pytest.raises(RecipeError, match="hybrid_regions_partner"):
        Recipe.from_flat(hybrid_regions_partner="yes")


@pytest.mark.slow
def test_lite1_and_the_lite0_lite1_ensemble_have_imagenet_weights():
    lite1 = create_model("efficientnet-lite1")
    assert lite1.input_size == 240
    assert classify(lite1, PHOTOS / "coffee.jpg")[0] == 967  # espresso
    both = create_model("efficientnet-lite0+lite1")
    assert classify(both, PHOTOS / "coffee.jpg")[0] == 967
    assert "efficientnet-lite1:block5" in both.layers and both.name == "efficientnet-lite0+efficientnet-lite1"
    with pytest.raises(ModelError, match="wheels"):
        create_model("efficientnet-lite0+lite1", weights="some.pth")
