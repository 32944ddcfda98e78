"""Candidates for mutants not (yet) in the engine, patched in for one run of
benchmarks/mutant_curves.py (`--candidate NAME`). Each takes the run's nets ("lite0", "lite1")
and patches dreamer's modules in place; what each did on held-out rows is in
benchmarks/README.md."""
from __future__ import annotations


def _check_with_lite1(nets: dict) -> None:
    """The checks that grow a lagging class look with Lite1, a net that did not dream (its own
    adversarial detail fools the dreaming net's check: the banana on the wine photo, Lite0 79 %
    of its crops, the judge 23 %, Lite1 21 %)."""
    from dreamer import render_views as rv
    from dreamer.seen import seen_shares

    def seen(d, picture):
        return seen_shares(nets["lite1"], picture, d.plan.seen_classes, rv.CHECK_CROPS, d.seed * 7919 + d.step)
    rv._seen = seen


def _objects_get_room(nets: dict) -> None:
    """A thing (ImageNet's classes from 398 on: foods, objects, plants, places) starts with twice
    an animal's area: in 9 of 12 pairs of an animal and a thing the thing was the weaker class."""
    from dreamer import regions, render_views as rv
    real = regions.place_classes

    def place(photo, net, classes, seed, floor=regions.FLOOR):
        return real(photo, net, {i: w * (2.0 if i >= 398 else 1.0) for i, w in classes.items()}, seed, floor)
    rv.place_classes = place


def _growth_settles(nets: dict) -> None:
    """Growth that settles: each time the lagging classes differ from those grown last, the
    factor is square-rooted for the rest of the dream (a bisection of the split), so two classes
    that take turns at lagging trade less and less area; one that keeps lagging keeps growing."""
    from dreamer import regions

    def grow(self, seen, factor):
        best = max(seen.values())
        lagging = tuple(k for k, i in enumerate(self.ids) if seen[i] < regions.LAGGING * best)
        if not lagging:
            return False
        last = getattr(self, "last_grown", ())
        self.halvings = getattr(self, "halvings", 0) + bool(last and lagging != last)
        self.last_grown = lagging
        for k in lagging:
            self.areas[k] *= factor ** (0.5 ** self.halvings)
        return True
    regions.Regions.grow = grow


def _growth_waits(nets: dict) -> None:
    """No growth before step 48 (a third of a pair's steps): on 17 of 20 pairs that grew, the
    first growth came at step 16, decided on a few crops of a picture barely dreamt (the fig's
    pufferfish took the plate the evidence had given the broccoli)."""
    from dreamer import render_views as rv
    real = rv._grow

    def grow(d, seen, picture):
        if d.step >= 48:
            real(d, seen, picture)
    rv._grow = grow


def _top5(nets: dict) -> None:
    """A mutant's views also push each class into the net's top five: a class counts less the
    softplus of its gap to the non-target logit it must beat (the (6 - k)-th largest other class
    for k classes), weighted by the view's lean to it. The judge's crops hold all the creatures
    at once and rank poster classes ("comic book") over the weakest; a logit alone does not ask
    to beat them. Weight from LUCID_TOP5 (default 1)."""
    import os
    import torch
    import torch.nn.functional as F
    from dreamer import objectives as obj
    real = obj.class_logits
    weight = float(os.environ.get("LUCID_TOP5", "1"))

    def class_logits(weights, *args, **kwargs):
        base = real(weights, *args, **kwargs)
        positive = [i for i, w in weights.items() if w > 0]
        if len(positive) < 2:
            return base
        ids = torch.tensor(positive)
        rank = 5 - len(positive)  # index of the other class each target must beat, from 0

        def fn(acts):
            value = base.fn(acts)
            shares = acts.get(obj.REGIONS)
            if shares is None:
                return value
            logits = acts["logits"].float()
            ids_d = ids.to(logits.device)
            others = logits.clone()
            others[:, ids_d] = float("-inf")
            bar = others.topk(rank + 1, dim=1).values[:, rank]  # (n,)
            gap = logits[:, ids_d] - bar[:, None]
            lean = shares.to(logits.device)  # columns: the positive classes in order
            return value - weight * (lean * F.softplus(-gap)).sum(1)
        return obj.Objective(fn, base.layers, base.description + f", top5 {weight:g}")
    obj.class_logits = class_logits


def _tiles(gh: int, gw: int) -> tuple[int, int]:
    """How many tiles of about LUCID_SPREAD_TILE (default 0.6) of the short side a grid holds."""
    import os

    side = float(os.environ.get("LUCID_SPREAD_TILE", "0.6")) * min(gh, gw)
    return max(1, round(gh / side)), max(1, round(gw / side))


