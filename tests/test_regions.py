"""Mutants in their places (dreamer.regions, objectives.placed_classes): each class of a hybrid
gets a region chosen from the photo, and is pushed there and not elsewhere."""
import random

import numpy as np
import torch
from PIL import Image

from dreamer.recipe import Recipe
from dreamer.regions import FLOOR, place_classes, share_out, view_masks
from dreamer.plan import views_plan
from dreamer.render import dream
from dreamer.render_views import draw, score, start
from dreamer.transform import View, to_tensor
from models.heads import class_heads
from tests.test_render import net  # noqa: F401 - the tiny random-weight net, shared

FAST = dict(steps=4, batch_size=4, seed=1, hybrid="regions")


def half_busy(width: int = 192, height: int = 128, busy_left: bool = True, seed: int = 0) -> Image.Image:
    """Noise on one half, flat grey on the other."""
    rng = np.random.default_rng(seed)
    a = np.full((height, width, 3), 128, np.uint8)
    noise = rng.integers(0, 256, (height, width // 2, 3), dtype=np.uint8)
    if busy_left:
        a[:, :width // 2] = noise
    else:
        a[:, width // 2:] = noise
    return Image.fromarray(a)


def half_logits(net, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """The net's logits for square crops of the left and of the right half, averaged."""
    x = to_tensor(image)
    h, w = x.shape[-2:]
    crops = {"left": [], "right": []}
    for side, x0 in (("left", 0), ("right", w // 2)):
        for top in range(0, h - w // 2 + 1, 8):
            crops[side].append(x[..., top:top + w // 2, x0:x0 + w // 2])
    with torch.no_grad():
        return tuple(net.module(net.normalise(torch.cat(crops[s]))).mean(0) for s in ("left", "right"))


def test_regions_follow_the_photo_the_busy_half_goes_to_the_class_the_net_sees_there(net):
    for busy_left in (True, False):
        image = half_busy(busy_left=busy_left)
        left, right = half_logits(net, image)
        rise = left - right  # how much more each class shows on the left
        ids = [int(rise.argmax()), int(rise.argmin())]  # one class of the left, one of the right
        for seed in (1, 2, 3):
            masks = place_classes(to_tensor(image), net, {ids[0]: 1.0, ids[1]: 1.0}, seed).masks
            half = masks.shape[-1] // 2
            lead_left = masks[0, :, :half].mean() - masks[0, :, half:].mean()
            assert lead_left > 0.4, (busy_left, seed, float(lead_left))
            assert torch.allclose(masks.sum(0), torch.ones_like(masks[0]), atol=1e-5)
            # the classes listed the other way round get the same places (a recipe read back)
            swapped = place_classes(to_tensor(image), net, {ids[1]: 1.0, ids[0]: 1.0}, seed).masks
            assert torch.allclose(swapped, masks.flip(0))


def test_each_class_gets_its_share_of_the_picture_and_a_floor_everywhere():
    score = torch.randn(3, 20, 30)
    masks = share_out(score, torch.tensor([1.0, 1.0, 2.0]))
    assert torch.allclose(masks.mean((1, 2)), torch.tensor([0.25, 0.25, 0.5]), atol=0.01)
    net_masks = place_classes(to_tensor(half_busy()), _headless(), {1: 1.0, 6: 1.0}, 4).masks
    assert float(net_masks.min()) >= FLOOR / 2 - 1e-6  # every class a little everywhere: soft seams


def _headless():
    """The tiny net seen as one whose class output cannot be mapped (no pooling head)."""
    from models import create_model

    class Mean(torch.nn.Module):  # global pooling the heads cannot recognise
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3), keepdim=True)

    n = create_model("tiny")
    n.module.pool = Mean()
    assert class_heads(n) == []
    return n


def test_a_view_sees_the_regions_turned_and_cropped_as_its_pixels(net):
    masks = torch.zeros(2, 32, 48)
    masks[0, :, :24], masks[1, :, 24:] = 1.0, 1.0  # class 0 on the left of the picture
    v = [View(cy=100, cx=75, side=100, angle=0.0), View(cy=100, cx=225, side=100, angle=0.0),
         View(cy=100, cx=150, side=150, angle=90.0)]
    m = view_masks(masks, v, (200, 300))
    assert float(m[0, 0].mean()) > 0.95 and float(m[1, 1].mean()) > 0.95
    # turned a quarter, the picture's left half lies along one edge of the view, not the other
    top, bottom = m[2, 0, :4].mean(), m[2, 0, -4:].mean()
    assert abs(float(top - bottom)) > 0.9


def test_each_class_paints_its_own_region_with_a_layer_of_its_own_and_gets_gradient(net):
    image = half_busy(seed=5)
    r = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, **FAST)
    d = start(to_tensor(image), views_plan(r, net, 1, torch.device("cpu")), net, 1)
    assert d.masks is not None and d.masks.shape[0] == 2
    (spectrum,) = d.p.tensors
    assert spectrum.shape[0] == 2  # one layer a class
    views, batch = draw(d)
    acts = {"logits": net.module(net.normalise(batch))}
    (-score(d, acts, views).mean()).backward()
    grad = spectrum.grad.flatten(1).abs().sum(1)
    assert (grad > 0).all(), grad  # both classes' layers are dreamt
    # a layer paints where its class's region is, and hardly where the other's is
    with torch.no_grad():
        spectrum.zero_()
        spectrum[0] = torch.randn_like(spectrum[0])
        detail = d.p.detail()[0].abs().mean(0)
        region = torch.nn.functional.interpolate(d.masks[None], size=detail.shape, mode="bilinear")[0, 0]
        mine, theirs = detail[region > 0.8].mean(), detail[region < 0.2].mean()
    assert mine > 4 * theirs, (float(mine), float(theirs))


def test_a_regions_hybrid_is_the_same_for_the_same_seed(net):
    image = half_busy(seed=5)
    r = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, **FAST)
    a, b = dream(image, r, net=net), dream(image, r, net=net)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(dream(image, r.replace(seed=2), net=net)))
    assert not np.array_equal(np.asarray(a), np.asarray(dream(image, r.replace(hybrid="mix"), net=net)))


def test_a_net_without_class_maps_still_dreams_regions_by_view():
    image = half_busy(seed=6)
    out = dream(image, Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, **FAST), net=_headless())
    assert np.abs(np.asarray(out, float) - np.asarray(image, float)).mean() > 0.1


def test_random_views_reach_both_regions():
    rng = random.Random(0)
    from dreamer.transform import random_views

    masks = torch.zeros(2, 32, 48)
    masks[0, :, :24], masks[1, :, 24:] = 1.0, 1.0
    m = view_masks(masks, random_views(200, 300, 64, (0.33, 1.0), 8.0, rng), (200, 300))
    lead = m.mean((2, 3)).argmax(1)
    assert 10 < int(lead.sum()) < 54


def test_another_thread_running_the_same_net_does_not_change_where_classes_are_seen(net):
    # Nets are shared: a dream in another thread (a queue worker's) runs the same net while a
    # picture's regions or places are read from its heads, and must not land in them.
    import threading

    from dreamer.regions import evidence

    heads = class_heads(net)
    photo = to_tensor(half_busy(seed=2))
    alone = evidence(photo, net, [1, 6], heads)
    other = torch.rand(4, 3, 96, 96)
    stop = threading.Event()

    def busy():
        with torch.no_grad():
            while not stop.is_set():
                net.module(net.normalise(other))

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(30):
            assert torch.allclose(evidence(photo, net, [1, 6], heads), alone, atol=1e-5)
    finally:
        stop.set()
        t.join()


def test_a_routed_view_reaches_only_the_layer_of_the_class_it_was_drawn_for(net):
    image = half_busy(seed=7)
    r = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, hybrid_routed=True, **{**FAST, "batch_size": 8})
    d = start(to_tensor(image), views_plan(r, net, 1, torch.device("cpu")), net, 1)
    (spectrum,) = d.p.tensors
    views, batch = draw(d)
    assert sorted(set(d.routes)) == [0, 1]  # this seed draws views for both classes
    acts = {"logits": net.module(net.normalise(batch))}
    values = score(d, acts, views)
    for c in (0, 1):
        spectrum.grad = None
        mine = [i for i, k in enumerate(d.routes) if k == c]
        values[mine].sum().backward(retain_graph=True)
        grad = spectrum.grad.flatten(1).abs().sum(1)
        assert grad[c] > 0 and grad[1 - c] == 0, (c, grad)
    # the routed pictures are the picture: the same pixels as the unrouted batch
    with torch.no_grad():
        from dreamer import param as prm
        from dreamer.transform import view_batch
        whole = view_batch(prm.compose(d.work, r.views.strength * d.p.detail()), views, d.size, r.views.view_samples)
    assert torch.allclose(batch, whole, atol=1e-6)


def test_routed_mutants_are_seeded_and_come_out_batched_as_alone(net):
    from dreamer.render_batch import dream_batch

    a, b = half_busy(seed=8), half_busy(busy_left=False, seed=9)
    ra = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, hybrid_routed=True, **FAST)
    rb = ra.replace(seed=5, classes={"tench": 1.0, "goldfish": 1.0, "7": 1.0})
    alone = [dream(a, ra, net=net), dream(b, rb, net=net)]
    assert np.array_equal(np.asarray(alone[0]), np.asarray(dream(a, ra, net=net)))
    assert not np.array_equal(np.asarray(alone[0]), np.asarray(dream(a, ra.replace(hybrid_routed=False), net=net)))
    for pic, own in zip(dream_batch([a, b], [ra, rb], net=net), alone):
        assert np.abs(np.asarray(pic, dtype=int) - np.asarray(own, dtype=int)).max() <= 1


def test_a_routed_mutant_is_the_same_whatever_order_its_classes_are_listed_in(net):
    """A sidecar's recipe may list the classes in another order: the views are routed alike."""
    image = half_busy(seed=10)
    r = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, hybrid_routed=True, **FAST)
    a = dream(image, r, net=net)
    b = dream(image, r.replace(classes={"stingray": 1.0, "goldfish": 1.0}), net=net)
    assert np.array_equal(np.asarray(a), np.asarray(b))
