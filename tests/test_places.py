"""Where each class grew (dreamer.places, dreamer.places_measure): the rise of the dreaming net's
class evidence per cell of a 3x3 grid, and whether the net still finds the class on a degraded
view. A hand-set tiny net whose class evidence is known makes the places predictable; the tiny
random net checks the measurement end to end with the engine."""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from torch import nn

import dreamer
from dreamer.places import ClassPlace, Places, PlacesError, claim
from dreamer.places_measure import measure_places, part_boxes
from dreamer.recipe import Recipe
from models.base import DreamNet, freeze
from models.labels import imagenet

RED, FINE = 1, 2  # the hand-set net's classes: red areas, and fine green detail


def evidence_net() -> DreamNet:
    """Feature 0 is how red a place is (class RED), feature 1 how much fine green detail it has
    (class FINE: a Laplacian, which half size and a blur wipe out). Every other class has a small
    bias of 0.5-1 and no evidence, so RED and FINE lead where their feature is, and only there."""
    conv = nn.Conv2d(3, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.weight[1, 1] = torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    fc = nn.Linear(2, 1000)
    with torch.no_grad():
        fc.weight.zero_()
        fc.weight[RED, 0] = 10.0
        fc.weight[FINE, 1] = 10.0
        fc.bias.copy_(0.5 + 0.5 * torch.rand(1000, generator=torch.Generator().manual_seed(0)))
        fc.bias[RED] = fc.bias[FINE] = 0.0
    module = freeze(nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc))
    return DreamNet(name="evidence", module=module, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                    input_size=48, labels=imagenet())


def grey(size: int = 96) -> Image.Image:
    return Image.new("RGB", (size, size), (128, 128, 128))


def painted(cells: list[int], *, fine: bool = False, size: int = 96) -> Image.Image:
    """Grey with the given cells red (or, `fine`, a one-pixel green checkerboard)."""
    im = grey(size)
    px = im.load()
    third = size // 3
    for cell in cells:
        r, c = divmod(cell, 3)
        for y in range(r * third, (r + 1) * third):
            for x in range(c * third, (c + 1) * third):
                px[x, y] = ((0, 255, 0) if (x + y) % 2 else (128, 0, 128)) if fine else (255, 40, 40)
    return im


def lucid(*classes: int) -> Recipe:
    return Recipe(classes={str(c): 1.0 for c in classes}, seed=1)


def test_evidence_that_rose_in_the_top_left_is_placed_there():
    places = measure_places(grey(), painted([0]), lucid(RED), net=evidence_net(), device="cpu")
    [red] = places.classes
    assert red.class_id == RED and red.name == "goldfish"  # ImageNet's class 1
    assert max(range(9), key=lambda i: red.rise[i]) == 0
    assert red.rise[0] > 5 * max(red.rise[1:])
    assert red.seen[0] and not red.seen[8]  # found in the top left part, not in the bottom right
    c = claim(red)
    assert c.strength == "plain" and c.cells == (0,)


def test_a_class_along_the_bottom_row_takes_the_three_bottom_cells():
    places = measure_places(grey(), painted([6, 7, 8]), lucid(RED), net=evidence_net(), device="cpu")
    c = claim(places.classes[0])
    assert c.strength == "plain" and set(c.cells) == {6, 7, 8}


def test_no_rise_is_no_claim():
    # the dream is the photo: nothing grew, whatever the photo already shows
    places = measure_places(painted([4]), painted([4]), lucid(RED, FINE), net=evidence_net(), device="cpu")
    assert [p.class_id for p in places.classes] == [RED, FINE]
    assert all(max(abs(r) for r in p.rise) < 1e-4 for p in places.classes)
    assert [c.strength for c in places.claims()] == ["none", "none"]