def _spread(nets: dict) -> None:
    """Each class is given its share of every part of the picture, not only of the whole: the
    picture is cut into tiles of about LUCID_SPREAD_TILE (default 0.6) of its short side, and
    the balanced softmax's offsets are found per tile (bilinearly between tile centres, so no
    seam follows a tile's edge). The judge's crops hold a half to two thirds of the picture; a
    class whose creatures all formed in one corner is missing from most of them (the locomotive
    in summer_1am's top left)."""
    import torch
    import torch.nn.functional as F
    from dreamer import regions

    def share_out(score, areas, temperature=regions.TEMPERATURE, iterations=50):
        k, gh, gw = score.shape
        ny, nx = _tiles(gh, gw)
        logits = score / temperature
        target = (areas / areas.sum()).log().view(-1, 1, 1)
        offset = torch.zeros((1, k, ny, nx), dtype=score.dtype, device=score.device)

        def field(o):
            return F.interpolate(o, size=(gh, gw), mode="bilinear", align_corners=False)[0]
        for _ in range(iterations):
            masks = torch.softmax(logits + field(offset), dim=0)
            per_tile = F.adaptive_avg_pool2d(masks[None], (ny, nx))
            offset += target[None] - per_tile.clamp_min(1e-12).log()
        return torch.softmax(logits + field(offset), dim=0)
    regions.share_out = share_out


def _spread_min(nets: dict) -> None:
    """`spread` as a floor, not an equal split: in every tile each class keeps at least
    LUCID_SPREAD_MIN (default 0.5) of its share of the whole picture, and above that follows the
    photo's evidence as before, so a busy half still goes mostly to the class seen there. The
    same arithmetic as the engine setting `hybrid_spread` that session 19 built, ran on
    quality_fresh3.py's triples at 1.0 and 0.5, and took out again (it lost)."""
    import os
    import torch
    import torch.nn.functional as F
    from dreamer import regions
    least = float(os.environ.get("LUCID_SPREAD_MIN", "0.5"))

    def share_out(score, areas, temperature=regions.TEMPERATURE, iterations=50):
        k, gh, gw = score.shape
        ny, nx = _tiles(gh, gw)
        logits = score / temperature
        share = areas / areas.sum()
        target = share.log().view(-1, 1, 1)
        floor = (least * share).log().view(1, -1, 1, 1)
        glob = torch.zeros_like(target)
        local = torch.zeros((1, k, ny, nx), dtype=score.dtype, device=score.device)

        def masks_now():
            field = F.interpolate(local, size=(gh, gw), mode="bilinear", align_corners=False)[0]
            return torch.softmax(logits + glob + field, dim=0)
        for _ in range(iterations):
            per_tile = F.adaptive_avg_pool2d(masks_now()[None], (ny, nx))
            local = (local + floor - per_tile.clamp_min(1e-12).log()).clamp_min(0)
            glob += target - masks_now().mean((1, 2), keepdim=True).clamp_min(1e-12).log()
        return masks_now()
    regions.share_out = share_out


def _route_lagging(nets: dict) -> None:
    """Steps go where a class is missing: at each check for being seen, a class found in fewer
    crops than the best-seen one has its views' routing weight multiplied by (best + 0.1) /
    (seen + 0.1), at most LUCID_ROUTE_MAX (default 4), until the next check. A triple's weakest
    class was still climbing at the cap, each class getting about a third of the views; the
    regions' growth gives a lagging class room, this gives it the steps. (The weights are the
    routing's own shares, scaled in float32: session 20's runs scaled them in float64.)"""
    import os
    import torch
    from dreamer import render_views as rv
    top = float(os.environ.get("LUCID_ROUTE_MAX", "4"))
    real_seen, real_draw, real_shares = rv._seen, rv.draw, rv.view_shares
    drawing: list = []  # the dream whose views are being drawn

    def seen(d, picture):
        shares = real_seen(d, picture)
        best = max(shares.values())
        d.route_boost = {i: min(top, (best + 0.1) / (s + 0.1)) for i, s in shares.items()}
        return shares

    def draw(d):
        drawing[:] = [d]
        return real_draw(d)

    def view_shares(masks, views, full):  # the routing's shares, each class's scaled by its boost
        shares = real_shares(masks, views, full)
        boost = getattr(drawing[0], "route_boost", None) if drawing else None
        if not boost:
            return shares
        scale = torch.tensor([boost.get(i, 1.0) for i in drawing[0].plan.placed], dtype=shares.dtype)
        return shares * scale.to(shares.device)
    rv._seen, rv.draw, rv.view_shares = seen, draw, view_shares


