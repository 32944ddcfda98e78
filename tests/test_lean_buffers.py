"""The full-size steps done a band of rows at a time (picture in, detail laid over the photo,
picture out) and views sampled one at a time give the values the whole-tensor formulas gave."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dreamer import param as prm
from dreamer.transform import View, random_views, to_image, to_tensor, view_affines, view_batch


def test_to_tensor_and_to_image_are_the_plain_conversions():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (333, 517, 3), dtype=np.uint8))
    want = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    got = to_tensor(image)
    assert torch.equal(got, want) and got.is_contiguous()
    assert torch.equal(to_tensor(image.convert("L")), to_tensor(image.convert("L").convert("RGB")))
    x = torch.rand(1, 3, 333, 517) * 1.2 - 0.1  # out of range too: clipped
    plain = x[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(to_image(x)), plain)
    assert np.array_equal(np.asarray(to_image(x[0])), plain)


@pytest.mark.parametrize("detail_size", [(120, 170), (300, 417)])
@pytest.mark.parametrize("chunk", [1, 5000, 1 << 20])
def test_compose_full_is_compose_of_the_enlarged_detail(detail_size, chunk):
    g = torch.Generator().manual_seed(1)
    photo = torch.rand(1, 3, 300, 417, generator=g)
    detail = torch.randn(1, 3, *detail_size, generator=g) * 2
    enlarged = detail if detail_size == (300, 417) else F.interpolate(
        detail, size=(300, 417), mode="bicubic", align_corners=False)
    want = prm.compose(photo, enlarged).clamp(0, 1)
    got = prm.compose_full(photo, detail, chunk=chunk)
    assert torch.equal(got, want)
    assert torch.equal(photo, torch.rand(1, 3, 300, 417, generator=torch.Generator().manual_seed(1)))


def batched_views(x: torch.Tensor, views: list[View], size: int, k: int | None = None) -> torch.Tensor:
    """Every view at once from the full picture, sampled k-fold and averaged down by avg_pool2d
    (view_batch as it was, and with a big k a near-ideal box filter)."""
    theta = view_affines(views, tuple(x.shape[-2:])).to(x)
    k = k or max(1, min(4, round(max(v.side for v in views) / size)))
    grid = F.affine_grid(theta, [len(views), 3, size * k, size * k], align_corners=False)
    out = F.grid_sample(x.expand(len(views), -1, -1, -1), grid, mode="bilinear",
                        padding_mode="reflection", align_corners=False)
    return F.avg_pool2d(out, k) if k > 1 else out


def test_views_no_bigger_than_the_net_are_plain_bilinear_samples():
    rng = random.Random(2)
    x = torch.rand(1, 3, 200, 260, requires_grad=True)
    views = random_views(200, 260, 8, (0.2, 0.3), 10.0, rng, coarsen=0.0)  # sides 40-60 px: k = 1
    got, want = view_batch(x, views, 64), batched_views(x, views, 64)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    w = torch.randn_like(want)
    (g_got,) = torch.autograd.grad((got * w).sum(), x)
    (g_want,) = torch.autograd.grad((want * w).sum(), x)
    torch.testing.assert_close(g_got, g_want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [64, 32])  # views 2-3x the net's size; 4-6x: from the ½ level
def test_big_views_match_a_dense_box_filter_and_do_not_alias(size):
    # What the net sees must be the same place at the same sharpness as a view averaged from
    # 8x8 samples per pixel, and pixel noise must be averaged away, not aliased into the view.
    g = torch.Generator().manual_seed(3)
    smooth = F.interpolate(torch.rand(1, 3, 25, 33, generator=g), size=(200, 264), mode="bicubic",
                           align_corners=False)
    views = random_views(200, 264, 8, (0.7, 1.0), 10.0, random.Random(4), coarsen=0.0)
    assert min(v.side for v in views) > 2 * 64
    aliased = batched_views(smooth, views, size, k=1)  # shrunk by bilinear sampling alone
    dense = batched_views(smooth, views, size, k=8)
    assert float((view_batch(smooth, views, size) - dense).abs().mean()) < 0.4 * float((aliased - dense).abs().mean())
    noise = torch.rand(1, 3, 200, 264, generator=g)
    seen = float(view_batch(noise, views, size).std())
    assert seen < 0.5 * float(batched_views(noise, views, size, k=1).std())
    assert seen > 0.8 * float(batched_views(noise, views, size, k=8).std())  # not blurred away
