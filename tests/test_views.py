"""The default engine: a Fourier/decorrelated-colour detail over the photo, optimised through
random views (dreamer.param, dreamer.transform.random_views, dreamer.render_views)."""
import random

import numpy as np
import pytest
import torch
from PIL import Image

from dreamer import objectives as obj
from dreamer import param as prm
from dreamer.presets import preset
from dreamer.recipe import Recipe, RecipeError
from dreamer.render import dream
from dreamer.regions import share_out, tie_breaker
from dreamer.regions import view_shares
from dreamer.plan import adam
from dreamer.render_views import split_shares, working_size
from dreamer.transform import random_views, to_tensor, view_batch
from tests.test_render import net, photo  # noqa: F401 - the tiny net and test photo, shared

FAST = dict(steps=6, batch_size=4, seed=1)


# --- param -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fourier", "pixel"])
def test_zero_detail_gives_the_photo_back_exactly(photo, kind, net):
    p = prm.make(kind, 110, 150, std=0.01)
    with torch.no_grad():
        for t in p.tensors:
            t.zero_()
        x = to_tensor(photo)
        assert torch.equal(prm.compose(x, p.detail()), x)
    # and a dream of no steps is the photo, pixel for pixel
    out = dream(photo, Recipe.from_flat(classes={"goldfish": 1}, param=kind, steps=0, seed=1), net=net)
    assert np.array_equal(np.asarray(out), np.asarray(photo))


def test_compose_stays_in_range_and_dreams_over_black_and_white():
    photo = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)
    for d in (-50.0, -1.0, 1.0, 50.0):
        x = prm.compose(photo, torch.full_like(photo, d))
        assert float(x.min()) >= 0 and float(x.max()) <= 1
    detail = torch.zeros_like(photo, requires_grad=True)
    # a pure black pixel can be brightened and a pure white one darkened, at full speed
    (g,) = torch.autograd.grad(prm.compose(photo, detail)[0, 0, 0, 0], detail)
    assert g[0, 0, 0, 0] == pytest.approx(1.0)
    detail2 = torch.full_like(photo, -1e-3).requires_grad_(True)
    (g2,) = torch.autograd.grad(prm.compose(photo, detail2)[0, 2, 0, 0], detail2)
    assert g2[0, 2, 0, 0] == pytest.approx(1.0, abs=1e-3)


def _low_share(x: torch.Tensor) -> float:
    """Share of a picture's spectral energy below a tenth of the Nyquist frequency."""
    x = x.detach()
    f = torch.fft.rfft2(x - x.mean((-2, -1), keepdim=True)).abs() ** 2
    fy = torch.fft.fftfreq(x.shape[-2]).abs()[:, None]
    fx = torch.fft.rfftfreq(x.shape[-1])[None, :]
    low = (torch.sqrt(fx ** 2 + fy ** 2) < 0.05)
    return float(f[..., low].sum() / f.sum())


def test_fourier_detail_puts_its_energy_into_big_shapes_pixel_detail_does_not():
    with torch.no_grad():
        fourier = prm.make("fourier", 128, 160, std=0.01, seed=3).detail()
        pixel = prm.make("pixel", 128, 160, std=0.01, seed=3).detail()
    assert fourier.shape == pixel.shape == (1, 3, 128, 160)
    assert _low_share(fourier) > 0.3 > 0.05 > _low_share(pixel)


def test_fourier_colours_are_correlated_like_photos():
    with torch.no_grad():
        d = prm.make("fourier", 96, 96, std=0.01, seed=5).detail()[0].flatten(1)
    # decorrelated colour: the three channels of the detail move together, as in photos
    c = torch.corrcoef(d)
    assert float(c[0, 1]) > 0.5 and float(c[1, 2]) > 0.5


def _smooth(n: int) -> bool:
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def test_fft_length_is_the_next_length_with_only_small_prime_factors():
    for n in range(1, 3000):
        m = prm.fft_length(n)
        assert m >= n and _smooth(m) and not any(_smooth(k) for k in range(n, m)), n


