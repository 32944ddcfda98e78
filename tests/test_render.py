"""Engine behaviour on the tiny random-weight net (fast); a few real-weight checks live in test_models."""
import numpy as np
import pytest
import torch
from PIL import Image

from dreamer.recipe import Octave, Recipe, RecipeError
from dreamer.activations import capture
from dreamer.plan import guide_activations, objective_for, tiles_plan, views_plan
from dreamer.render import dream
from dreamer.render_tiles import tiled_gradient
from dreamer.tiling import make_tiles
from dreamer.transform import to_tensor
from models import create_model

FAST = dict(method="tiles", octaves=2, iterations=3, tile_size=64, batch_size=4, seed=1)


@pytest.fixture(scope="module")
def net():
    return create_model("tiny")


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 150)[None, :, None] * np.ones((110, 150, 3))
    return Image.fromarray((0.7 * base + 0.3 * rng.uniform(0, 255, base.shape)).astype(np.uint8))


def mean_logit(net, image, cls):
    x = to_tensor(image)
    tiles = make_tiles(x.shape[2], x.shape[3], 64, 0.25)
    with torch.no_grad():
        batch = torch.stack([x[0, :, t.y:t.y + t.h, t.x:t.x + t.w] for t in tiles])
        return net.module(net.normalise(batch))[:, cls].mean().item()


def test_same_seed_same_picture_other_seed_other_picture(net, photo):
    r = Recipe.from_flat(classes={"goldfish": 1.0}, **FAST)
    a, b = dream(photo, r, net=net), dream(photo, r, net=net)
    c = dream(photo, r.replace(seed=2), net=net)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.parametrize("weight", [1.0, -1.0])
def test_class_ascent_moves_the_signed_logit(net, photo, weight):
    # Fixed views: the logit is measured on the picture as it is, so the dream must see it so too
    # (the default random view scale/rotation ascend an average over views instead).
    # 16 steps of 8 move the logit by 0.049 (up) and 0.070 (down): the bound is under half of that.
    r = Recipe.from_flat(classes={"goldfish": weight}, method="tiles", octaves=1, iterations=16, tile_size=64, step_start=8, step_end=8,
                         sigma_start=0, sigma_end=0, seed=3, view_scale_min=1.0, view_scale_max=1.0, view_rotate=0.0)
    before = mean_logit(net, photo, 1)
    after = mean_logit(net, dream(photo, r, net=net), 1)
    assert (after - before) * weight > 0.02


def test_output_keeps_size_and_changes_pixels(net, photo):
    out = dream(photo, Recipe.from_flat(classes={"1": 1.0}, **FAST), net=net)
    assert out.size == photo.size and out.mode == "RGB"
    diff = np.abs(np.asarray(out, dtype=int) - np.asarray(photo, dtype=int))
    assert diff.mean() > 0.5
    # every region of the picture is dreamt, edges included (no untouched frame)
    for region in (diff[:8], diff[-8:], diff[:, :8], diff[:, -8:]):
        assert region.mean() > 0.2


@pytest.mark.parametrize("size", [(40, 30), (64, 64), (300, 20)])
def test_pictures_smaller_than_a_tile_work(net, size):
    img = Image.new("RGB", size, (120, 80, 200))
    out = dream(img, Recipe.from_flat(classes={"1": 1.0}, **FAST), net=net)
    assert out.size == size


def test_tiles_stream_through_the_net_in_batches(net, photo):
    seen = []
    handle = net.module.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].shape))
    try:
        dream(photo, Recipe.from_flat(classes={"1": 1.0}, method="tiles", octaves=1, iterations=2, tile_size=64, batch_size=3), net=net)
    finally:
        handle.remove()
    assert seen and all(s[0] <= 3 and s[2] == 64 and s[3] == 64 for s in seen)
    assert any(s[0] == 3 for s in seen)  # batching really happens


def test_tiled_gradient_blends_to_the_full_gradient_for_a_pixelwise_objective(photo):
    # For an objective that scores each pixel independently, the blended tile gradient must equal
    # the whole-picture gradient exactly: proof the normalised blend adds no seams of its own.
    from dreamer.objectives import Objective

    x = to_tensor(photo)
    target = torch.rand_like(x)
    objective = Objective(lambda acts: -(acts["logits"] - 0.5).pow(2).sum((1, 2, 3)), frozenset({"logits"}), "pixels")
    tiles = make_tiles(x.shape[2], x.shape[3], 48, 0.25, offset=(5, 9))
    g, _ = tiled_gradient(x, lambda xb: {"logits": xb}, objective, tiles, 5, 0.25)
    assert torch.allclose(g, -2 * (x - 0.5), atol=1e-5)


