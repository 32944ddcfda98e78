"""The default render loop (lucent's `render`): optimise a dreamt detail (dreamer.param) with Adam,
each step through a batch of random views of the whole picture (dreamer.transform).

Views are square crops of a third of the short side up to all of it, turned a little and
resampled to the net's input size: what grows must read at any size, place and angle, which is
what makes it visible to other nets and to people. View centres are spread evenly over the
picture and views hanging over a border see it reflected, so every pixel, edges and corners
included, is dreamt as much as the centre. The photo is worked on at up to `work_pixels`; the
detail is then enlarged onto the full-size photo, so a 12 MP photo costs what a 1 MP one does.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

import torch

from dreamer import objectives as obj
from dreamer import param as prm
from dreamer.activations import backward_in_chunks, net_chunk
from dreamer.plan import Placement, Plan
from dreamer.recipe import Recipe, ViewsSettings
from dreamer.regions import Regions, place_classes, view_shares
from dreamer.seen import seen_shares
from dreamer.transform import View, as_float, random_views, resize, to_image, view_batch
from models import DreamNet

ProgressCallback = Callable[[int, int, float, Callable[[], object]], None]


def working_size(height: int, width: int, max_pixels: int, min_side: int) -> tuple[int, int]:
    """The size the detail is optimised at: the photo's own, or smaller to fit max_pixels
    (never with a short side below the net's input)."""
    s = min(1.0, math.sqrt(max_pixels / (height * width)))
    s = max(s, min(1.0, min_side / min(height, width)))
    return max(1, round(height * s)), max(1, round(width * s))


def split_shares(k: int, n: int, rng: random.Random) -> torch.Tensor:
    """(n, k): each view leans to one class of a k-class hybrid, every class to n/k views of the
    batch, in a random order (a fixed order would tie classes to the views' strata: stripes)."""
    order = [i % k for i in range(n)]
    rng.shuffle(order)
    return torch.eye(k)[order]


@dataclass
class ViewDream:
    """One picture's dream in progress: its own detail, Adam state and view draws. A dream is a
    sequence of steps (`draw`, the net over the views, `score`, `apply`), so one picture can run
    alone (`dream_views`) or with others through one net batch (dreamer.render_batch)."""

    base: torch.Tensor
    plan: Plan
    work: torch.Tensor
    p: prm.Param
    opt: torch.optim.Optimizer
    rng: random.Random
    masks: torch.Tensor | None  # (k, gh, gw) a hybrid's regions (dreamer.regions), else None
    split: int  # a split hybrid's class count, else 0
    size: int  # the net's input side
    net: DreamNet  # for the checks whether every class is seen yet
    seed: int
    routes: list[int] | None = None  # a routed mutant's class for each of this step's views
    regions: Regions | None = None  # a hybrid's regions, which may grow (recipe.views.hybrid_grow)
    work_masks: torch.Tensor | None = None  # (k, h, w) the regions at the working size, as painted
    step: int = 0
    seen_at: int | None = None  # the step a check first found every class
    stopped: bool = False  # every class was seen before the cap (`stopped_at` says when)

    @property
    def recipe(self) -> Recipe:
        return self.plan.recipe

    @property
    def settings(self) -> ViewsSettings:
        return self.plan.recipe.views

    @property
    def objective(self) -> obj.Objective:
        return self.plan.objective

    @property
    def done(self) -> bool:
        return self.stopped or self.step >= self.settings.steps

    @property
    def stopped_at(self) -> int | None:
        return self.step if self.stopped else None


def start(base: torch.Tensor, plan: Plan, net: DreamNet, seed: int) -> ViewDream:
    """A dream of base (1, 3, H, W), float in [0, 1] or uint8, at step 0, as `plan` says."""
    recipe = plan.recipe
    height, width = base.shape[-2:]
    wh, ww = working_size(height, width, recipe.views.work_pixels, net.input_size)
    work = resize(as_float(base), (wh, ww))
    regions = plan.placement is Placement.REGIONS
    placed = place_classes(work, net, plan.placed, seed, recipe.views.hybrid_floor) if regions else None
    masks = placed.masks if placed is not None else None
    work_masks = resize(masks[None], (wh, ww))[0] if masks is not None else None
    p = plan.make_param(wh, ww, base.device, seed, len(plan.placed) if regions else 1)
    if work_masks is not None:  # each class paints its own region with a layer of its own
        p = prm.masked(p, work_masks)
    split = len(plan.placed) if plan.placement is Placement.SPLIT else 0
    return ViewDream(base, plan, work, p, plan.optimiser(p.tensors), random.Random(seed), masks, split,
                     net.input_size, net, seed, regions=placed, work_masks=work_masks)


def after_step(d: ViewDream) -> None:
    """Count the step just taken, and stop the dream if it is done before its cap: at the step
    its recipe recorded (a replay), or at DONE_AFTER_SEEN times the step at which a check first
    found every class.

    The check runs on the working picture (never the full-size one) every `stop_every` steps,
    with crops seeded by the dream's seed and step and no gradient: it changes nothing in the
    dream but a growing mutant's regions (views.hybrid_grow), which a replay checks for too, so
    a dream stopped at step n is the same picture as one told to stop there. A growing mutant
    that reaches its cap is checked once more (views.hybrid_grow_last): the last steps' lagging
    class gets its room before the picture is made."""
    d.step += 1
    r = d.settings
    growing = d.regions is not None and r.hybrid_grow > 1
    if d.step >= r.steps:
        if growing and r.hybrid_grow_last and d.seen_at is None:
            picture = _picture(d)
            _grow(d, _seen(d, picture), picture)
        return
    checking = d.plan.seen_classes and (r.stop_seen > 0 or growing) and d.step % r.stop_every == 0
    # a replay checks too while its regions may grow: the growth is part of the picture
    if checking and d.seen_at is None and (r.stopped_at is None or growing):
        picture = _picture(d)
        seen = _seen(d, picture)
        if r.stop_seen > 0 and min(seen.values()) >= r.stop_seen:
            d.seen_at = d.step
        elif growing:
            _grow(d, seen, picture)
    if r.stopped_at is not None:
        d.stopped = d.step >= r.stopped_at
    elif d.seen_at is not None:
        d.stopped = d.step >= DONE_AFTER_SEEN * d.seen_at


def _picture(d: ViewDream) -> torch.Tensor:
    """The working picture as dreamt so far."""
    with torch.no_grad():
        return prm.compose(d.work, d.settings.strength * d.p.detail())


def _seen(d: ViewDream, picture: torch.Tensor) -> dict[int, float]:
    return seen_shares(d.net, picture, d.plan.seen_classes, CHECK_CROPS, d.seed * 7919 + d.step)


def _grow(d: ViewDream, seen: dict[int, float], picture: torch.Tensor) -> None:
    if d.regions.grow(seen, d.settings.hybrid_grow):
        if d.settings.hybrid_follow:
            d.regions.follow(picture, d.net, d.seed)
        _repaint(d)


def _repaint(d: ViewDream) -> None:
    """The regions as they now are, for the views' routing and the layers' masks (in place: the
    masked detail reads them)."""
    d.masks = d.regions.masks
    d.work_masks.copy_(resize(d.masks[None], tuple(d.work_masks.shape[-2:]))[0])


# Crops per size in a check: 3 sizes x 8 = 24 forward passes every `stop_every` steps, a few
# per cent of the dream's time.
CHECK_CROPS = 8
# The dreaming net sees its class in every degraded crop well before the judge does: on four
# rows the judge's figure reached its cap's at about twice the step the net's check first passed
# (stopping two checks after it, the held-out hopper row lost a fifth of its figure; benchmarks/
# README.md, "Stop when the creature is there").
DONE_AFTER_SEEN = 2


def draw(d: ViewDream) -> tuple[list[View], torch.Tensor]:
    """This step's random views and the (n, 3, size, size) batch of them the net is to see."""
    r, v = d.recipe, d.settings
    wh, ww = d.work.shape[-2:]
    views = random_views(wh, ww, r.batch_size, (v.view_min, v.view_max), r.view_rotate, d.rng, v.view_coarsen)
    if d.masks is not None and d.plan.routed:
        return views, _routed_batch(d, views)
    return views, view_batch(prm.compose(d.work, v.strength * d.p.detail()), views, d.size, v.view_samples)


def _routed_batch(d: ViewDream, views: list[View]) -> torch.Tensor:
    """The views, each drawn for one class (by the squared share of it its regions cover) and
    seen in a picture whose gradient reaches only that class's layer: the same pixels, the
    other layers held fixed."""
    r = d.settings
    d.routes = _draw_routes(d, views)
    parts = d.p.parts()
    fixed = parts.detach()
    total = fixed.sum(0, keepdim=True)
    batches, order = [], []
    for c in sorted(set(d.routes)):
        idx = [i for i, k in enumerate(d.routes) if k == c]
        detail = total - fixed[c:c + 1] + parts[c:c + 1]
        batches.append(view_batch(prm.compose(d.work, r.strength * detail), [views[i] for i in idx], d.size,
                                  r.view_samples))
        order += idx
    back = torch.empty(len(order), dtype=torch.long)
    back[torch.tensor(order)] = torch.arange(len(order))
    return torch.cat(batches)[back.to(batches[0].device)]


def _draw_routes(d: ViewDream, views: list[View]) -> list[int]:
    """Each view's class (its index in the regions), drawn by the squared share of it the view
    covers."""
    shares = view_shares(d.masks, views, d.work.shape[-2:])
    # drawn in the order of the class ids: a recipe read back from a sidecar may list its
    # classes in another order, and must route (and so dream) alike
    ids = list(d.plan.placed)
    by_id = sorted(range(len(ids)), key=ids.__getitem__)
    return [by_id[d.rng.choices(range(len(ids)), weights=[float(row[i]) for i in by_id])[0]] for row in shares]


def entries(d: ViewDream, views: list[View]) -> dict[str, torch.Tensor]:
    """What the objective reads besides the net's activations, one row per view: a mutant's
    lean of each view to each class (dreamer.objectives.ROUTED or REGIONS)."""
    dev = d.base.device
    if d.routes is not None:
        return {obj.ROUTED: torch.eye(d.masks.shape[0])[d.routes].to(dev)}
    if d.masks is not None:
        return {obj.REGIONS: view_shares(d.masks, views, d.work.shape[-2:]).to(dev)}
    if d.split:
        return {obj.REGIONS: split_shares(d.split, len(views), d.rng).to(dev)}
    return {}


def score(d: ViewDream, acts: dict, views: list[View]) -> torch.Tensor:
    """The objective's value for each view, from the net's activations of this dream's views."""
    return d.objective({**acts, **entries(d, views)})


def ascend(dreams: list[ViewDream], drawn: list[tuple[list[View], torch.Tensor]],
           run: Callable[..., dict]) -> list[torch.Tensor]:
    """One step's gradient for each dream: backpropagate the mean of its objective over its own
    views (`drawn`, as `draw` made them) into its detail, every dream's views through the net as
    one batch taken a few views at a time (dreamer.activations.net_chunk). Returns each dream's
    value for each of its views. Each detail reaches only its own term, so a dream's gradient is
    what it would be alone; the dreams share their step (they started together: an ensemble's
    turn)."""
    batch = torch.cat([b for _, b in drawn]) if len(drawn) > 1 else drawn[0][1]
    spans, at = [], 0  # each dream's rows of the batch, and what its objective reads besides
    for d, (views, _) in zip(dreams, drawn):
        spans.append((d, at, at + len(views), entries(d, views)))
        at += len(views)
    values: list[list[torch.Tensor]] = [[] for _ in dreams]
    step = dreams[0].step

    def loss(x: torch.Tensor, rows: slice) -> torch.Tensor:
        acts = run(x, step)
        total = torch.zeros((), device=x.device)
        for i, (d, a, b, extra) in enumerate(spans):
            lo, hi = max(a, rows.start), min(b, rows.stop)
            if lo < hi:
                part = {name: t[lo - rows.start:hi - rows.start] for name, t in acts.items()}
                part.update({k: e[lo - a:hi - a] for k, e in extra.items()})
                v = d.objective(part)
                values[i].append(v.detach())
                total = total - v.sum() / (b - a)
        return total

    backward_in_chunks(batch, loss, net_chunk(batch))
    return [torch.cat(v) for v in values]


def finish(d: ViewDream) -> torch.Tensor:
    """The dream at base's size."""
    with torch.no_grad():
        return _full(d.base, d.settings.strength, d.p)


def dream_views(
    base: torch.Tensor,
    plan: Plan,
    net: DreamNet,
    run: Callable[[torch.Tensor], dict],
    seed: int,
    on_step: ProgressCallback | None = None,
) -> tuple[torch.Tensor, int | None]:
    """Dream over base (1, 3, H, W), float in [0, 1] or uint8, as `plan` says. Returns the dream at base's size
    and the step it stopped at before its cap (or None)."""
    strength, steps = plan.recipe.views.strength, plan.steps
    d = start(base, plan, net, seed)
    while not d.done:
        views, batch = draw(d)
        d.opt.zero_grad(set_to_none=True)
        values, = ascend([d], [(views, batch)], run)
        d.opt.step()
        after_step(d)
        if on_step is not None:
            s = float(values.detach().float().mean())
            on_step(d.step - 1, steps, s, lambda: to_image(_full(base, strength, d.p)))
    return finish(d), d.stopped_at


@torch.no_grad()
def _full(base: torch.Tensor, strength: float, p: prm.Param) -> torch.Tensor:
    # Enlarged and composed a band of rows at a time: one full-size buffer besides the photo.
    return prm.compose_full(base, strength * p.detail().detach())