def _gain_lagging(nets: dict) -> None:
    """A lagging class's paint grows louder: at each check for being seen, a class the dreaming
    net finds in fewer than half as many crops as the best-seen one (the growth's test) has its
    layer's gain multiplied by LUCID_GAIN_STEP (default 1.25), up to LUCID_GAIN_MAX (default 2).
    Adam gives every coefficient a step of about the same size however few views a class is
    routed, so more views (route_lagging) move a lagging class no faster; a gain does: its
    detail's amplitude, and with it each step's change, grow by that factor."""
    import os
    import torch
    from dreamer import param as prm
    from dreamer import render_views as rv
    step, top = float(os.environ.get("LUCID_GAIN_STEP", "1.25")), float(os.environ.get("LUCID_GAIN_MAX", "2"))
    real_start, real_seen = rv.start, rv._seen

    def start(base, plan, net, seed):
        d = real_start(base, plan, net, seed)
        if d.work_masks is None:
            return d
        gain = torch.ones(len(plan.placed), 1, 1, 1)
        inner = d.p.parts

        def parts():
            return inner() * gain

        d.p = prm.Param(d.p.tensors, lambda: parts().sum(0, keepdim=True), d.p.kind, parts)
        d.gain = gain
        return d

    def seen(d, picture):
        shares = real_seen(d, picture)
        gain = getattr(d, "gain", None)
        if gain is not None:
            best = max(shares.values())
            for i, cid in enumerate(d.plan.placed):
                if shares[cid] < best / 2:
                    gain[i] = min(top, float(gain[i]) * step)
        return shares
    rv.start, rv._seen = start, seen


def _coarse_share(nets: dict) -> None:
    """More of a mutant's views seen coarse: LUCID_COARSE_SHARE of them (default 3/4, against
    half) resampled down to between 1 and 1 - view_coarsen of the net's resolution. Coarse views
    were the largest gain the hybrids ever had (view_coarsen 0.5 -> 0.9: the weaker class 26 -> 33 %
    held out, session 4): a class has to grow shapes that survive what the judge's blur, half
    size and JPEG wipe out, and things (espresso, pretzel, lemon) are shapes."""
    import math
    import os
    from dreamer import render_views as rv
    from dreamer.transform import View
    share = float(os.environ.get("LUCID_COARSE_SHARE", "0.75"))

    def random_views(height, width, n, side_range, rotate, rng, coarsen=0.0):
        short = min(height, width)
        lo, hi = math.log(side_range[0]), math.log(side_range[1])
        ys = [(i + rng.random()) / n * height for i in range(n)]
        xs = [(i + rng.random()) / n * width for i in range(n)]
        rng.shuffle(xs)
        coarse = round(share * n)
        return [View(y, x, short * math.exp(rng.uniform(lo, hi)), rng.uniform(-rotate, rotate),
                     1.0 - coarsen * rng.random() if i < coarse else 1.0)
                for i, (y, x) in enumerate(zip(ys, xs))]
    rv.random_views = random_views


def _joint_big(nets: dict) -> None:
    """Big views ask for every class at once. A routed view pushes one class, drawn by the
    squared share of it the view covers, so a view of most of the picture almost never pushes
    the class with the smallest region, and nothing asks the whole picture to read as all its
    creatures together: the judge's half-size crops, which hold most of the picture, miss the
    weakest class while its full-size crops find it. Here a view whose side is at least
    LUCID_JOINT (default 0.75) of the short side is seen with every layer live and pushes every
    class, weighted by the objective's softmin of their logits in that view (the class lagging
    there gets most of the push, as `balance` does for unplaced mutants)."""
    import os
    import torch
    from dreamer import objectives as obj
    from dreamer import param as prm
    from dreamer import render_views as rv
    from dreamer.transform import view_batch
    joint = float(os.environ.get("LUCID_JOINT", "0.75"))
    temperature = 0.7
    real_logits = obj.class_logits

    def routed_batch(d, views):
        r = d.settings
        short = min(d.work.shape[-2:])
        # (session 22's run drew no route for a big view; a route drawn and then dropped
        # changes the random draws that follow, not what the candidate does)
        d.routes = [-1 if v.side >= joint * short else c for v, c in zip(views, rv._draw_routes(d, views))]
        parts = d.p.parts()
        fixed = parts.detach()
        total = fixed.sum(0, keepdim=True)
        batches, order = [], []
        for c in sorted(set(d.routes)):
            idx = [i for i, k in enumerate(d.routes) if k == c]
            detail = parts.sum(0, keepdim=True) if c < 0 else total - fixed[c:c + 1] + parts[c:c + 1]
            batches.append(view_batch(prm.compose(d.work, r.strength * detail), [views[i] for i in idx], d.size,
                                      r.view_samples))
            order += idx
        back = torch.empty(len(order), dtype=torch.long)
        back[torch.tensor(order)] = torch.arange(len(order))
        return torch.cat(batches)[back.to(batches[0].device)]

    real_entries = rv.entries

    def entries(d, views):
        if d.routes is None or min(d.routes) >= 0:
            return real_entries(d, views)
        k = d.masks.shape[0]
        rows = torch.zeros(len(d.routes), k)
        for i, c in enumerate(d.routes):
            if c < 0:
                rows[i] = 1.0 / k  # a joint view: the objective leans it from the logits
            else:
                rows[i, c] = 1.0
        return {obj.ROUTED: rows.to(d.base.device)}

    def class_logits(weights, *args, **kwargs):
        base = real_logits(weights, *args, **kwargs)
        positive = [i for i, w in weights.items() if w > 0]
        if len(positive) < 2:
            return base
        ids = torch.tensor(positive)
        w = torch.tensor([weights[i] for i in positive])

        def fn(acts):
            routed = acts.get(obj.ROUTED)
            if routed is None:
                return base.fn(acts)
            together = routed.max(1).values < 1
            if not bool(together.any()):
                return base.fn(acts)
            z = acts["logits"].detach().float()[:, ids.to(routed.device)] / w.to(routed.device)
            lean = torch.softmax(-z / temperature, dim=1)
            rows = torch.where(together[:, None], lean.to(routed.dtype), routed)
            return base.fn({**acts, obj.ROUTED: rows})
        return obj.Objective(fn, base.layers, base.description + f", joint {joint:g}")

    rv._routed_batch = routed_batch
    rv.entries = entries
    obj.class_logits = class_logits