def test_deepdream_raises_layer_energy(net, photo):
    r = Recipe.from_flat(mode="deepdream", layer="conv2", method="tiles", octaves=1, iterations=6, tile_size=64, seed=0)
    out = dream(photo, r, net=net)

    def energy(img):
        with torch.no_grad(), capture(net, frozenset({"conv2"})) as run:
            return run(to_tensor(img))["conv2"].pow(2).mean().item()

    assert energy(out) > energy(photo) * 1.02


def test_unknown_layer_lists_the_layers(net, photo):
    from models import ModelError

    with pytest.raises(ModelError, match="conv1, conv2"):
        dream(photo, Recipe.from_flat(mode="deepdream", layer="inception_4c", **FAST), net=net)


def _score(net, recipe: Recipe, image: Image.Image) -> float:
    """The recipe's own objective on the whole picture, as the engine builds it."""
    objective = views_plan(recipe, net, recipe.seed, torch.device("cpu")).objective
    with torch.no_grad(), capture(net, objective.layers) as run:
        return float(objective(run(to_tensor(image))).mean())


ONE_OCTAVE = {**FAST, "octaves": 1, "iterations": 6}


def test_guide_mode_moves_the_picture_towards_its_guide(net, photo, tmp_path):
    guides = {}
    for name, colour in (("red", (250, 10, 10)), ("blue", (10, 20, 240))):
        guides[name] = tmp_path / f"{name}.png"
        Image.new("RGB", (80, 80), colour).save(guides[name])
    recipes = {n: Recipe.from_flat(mode="guide", guide=str(p), guide_layer="conv2", **ONE_OCTAVE)
               for n, p in guides.items()}
    dreams = {n: dream(photo, r, net=net) for n, r in recipes.items()}
    assert dreams["red"].size == photo.size
    assert not np.array_equal(np.asarray(dreams["red"]), np.asarray(dreams["blue"]))  # the guide matters
    for n, r in recipes.items():  # and each dream resembles its own guide more than the photo did
        assert _score(net, r, dreams[n]) > _score(net, r, photo)


def test_guide_is_read_once_a_dream_not_once_an_octave(net, photo, tmp_path, monkeypatch):
    import dreamer.image_io as io

    reads = []
    real = io.load_image
    monkeypatch.setattr(io, "load_image", lambda *a, **k: reads.append(a) or real(*a, **k))
    guide = tmp_path / "guide.png"
    Image.new("RGB", (80, 80), (250, 10, 10)).save(guide)
    r = Recipe.from_flat(mode="guide", guide=str(guide), guide_layer="conv2", **{**FAST, "octaves": 3, "iterations": 2})
    dream(photo, r, net=net)
    assert len(reads) == 1


def test_every_mode_has_an_objective_and_an_unknown_one_is_refused(net, tmp_path):
    from dreamer.recipe import MODES

    Image.new("RGB", (80, 80), (250, 10, 10)).save(tmp_path / "guide.png")
    made = {mode: objective_for(Recipe(mode=mode, classes={"1": 1.0}, guide=str(tmp_path / "guide.png")), net,
                                "conv2", 0, torch.device("cpu")).description.split("(")[0]
            for mode in MODES}
    assert made == {"lucid": "classes", "deepdream": "deepdream", "guide": "guide", "randomise": "randomise"}
    r = Recipe(classes={"goldfish": 1.0})
    object.__setattr__(r, "mode", "dance")  # past validation, as a hand-edited sidecar could be
    with pytest.raises(RecipeError, match="unknown mode 'dance'"):
        views_plan(r, net, 0, torch.device("cpu"))


def test_randomise_mode_pushes_its_seeded_random_classes(net, photo):
    r1 = Recipe.from_flat(mode="randomise", **ONE_OCTAVE)
    a, b = dream(photo, r1, net=net), dream(photo, r1, net=net)
    c = dream(photo, r1.replace(seed=2), net=net)
    assert np.array_equal(np.asarray(a), np.asarray(b))  # seeded
    assert not np.array_equal(np.asarray(a), np.asarray(c))  # another seed, other classes
    assert _score(net, r1, a) > _score(net, r1, photo)  # its own random target went up


def test_a_net_without_labels_or_a_default_layer_still_dreams_or_says_what_to_give(net):
    """An imported net may come with neither: randomise counts the classes from the net's
    output, and deepdream asks for a layer, naming the net's layers."""
    import dataclasses

    cpu = torch.device("cpu")
    unlabelled = dataclasses.replace(net, labels=None)
    assert views_plan(Recipe(mode="randomise"), unlabelled, 0, cpu).objective.layers == {"logits"}
    bare = dataclasses.replace(net, default_layer=None)
    with pytest.raises(RecipeError, match="deepdream needs a layer; model 'tiny' has: conv1, conv2, conv3, fc"):
        views_plan(Recipe(mode="deepdream"), bare, 0, cpu)



