"""On a CPU the net takes a step's views a few at a time (dreamer.activations.net_chunk): less
memory held for the backward, the net's activations kept in the cache. The picture must be the
one a single pass over all the views makes."""
import numpy as np
import pytest
import torch
from PIL import Image

from dreamer import activations
from dreamer.activations import backward_in_chunks
from dreamer.recipe import Recipe
from dreamer.render import dream, dream_tensor
from dreamer.transform import to_bytes, to_tensor
from tests.test_render import net, photo  # noqa: F401 - the tiny random-weight net and its photo, shared

RECIPES = {
    "single": Recipe.from_flat(classes={"goldfish": 1.0}, steps=3, batch_size=5, seed=2),
    # a routed mutant: each view pushes one class, read from the rows of the batch's entries
    "pair": Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, steps=3, batch_size=5, seed=3),
    "split": Recipe.from_flat(classes={"goldfish": 1.0, "tench": 1.0}, hybrid="split", steps=3, batch_size=5,
                              seed=4),
}


def test_backward_in_chunks_is_the_gradient_of_one_pass():
    torch.manual_seed(0)
    weight = torch.randn(6, 3)
    x = torch.randn(4, 3, requires_grad=True)
    scale = torch.arange(1.0, 8.0)[:, None]  # each row's loss its own: a misplaced row shows

    def loss(views: torch.Tensor, rows: slice) -> torch.Tensor:
        return ((views @ weight.t()).tanh().sum(1) * scale[rows, 0]).sum()

    grads = []
    for chunk in (7, 3, 2, 1):
        batch = torch.cat([x, x[:3] * 2])  # 7 views made from x: the gradient goes on back to it
        backward_in_chunks(batch, loss, chunk)
        grads.append(x.grad.clone())
        x.grad = None
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0])
    assert grads[0].abs().sum() > 0


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_a_dream_a_few_views_at_a_time_is_the_dream_of_one_pass(net, photo, kind, monkeypatch):
    r = RECIPES[kind]
    chunked = dream_tensor(to_tensor(photo), r, net, r.seed)
    monkeypatch.setattr(activations, "CPU_CHUNK", 1000)
    whole = dream_tensor(to_tensor(photo), r, net, r.seed)
    # Rounding differs with the batch's size. Adam's first steps move a pixel by about the step
    # size whatever its gradient's size, so where a routed layer's gradient is nearly nil a
    # rounding can flip a pixel's first move: a few pixels move by a level of 8 bits.
    diff = (chunked - whole).abs()
    assert float(diff.mean()) < 1e-4 and float(diff.max()) < 0.01
    assert float((whole - to_tensor(photo)).abs().mean()) > 0.002  # and it was dreamt at all


def test_the_net_sees_a_few_views_at_a_time_on_a_cpu(net, photo, monkeypatch):
    rows = []
    handle = net.module.register_forward_pre_hook(
        lambda m, inp: rows.append(inp[0].shape[0]) if torch.is_grad_enabled() else None)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # a one-core machine: chunks of CPU_CHUNK
    try:
        dream(photo, RECIPES["single"], net=net)
    finally:
        handle.remove()
    assert rows == [2, 2, 1] * 3  # 5 views a step, 3 steps
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)  # one view per thread where more
    rows.clear()
    handle = net.module.register_forward_pre_hook(
        lambda m, inp: rows.append(inp[0].shape[0]) if torch.is_grad_enabled() else None)
    try:
        dream(photo, RECIPES["single"], net=net)
    finally:
        handle.remove()
    assert rows == [3, 2] * 3


def test_the_views_engine_dreams_a_uint8_photo_as_its_float(net, photo):
    r = RECIPES["pair"]
    a = dream_tensor(to_tensor(photo), r, net, r.seed)
    b = dream_tensor(to_bytes(photo), r, net, r.seed)
    assert torch.equal(a, b)
    assert to_bytes(photo).dtype == torch.uint8
    assert np.array_equal(np.asarray(Image.fromarray(np.asarray(photo))), to_bytes(photo)[0].permute(1, 2, 0).numpy())


def test_the_check_for_being_seen_looks_a_few_crops_at_a_time_and_answers_as_one_batch(net, photo, monkeypatch):
    from dreamer import seen
    picture = to_tensor(photo)
    with torch.no_grad():  # classes the tiny net ranks high somewhere, and some it never does
        ids = net.module(net.normalise(torch.nn.functional.interpolate(picture, size=(64, 64)))).topk(8).indices[0]
    ids = [int(i) for i in ids] + [999]
    rows = []
    handle = net.module.register_forward_pre_hook(lambda m, inp: rows.append(inp[0].shape[0]))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    try:
        chunked = seen.seen_shares(net, picture, ids, 4, seed=5)
        assert rows == [2] * 6  # 4 crops at each of 3 sizes, two at a time
        monkeypatch.setattr(activations, "CPU_CHUNK", 1000)
        rows.clear()
        whole = seen.seen_shares(net, picture, ids, 4, seed=5)
        assert rows == [12]
    finally:
        handle.remove()
    assert chunked == whole
    # the crops differ, so some class is seen in some crops and not others: the answer reads them all
    assert any(0 < v < 1 for v in whole.values())