def test_fourier_canvas_has_a_fast_length_and_keeps_its_margin(monkeypatch):
    # 872 rows + margins = 1090 = 2*5*109: a slow FFT; the canvas must grow to 1120
    sizes = []
    real = torch.fft.irfftn
    monkeypatch.setattr(torch.fft, "irfftn", lambda x, s, **kw: sizes.append(tuple(s)) or real(x, s=s, **kw))
    with torch.no_grad():
        d = prm.make("fourier", 872, 1000, std=0.01, seed=1).detail()
    assert d.shape == (1, 3, 872, 1000)
    assert sizes == [(1120, 1250)]


def test_a_mutants_fourier_layers_are_each_the_detail_their_spectrum_makes_alone():
    # A mutant's layers go through the inverse FFT one at a time (a speed change): each must be
    # exactly what its own spectrum makes as a one-layer detail, gradient included.
    many = prm.make("fourier", 90, 120, std=0.01, seed=2, layers=3)
    one = prm.make("fourier", 90, 120, std=0.0, seed=0)
    weights = torch.randn(3, 3, 90, 120, generator=torch.Generator().manual_seed(4))
    (many.detail() * weights).sum().backward()
    for i in range(3):
        with torch.no_grad():
            one.tensors[0].copy_(many.tensors[0][i:i + 1])
        one.tensors[0].grad = None
        alone = one.detail()
        (alone * weights[i:i + 1]).sum().backward()
        assert torch.equal(many.detail()[i:i + 1], alone)
        assert torch.equal(many.tensors[0].grad[i:i + 1], one.tensors[0].grad)


