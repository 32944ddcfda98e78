import math

import torch

from dreamer.transform import gaussian_blur, laplacian_normalise, linear, resize, zoom_rotate


def band_energy(g, size):
    lo = resize(resize(g, size), g.shape[-2:])
    return (g - lo).pow(2).mean().item(), lo.pow(2).mean().item()


def test_laplacian_normalise_evens_out_frequency_bands():
    torch.manual_seed(0)
    h = w = 128
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coarse = 0.01 * torch.sin(2 * math.pi * xx / 64.0)  # weak large shapes
    fine = torch.randn(h, w)  # strong pixel noise
    g = (coarse + fine).expand(1, 3, h, w).contiguous()
    fine_before, coarse_before = band_energy(g, (16, 16))
    out = laplacian_normalise(g)
    fine_after, coarse_after = band_energy(out, (16, 16))
    assert coarse_after / fine_after > 20 * coarse_before / fine_before


def test_blur_keeps_flat_pictures_flat_and_softens_edges():
    flat = torch.full((1, 3, 40, 50), 0.3)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat, atol=1e-6)  # no dark frame from padding
    edge = torch.zeros(1, 3, 40, 50)
    edge[..., 25:] = 1
    b = gaussian_blur(edge, 1.5)
    assert 0 < b[0, 0, 20, 24] < 1 and b[0, 0, 20, 0] < 1e-4


def _spot_offset(x: torch.Tensor) -> tuple[float, float]:
    """Where the bright spot of x (1, 1, H, W) sits, relative to the picture's centre."""
    h, w = x.shape[-2:]
    m = x[0, 0].clamp_min(0)
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return float((m * ys).sum() / m.sum()) - h / 2, float((m * xs).sum() / m.sum()) - w / 2


def test_zoom_rotate_identity_and_zoom():
    x = torch.rand(1, 3, 30, 40)
    assert torch.equal(zoom_rotate(x, 1.0, 0.0), x)
    spot = torch.zeros(1, 1, 60, 80)
    spot[..., 33:37, 45:49] = 1.0  # 5 below and 7 right of the centre (30, 40)
    dy, dx = _spot_offset(spot)
    zy, zx = _spot_offset(zoom_rotate(spot, 2.0, 0.0))  # into the centre: twice as far out
    assert abs(zy - 2 * dy) < 0.5 and abs(zx - 2 * dx) < 0.5
    ry, rx = _spot_offset(zoom_rotate(spot, 1.0, 90.0))  # a quarter turn: as far, at right angles
    assert abs(ry * dy + rx * dx) < 2.0 and abs(math.hypot(ry, rx) - math.hypot(dy, dx)) < 0.5


def test_linear_schedule():
    assert [linear(2, 1, i, 3) for i in range(3)] == [2, 1.5, 1]
    assert linear(5, 1, 0, 1) == 5