def test_detail_the_degraded_view_wipes_out_is_only_faint():
    # fine green detail raises FINE's evidence in the top right, but half size and a blur wipe
    # it out: the net does not find it there on the degraded view, so it is not claimed plainly
    places = measure_places(grey(), painted([2], fine=True), lucid(FINE), net=evidence_net(), device="cpu")
    [fine] = places.classes
    assert max(range(9), key=lambda i: fine.rise[i]) == 2 and fine.rise[2] > 1
    assert not any(fine.seen)
    c = claim(fine)
    assert c.strength == "faint" and c.cells[0] == 2


def test_places_follow_the_recipe_order_and_skip_classes_pushed_away():
    recipe = Recipe(classes={str(FINE): 1.0, str(RED): 1.0, "3": -1.0}, seed=1)
    places = measure_places(grey(), painted([0]), recipe, net=evidence_net(), device="cpu")
    assert [p.class_id for p in places.classes] == [FINE, RED]


def test_the_dreaming_net_measures_its_own_dream():
    photo = grey(80)
    recipe = Recipe.from_flat(model="tiny", classes={"goldfish": 1.0, "stingray": 1.0}, steps=3, seed=3)
    dream = dreamer.dream(photo, recipe, device="cpu")
    places = measure_places(photo, dream, recipe, device="cpu")
    assert places.model == "tiny"
    assert [p.name for p in places.classes] == ["goldfish", "stingray"]
    for p in places.classes:
        assert len(p.rise) == 9 and all(math.isfinite(r) for r in p.rise) and len(p.seen) == 9
    assert any(abs(r) > 0 for p in places.classes for r in p.rise)  # the dream changed something
    # plain data only: what crosses to the bot and through a queue is JSON
    assert Places.from_dict(places.to_dict()) == places
    # a deepdream pushes no class: no places
    deep = Recipe.from_flat(model="tiny", mode="deepdream", layer="conv2", steps=1, seed=3)
    assert measure_places(photo, photo, deep, device="cpu") is None


def test_parts_cover_the_picture_with_their_cells_inside():
    boxes = part_boxes(90, 120)
    assert len(boxes) == 9
    for cell, (top, left, bottom, right) in enumerate(boxes):
        r, c = divmod(cell, 3)
        assert top <= r * 30 and bottom >= (r + 1) * 30 and left <= c * 40 and right >= (c + 1) * 40
        assert 0 <= top < bottom <= 90 and 0 <= left < right <= 120


@pytest.mark.parametrize("bad", [
    None, {"model": "x"}, {"model": "x", "classes": [{"class_id": 1}]},
    {"model": "x", "classes": [{"class_id": -1, "name": "a", "rise": [0] * 9, "seen": [True] * 9}]},
    {"model": "x", "classes": [{"class_id": 1, "name": "a", "rise": [0] * 8, "seen": [True] * 9}]},
    {"model": "x", "classes": [{"class_id": 1, "name": "a", "rise": [float("nan")] * 9, "seen": [True] * 9}]},
    {"model": "x", "classes": [{"class_id": 1, "name": "a", "rise": [0] * 9, "seen": [1] * 9}]},
    {"model": "x", "classes": [{"class_id": True, "name": "a", "rise": [0] * 9, "seen": [True] * 9}]},
])
def test_places_from_outside_are_checked(bad):
    with pytest.raises(PlacesError):
        Places.from_dict(bad)


def test_claims_name_only_cells_that_rose_clearly():
    rise = (27.0, 18.0, 3.0, 0.0, 15.0, 0.0, 0.0, 0.0, 0.6)
    c = claim(ClassPlace(5, "x", rise, (True,) * 9))
    assert c.cells == (0, 1)  # 15 is under 60 % of the peak
    c = claim(ClassPlace(5, "x", rise, (False, True) + (True,) * 7))
    assert c.strength == "plain" and c.cells == (1,)  # only where the net still finds it
    # a rise that a class not dreamt also reaches (sea texture raising a jellyfish) is no growth
    assert claim(ClassPlace(5, "x", (9.0,) * 9, (True,) * 9)).strength == "none"