def _photo_rivals(nets: dict) -> None:
    """Each class pushed against what the photo itself reads as. Where the judge misses a
    triple's weakest class where it is painted, the five places are mostly held by the photo's
    own classes (worm fence, plate, lakeside, earthstar on moss) and the other creatures
    (benchmarks/mutant_crowding.py), not by the class's own look-alikes, which `rivals` is
    about. So the rivals here are the LUCID_PHOTO_RIVALS_COUNT (default 5) classes the dreaming
    net ranks highest on the untouched photo (its degraded crops, as a check takes them), the
    mutant's own classes left out, at LUCID_PHOTO_RIVALS (default 0.5) of their logsumexp.
    LUCID_PHOTO_RIVALS_KIN=1 leaves out the targets' 10 nearest classes too."""
    import dataclasses
    import os
    import sys

    import torch

    from dreamer import objectives as obj, render_views as rv
    from dreamer.plan import resolve_classes
    from dreamer.seen import degraded_crops
    share = float(os.environ.get("LUCID_PHOTO_RIVALS", "0.5"))
    count = int(os.environ.get("LUCID_PHOTO_RIVALS_COUNT", "5"))
    real = rv.start

    def photo_classes(net, work, seed: int, exclude: set[int]) -> list[int]:
        with torch.no_grad():
            batch = degraded_crops(work, 8, seed, net.input_size)
            logits = torch.cat([net.module(net.normalise(batch[i:i + 6])).float() for i in range(0, len(batch), 6)])
        mean = torch.log_softmax(logits, dim=1).mean(0)
        mean[list(exclude)] = -1e9
        return mean.topk(count).indices.tolist()

    def start(base, plan, net, seed):
        d = real(base, plan, net, seed)
        weights = resolve_classes(plan.recipe, net)
        if len([w for w in weights.values() if w > 0]) < 2:
            return d
        exclude = set(weights)
        if os.environ.get("LUCID_PHOTO_RIVALS_KIN", "0") == "1":
            # the second form: a photo class that is a target's look-alike (cup for espresso on a
            # photo of coffee cups) is no rival; the target is what the photo already shows
            from models.heads import look_alikes
            exclude |= {c for near in look_alikes(net, list(weights), 10).values() for c in near}
        against = photo_classes(net, d.work, seed, exclude)
        print("photo rivals:", against, file=sys.stderr, flush=True)
        rivals = {i: against for i, w in weights.items() if w > 0}
        objective = obj.class_logits(weights, rivals=rivals, rival_share=share)
        d.plan = dataclasses.replace(plan, objective=objective)
        return d
    rv.start = start


from mutant_transfer import TRANSFER  # noqa: E402  (a sibling: benchmarks/ is on sys.path)

CANDIDATES = {"check_lite1": _check_with_lite1, "coarse_share": _coarse_share, "gain_lagging": _gain_lagging, "joint_big": _joint_big, "objects_room": _objects_get_room, "photo_rivals": _photo_rivals, "route_lagging": _route_lagging,
              "settle": _growth_settles, "spread": _spread, "spread_min": _spread_min, "top5": _top5,
              "wait48": _growth_waits}
CANDIDATES.update(TRANSFER)