def test_a_net_without_labels_takes_class_ids_and_counts_its_classes_from_its_output(net):
    import dataclasses

    from dreamer.plan import resolve_classes

    unlabelled = dataclasses.replace(net, labels=None)
    assert resolve_classes(Recipe(classes={"3": 1.0, " 3": 0.5, "7": -1.0}), unlabelled) == {3: 1.5, 7: -1.0}
    with pytest.raises(RecipeError, match="model 'tiny' has no labels: give classes as ids, not 'goldfish'"):
        resolve_classes(Recipe(classes={"3": 1.0, "goldfish": 1.0}), unlabelled)
    # the class count is the last Linear layer's outputs, or ImageNet's 1000 where there is none
    ten = dataclasses.replace(unlabelled, module=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 10)))
    assert resolve_classes(Recipe(classes={"0": 1.0, "9": 1.0}), ten) == {0: 1.0, 9: 1.0}  # 0 is a class
    with pytest.raises(RecipeError, match=r"class id\(s\) \[10\] out of range 0..9 for model 'tiny'"):
        resolve_classes(Recipe(classes={"10": 1.0}), ten)
    conv = dataclasses.replace(unlabelled, module=torch.nn.Conv2d(3, 5, 1))
    assert resolve_classes(Recipe(classes={"999": 1.0}), conv) == {999: 1.0}
    with pytest.raises(RecipeError, match=r"out of range 0..999"):
        resolve_classes(Recipe(classes={"1000": 1.0}), conv)


@pytest.mark.parametrize("balance", [True, False])
def test_balance_classes_reaches_the_objective(net, balance):
    """With it, a hybrid's lagging class gets the bigger push (dreamer.objectives.class_logits)."""
    r = Recipe.from_flat(classes={"1": 1.0, "2": 1.0}, balance_classes=balance, hybrid="mix")
    objective = views_plan(r, net, 0, torch.device("cpu")).objective
    logits = torch.zeros(1, 1000)
    logits[0, 1], logits[0, 2] = 4.0, -4.0  # class 1 well ahead
    logits.requires_grad_(True)
    objective({"logits": logits}).sum().backward()
    push = logits.grad[0]
    assert (push[2] > 2 * push[1]) if balance else (push[2] == push[1])



def test_the_device_is_the_one_asked_for_or_a_clear_error():
    from dreamer.render import pick_device

    best = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device(None).type == pick_device("auto").type == best
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(RecipeError, match="unknown device 'tpu'; use cpu, cuda, cuda:N or auto"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RecipeError, match="device 'cuda:1' asked for, but this torch build sees no CUDA GPU"):
            pick_device("cuda:1")



def test_an_octaves_own_layer_wins_in_the_tiles_engine(net):
    cpu = torch.device("cpu")
    octaves = [Octave(0.5, 3, 0.3, 0.1, 1.5, 1, layer="conv1"), Octave(1.0, 3, 0.3, 0.1, 1.5, 1)]
    lucid = tiles_plan(Recipe.from_flat(classes={"1": 1.0}, octave_plan=octaves, **FAST), net, 0, cpu)
    assert [o.layers for o in lucid.objectives] == [{"conv1"}, {"logits"}]
    deep = tiles_plan(Recipe.from_flat(mode="deepdream", layer="conv3", octave_plan=octaves, **FAST), net, 0, cpu)
    assert [o.layers for o in deep.objectives] == [{"conv1"}, {"conv3"}]


def test_an_unseeded_dream_draws_a_seed_of_its_own(net, photo):
    r = Recipe.from_flat(classes={"1": 1.0}, **{**FAST, "octaves": 1, "iterations": 2, "seed": None})
    a, b = dream(photo, r, net=net), dream(photo, r, net=net)
    assert a.size == photo.size and not np.array_equal(np.asarray(a), np.asarray(b))



def test_the_recipes_weights_are_the_ones_dreamt_with(photo, tmp_path):
    from models.tiny import tiny

    torch.save(tiny(seed=5).module.state_dict(), tmp_path / "other.pt")
    r = Recipe.from_flat(model="tiny", classes={"1": 1.0}, **{**FAST, "octaves": 1, "iterations": 2})
    own, other = dream(photo, r, device="cpu"), dream(photo, r.replace(weights=str(tmp_path / "other.pt")), device="cpu")
    assert not np.array_equal(np.asarray(own), np.asarray(other))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_grey_transparent_and_palette_photos_are_dreamt_in_colour(net, photo, mode):
    r = Recipe.from_flat(classes={"1": 1.0}, **{**FAST, "octaves": 1, "iterations": 1})
    out = dream(photo.convert(mode), r, net=net)
    assert (out.mode, out.size) == ("RGB", photo.size)