def test_the_detail_is_optimised_by_fused_adam_with_the_same_steps_as_plain_adam():
    # fused: one kernel for the spectrum's millions of values (a speed promise of issue 13)
    torch.manual_seed(0)
    a = torch.randn(3, 40, 21, 2, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    fused, plain = adam([a], 0.05), torch.optim.Adam([b], lr=0.05)
    assert fused.defaults["fused"] is True
    for i in range(5):
        g = torch.randn_like(a)
        a.grad, b.grad = g.clone(), g.clone()
        fused.step()
        plain.step()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# --- views cover every pixel evenly -----------------------------------------------------------
def coverage(height: int, width: int, steps: int, n: int, side=(0.33, 1.0), seed=0) -> torch.Tensor:
    """How much each pixel was seen, over many steps of views (the gradient of the views' sum)."""
    rng = random.Random(seed)
    total = torch.zeros(height, width)
    for _ in range(steps):
        x = torch.zeros(1, 3, height, width, requires_grad=True)
        views = random_views(height, width, n, side, 8.0, rng)
        (g,) = torch.autograd.grad(view_batch(x, views, 32).sum(), x)
        total += g[0, 0]
    return total


@pytest.mark.parametrize("size", [(60, 90), (90, 60), (64, 64)])
def test_views_cover_the_border_strip_as_much_as_the_centre(size):
    h, w = size
    cov = coverage(h, w, steps=150, n=8)
    sy, sx = round(0.08 * h), round(0.08 * w)
    strip = torch.cat([cov[:sy].flatten(), cov[-sy:].flatten(), cov[:, :sx].flatten(), cov[:, -sx:].flatten()])
    centre = cov[h // 4:-h // 4, w // 4:-w // 4]
    assert 0.8 < float(strip.mean() / centre.mean()) < 1.25
    assert float(cov.min()) > 0.4 * float(cov.mean())  # no corner left out


def test_views_have_the_net_size_and_the_asked_spread():
    rng = random.Random(1)
    views = random_views(300, 400, 8, (0.33, 1.0), 10.0, rng, coarsen=0.5)
    assert all(0.33 * 300 - 1e-6 <= v.side <= 300 + 1e-6 for v in views)
    assert all(abs(v.angle) <= 10 for v in views)
    assert sorted(int(v.cy // (300 / 8)) for v in views) == list(range(8))  # one per stratum
    assert any(v.resolution < 1 for v in views) and any(v.resolution == 1 for v in views)
    batch = view_batch(torch.rand(1, 3, 300, 400), views, 64)
    assert batch.shape == (8, 3, 64, 64)


def test_coarse_views_keep_shapes_and_lose_pixel_detail():
    # What grows must survive blur and downscaling (issue 11's judge, and a person's eye): a
    # coarse view of pixel noise keeps almost none of it, a coarse view of a smooth ramp all.
    from dreamer.transform import View

    noise = torch.rand(1, 3, 128, 128)
    ramp = torch.linspace(0, 1, 128).expand(1, 3, 128, 128).contiguous()
    sharp, coarse = (View(64, 64, 128, 0.0, r) for r in (1.0, 0.2))

    def detail(x):  # pixel-to-pixel variation
        return float(x.diff(dim=-1).abs().mean())

    assert detail(view_batch(noise, [coarse], 128)) < 0.25 * detail(view_batch(noise, [sharp], 128))
    assert torch.allclose(view_batch(ramp, [coarse], 128)[..., 8:-8, 8:-8], ramp[..., 8:-8, 8:-8], atol=0.02)


def test_half_the_views_are_coarsened_down_to_the_asked_resolution():
    views = random_views(300, 400, 400, (0.33, 1.0), 0.0, random.Random(3), coarsen=0.8)
    coarse = [v.resolution for v in views if v.resolution < 1]
    assert 150 <= len(coarse) <= 250
    assert min(coarse) >= 0.2 - 1e-9 and min(coarse) < 0.25  # reaches down to 1 - coarsen


def test_an_unturned_whole_view_shows_the_picture():
    x = torch.rand(1, 3, 64, 64)
    from dreamer.transform import View

    out = view_batch(x, [View(32, 32, 64, 0.0)], 64)
    assert torch.allclose(out, x, atol=1e-5)


# --- hybrids ---------------------------------------------------------------------------------
def test_balanced_hybrid_gives_every_class_gradient_the_lagging_one_most():
    objective = obj.class_logits({1: 1.0, 6: 1.0}, balance=True)
    logits = torch.zeros(2, 1000)
    logits[:, 1] = 8.0  # goldfish already shows, stingray does not
    logits.requires_grad_(True)
    (g,) = torch.autograd.grad(objective({"logits": logits}).sum(), logits)
    assert (g[:, 6] > g[:, 1]).all() and (g[:, 1] > 0).all()
    plain = obj.class_logits({1: 1.0, 6: 1.0}, balance=False)
    (g0,) = torch.autograd.grad(plain({"logits": logits}).sum(), logits)
    assert torch.allclose(g0[:, 1], g0[:, 6])


def test_each_view_leans_to_the_classes_whose_regions_it_covers():
    masks = share_out(tie_breaker(2, 20, 30, seed=4), torch.ones(2))
    views = random_views(200, 300, 64, (0.3, 0.3), 0.0, random.Random(0))
    shares = view_shares(masks, views, (200, 300))
    assert shares.shape == (64, 2) and torch.allclose(shares.sum(1), torch.ones(64))
    lead = shares.argmax(1)
    assert 0 < int(lead.sum()) < 64  # both classes lead somewhere
    objective = obj.class_logits({1: 1.0, 6: 1.0})
    logits = torch.zeros(64, 1000, requires_grad=True)
    (g,) = torch.autograd.grad(objective({"logits": logits, obj.REGIONS: shares}).sum(), logits)
    assert torch.equal(g[:, [1, 6]].argmax(1), lead)  # each view pushes its region's class hardest
    assert (g[:, [1, 6]] > 0).all()  # and the other a little


def test_split_hybrid_gives_each_class_half_the_views_in_a_random_order():
    rng = random.Random(3)
    orders = [split_shares(2, 8, rng) for _ in range(20)]
    assert all(torch.equal(o.sum(0), torch.tensor([4.0, 4.0])) for o in orders)
    assert len({tuple(o.argmax(1).tolist()) for o in orders}) > 5  # not tied to the views' strata
    objective = obj.class_logits({1: 1.0, 6: 1.0}, balance=True)
    logits = torch.zeros(8, 1000, requires_grad=True)
    (g,) = torch.autograd.grad(objective({"logits": logits, obj.REGIONS: orders[0]}).sum(), logits)
    assert torch.equal(g[:, [1, 6]].argmax(1), orders[0].argmax(1))


@pytest.mark.parametrize("hybrid", ["split", "mix", "regions"])
def test_every_hybrid_way_dreams_and_they_differ(net, photo, hybrid):
    r = Recipe.from_flat(classes={"goldfish": 1.0, "stingray": 1.0}, hybrid=hybrid, **FAST)
    out = np.asarray(dream(photo, r, net=net), float)
    assert np.abs(out - np.asarray(photo, float)).mean() > 0.2
    other = "mix" if hybrid != "mix" else "split"
    assert not np.array_equal(out, np.asarray(dream(photo, r.replace(hybrid=other), net=net), float))


# --- the loop --------------------------------------------------------------------------------
def test_same_seed_same_picture_other_seed_other_picture(net, photo):
    r = Recipe.from_flat(classes={"goldfish": 1.0}, **FAST)
    a, b = dream(photo, r, net=net), dream(photo, r, net=net)
    c = dream(photo, r.replace(seed=2), net=net)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def view_score(net, image: Image.Image, cls: int) -> float:
    views = random_views(image.height, image.width, 32, (0.33, 1.0), 8.0, random.Random(99))
    with torch.no_grad():
        return float(net.module(net.normalise(view_batch(to_tensor(image), views, net.input_size)))[:, cls].mean())


@pytest.mark.parametrize("kind", ["fourier", "pixel"])
@pytest.mark.parametrize("weight", [1.0, -1.0])
def test_dream_moves_the_signed_class_logit(net, photo, kind, weight):
    r = Recipe.from_flat(classes={"goldfish": weight}, param=kind, steps=40, strength=1.0, batch_size=8, seed=2)
    before = view_score(net, photo, 1)
    after = view_score(net, dream(photo, r, net=net), 1)
    assert (after - before) * weight > 0.01  # the tiny net's logits span only ~0.1


def test_edges_are_dreamt_like_the_centre(net):
    # mid-grey noise: every pixel has headroom both ways, so only coverage can make a difference
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(90, 166, (110, 150, 3), dtype=np.uint8))
    out = dream(photo, Recipe.from_flat(classes={"goldfish": 1.0}, steps=20, batch_size=8, seed=4), net=net)
    d = np.abs(np.asarray(out, float) - np.asarray(photo, float)).mean(2)
    h, w = d.shape
    strip = np.concatenate([d[:9].ravel(), d[-9:].ravel(), d[:, :12].ravel(), d[:, -12:].ravel()])
    assert strip.mean() > 0.7 * d[h // 4:-h // 4, w // 4:-w // 4].mean() > 0


def test_big_photos_are_worked_small_and_come_back_full_size(net):
    assert working_size(3000, 4000, 1_000_000, 224) == (866, 1155)
    assert working_size(100, 150, 1_000_000, 224) == (100, 150)
    assert working_size(300, 4000, 100_000, 224) == (224, 2987)  # short side kept at the net's
    big = Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 420, 3), dtype=np.uint8))
    out = dream(big, Recipe.from_flat(classes={"goldfish": 1.0}, steps=2, work_pixels=20_000, seed=1), net=net)
    assert out.size == big.size


def test_progress_reports_every_step_with_a_picture(net, photo):
    seen = []
    dream(photo, Recipe.from_flat(classes={"1": 1.0}, **FAST), net=net, progress=seen.append)
    assert [p.step for p in seen] == list(range(6)) and seen[-1].done == seen[-1].total == 6
    assert seen[-1].image().size == photo.size


@pytest.mark.parametrize("classes, extra, upto, steps", [
    ({"1": 1.0}, 0.5, 1, 6),                          # one class: the steps asked
    ({"1": 1.0, "2": 1.0}, 0.5, 1, 9),                # a hybrid: half as many again
    ({"1": 1.0, "2": 1.0, "3": 1.0}, 0.5, 1, 9),      # a triple: as many as a pair (the default)
    ({"1": 1.0, "2": 1.0, "3": 1.0}, 0.5, 2, 12),     # ... or half as many again per extra class
    ({"1": 1.0, "2": 1.0, "3": 1.0}, 0.5, 0, 6),
    ({"1": 1.0, "2": -1.0}, 0.5, 1, 6),               # a class pushed away is no creature to grow
    ({"1": 1.0, "2": 0.0}, 0.5, 1, 6),                # nor is one weighted 0
    ({"1": 1.0, "2": 1.0}, 0.0, 1, 6),
])
def test_hybrids_get_more_steps_per_class(net, photo, classes, extra, upto, steps):
    seen = []
    recipe = Recipe.from_flat(classes=classes, hybrid_steps=extra, hybrid_steps_classes=upto, **FAST)
    dream(photo, recipe, net=net, progress=seen.append)
    assert len(seen) == seen[-1].total == steps


def test_a_triple_recorded_before_hybrid_steps_classes_replays_with_its_steps(net, photo):
    # Its recipe holds every key of its day but this one: each extra class added steps then.
    recorded = {k: v for k, v in Recipe.from_flat(classes={"1": 1.0, "2": 1.0, "3": 1.0}, hybrid_steps=0.5,
                                                  **FAST).to_dict().items() if k != "hybrid_steps_classes"}
    recipe = Recipe.from_dict(recorded)
    assert recipe.views.hybrid_steps_classes == 99
    seen = []
    dream(photo, recipe, net=net, progress=seen.append)
    assert len(seen) == seen[-1].total == 12


@pytest.mark.parametrize("mode", ["deepdream", "randomise"])
def test_other_modes_run_through_views(net, photo, mode):
    r = Recipe.from_flat(mode=mode, layer="conv2" if mode == "deepdream" else None, **FAST)
    out = dream(photo, r, net=net)
    assert np.abs(np.asarray(out, float) - np.asarray(photo, float)).mean() > 0.2



def test_guide_mode_runs_through_views(net, photo, tmp_path):
    guide = tmp_path / "guide.png"
    Image.new("RGB", (80, 80), (250, 10, 10)).save(guide)
    out = dream(photo, Recipe.from_flat(mode="guide", guide=str(guide), guide_layer="conv2", **FAST), net=net)
    assert np.abs(np.asarray(out, float) - np.asarray(photo, float)).mean() > 0.2


# --- recipes and presets ----------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [("method", "spiral"), ("param", "wavelet"), ("steps", -1),
                                        ("learning_rate", 0), ("view_min", 2.0), ("view_coarsen", 1.0),
                                        ("hybrid", "stripes"), ("work_pixels", 10), ("strength", -1),
                                        ("hybrid_steps", -0.5), ("hybrid_steps", "lots"),
                                        ("hybrid_steps_classes", -1), ("hybrid_steps_classes", 1.5),
                                        ("hybrid_steps_classes", 100)])
def test_new_fields_are_validated_by_name(key, value):
    with pytest.raises(RecipeError, match=key):
        Recipe.from_flat(**{key: value})


def test_classic_preset_is_the_tiles_engine(net, photo):
    classic = preset("classic", classes={"goldfish": 1.0}, octaves=1, iterations=2, tile_size=64, seed=1)
    assert classic.method == "tiles"
    tiles = Recipe.from_flat(classes={"goldfish": 1.0}, method="tiles", octaves=1, iterations=2, tile_size=64, seed=1)
    assert np.array_equal(np.asarray(dream(photo, classic, net=net)), np.asarray(dream(photo, tiles, net=net)))
    views = dream(photo, Recipe.from_flat(classes={"goldfish": 1.0}, **FAST), net=net)
    assert not np.array_equal(np.asarray(views), np.asarray(dream(photo, tiles, net=net)))