def _smooth(h, w, phase=0.0):
    yy, xx = np.mgrid[0:h, 0:w] / 32.0
    rgb = np.stack([np.sin(yy + phase), np.cos(xx * 0.7 + phase), np.sin((xx + yy) * 0.5 + phase)], -1)
    return (rgb * 110 + 128).astype(np.uint8)


def _guide_features(net, path, **kw):
    r = Recipe.from_flat(mode="guide", guide=str(path), **kw)
    layer = r.guide_layer or r.layer or net.default_layer
    return layer, guide_activations(r, net, layer, torch.device("cpu"))


def test_the_guide_is_seen_at_its_centre_whole_on_its_short_side_at_any_size(net, tmp_path):
    wide, tall = _smooth(64, 96), _smooth(96, 64, phase=1.0)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    Image.fromarray(tall).save(tmp_path / "tall.png")
    Image.fromarray(wide).resize((192, 128), Image.NEAREST).save(tmp_path / "wide_x2.png")
    Image.fromarray(tall).resize((128, 192), Image.NEAREST).save(tmp_path / "tall_x2.png")
    with torch.no_grad(), capture(net, frozenset({"conv2"})) as run:
        centre = {"wide": run(to_tensor(Image.fromarray(wide[:, 16:80])))["conv2"],
                  "tall": run(to_tensor(Image.fromarray(tall[16:80])))["conv2"]}
    for name in ("wide", "tall"):
        layer, exact = _guide_features(net, tmp_path / f"{name}.png", guide_layer="conv2", tile_size=64)
        assert layer == "conv2" and torch.equal(exact, centre[name])
        # twice the size: shrunk to the tile on its short side first (resampling blurs it a little)
        _, shrunk = _guide_features(net, tmp_path / f"{name}_x2.png", guide_layer="conv2", tile_size=64)
        assert float((shrunk - centre[name]).norm() / centre[name].norm()) < 0.05
    # no guide layer: the dream's layer; no tile size (the views engine): the net's input size
    layer, features = _guide_features(net, tmp_path / "wide.png", layer="conv3")
    assert layer == "conv3" and features.shape[-1] == centre["wide"].shape[-1] // 2  # conv3 halves conv2


def test_per_octave_plan_and_progress(net, photo):
    plan = [Octave(0.5, 2, 0.5, 0.3, 2, 1), Octave(1.0, 3, 0.3, 0.1, 1.5, 1, layer="conv1")]
    events = []
    dream(photo, Recipe.from_flat(classes={"1": 1}, method="tiles", octave_plan=plan, tile_size=64), net=net, progress=events.append)
    assert [(e.octave, e.step) for e in events] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert events[-1].done == events[-1].total == 5
    assert events[0].image().size == photo.size


def test_unknown_class_is_a_clear_error(net, photo):
    with pytest.raises(ValueError, match="goldfish"):
        dream(photo, Recipe.from_flat(classes={"goldfsh": 1}, **FAST), net=net)


def test_lucid_without_classes_is_refused(net, photo):
    with pytest.raises(RecipeError, match="classes"):
        dream(photo, Recipe.from_flat(**FAST), net=net)


def test_large_photos_are_capped(net):
    img = Image.new("RGB", (400, 300), (10, 200, 30))
    out = dream(img, Recipe.from_flat(classes={"1": 1}, max_pixels=30_000, method="tiles", octaves=1, iterations=1, tile_size=64), net=net)
    assert 0.95 * 30_000 <= out.size[0] * out.size[1] <= 30_000  # shrunk to the cap, not below it
    assert abs(out.size[0] / out.size[1] - 4 / 3) < 0.02


def test_threads_asking_for_one_net_at_once_get_one_correctly_built_net():
    # A queue worker's threads (bot/render/batcher.py, EngineRenderer with workers > 1) load nets
    # concurrently; a seeded net built in several threads at once came out wrong.
    import threading

    from dreamer import render

    render._load_net.cache_clear()
    render._pair.cache_clear()  # its pairs hold the nets just dropped: a later test hooks the new ones
    start = threading.Barrier(6)
    got: list = []

    def load():
        start.wait()
        got.append(render.load_net("tiny", None, "cpu"))

    workers = [threading.Thread(target=load) for _ in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert len(got) == 6 and all(n is got[0] for n in got)
    alone = create_model("tiny").module.state_dict()
    for name, value in got[0].module.state_dict().items():
        assert torch.equal(value, alone[name]), name
