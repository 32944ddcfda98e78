"""What to ascend. An objective maps what the net saw (logits and hooked activations) to one
score per picture in the batch; objectives add and scale like lucent's."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Activations = dict[str, torch.Tensor]  # layer name -> output; "logits" -> class logits
# Optional entry of Activations: (n, k) share of each positive class's region in each view.
REGIONS = "class_regions"
# Optional entry of Activations: (n, k) one class per view, pushed alone (a routed mutant's views).
ROUTED = "class_routed"


@dataclass(frozen=True)
class Objective:
    fn: Callable[[Activations], torch.Tensor]
    layers: frozenset[str]  # layers whose outputs fn reads ("logits" for the class output)
    description: str

    def __call__(self, acts: Activations) -> torch.Tensor:
        return self.fn(acts)

    def __add__(self, other: "Objective") -> "Objective":
        return Objective(
            lambda a: self.fn(a) + other.fn(a),
            self.layers | other.layers,
            f"{self.description} + {other.description}",
        )

    def __mul__(self, k: float) -> "Objective":
        return Objective(lambda a: k * self.fn(a), self.layers, f"{k:g}·{self.description}")

    __rmul__ = __mul__


def class_logits(weights: dict[int, float], balance: bool = False, temperature: float = 0.7,
                 rivals: dict[int, list[int]] | None = None, rival_share: float = 0.0) -> Objective:
    """Weighted sum of the *signed* pre-softmax logits. A negative weight pushes a class away;
    an |logit| or L2 loss would push strongly negative classes further negative instead.

    With `rivals` (class -> its look-alikes, the same number for each) a positive class's logit
    counts less `rival_share` of the logsumexp of its rivals' logits: what is pushed is what tells
    the class from its family, so a viewer's top few read it and not its neighbours.

    With `balance`, the positive classes of a hybrid are reweighted in every picture of the batch
    by a softmin of their logits (held constant for the gradient): the class that is lagging
    behind there gets most of the push, so one easy class cannot take over the whole picture.
    The weights still sum to what the user gave."""
    if not weights:
        raise ValueError("class objective needs at least one class")
    ids = torch.tensor(list(weights), dtype=torch.long)
    w = torch.tensor(list(weights.values()), dtype=torch.float32)
    positive = w > 0
    balance = balance and int(positive.sum()) > 1
    rival_ids = _rival_table(weights, rivals) if rivals and rival_share > 0 else None
    pushed = positive & torch.tensor([bool(rivals and rivals.get(i)) for i in weights])

    def fn(acts: Activations) -> torch.Tensor:
        logits = acts["logits"].float()[:, ids.to(acts["logits"].device)]
        if rival_ids is not None:
            every = acts["logits"].float()
            against = torch.logsumexp(every[:, rival_ids.to(every.device)], dim=2)  # (n, k)
            logits = logits - rival_share * against * pushed.to(logits.device)
        wd = w.to(logits.device).expand_as(logits)
        regions, routed = acts.get(REGIONS), acts.get(ROUTED)
        if routed is not None and int(positive.sum()) > 1:
            wd = _regional(wd, positive.to(logits.device), routed.to(logits.device), floor=0.0)
        elif regions is not None and int(positive.sum()) > 1:
            wd = _regional(wd, positive.to(logits.device), regions.to(logits.device))
        if not balance:
            return (logits * wd).sum(1)
        pos = positive.to(logits.device)
        z = logits.detach()[:, pos] / w.to(logits.device)[pos]  # how far each class has come, per unit of weight
        lean = wd[:, pos] * torch.softmax(-z / temperature, dim=1)  # lagging classes get more
        wb = wd.clone()
        wb[:, pos] = lean / lean.sum(1, keepdim=True) * wd[:, pos].sum(1, keepdim=True)
        return (logits * wb).sum(1)

    desc = ", ".join(f"{i}:{v:g}" for i, v in weights.items())
    extra = (", balanced" if balance else "") + (f", rivals {rival_share:g}" if rival_ids is not None else "")
    return Objective(fn, frozenset({"logits"}), f"classes({desc}{extra})")


def _rival_table(weights: dict[int, float], rivals: dict[int, list[int]]) -> torch.Tensor:
    """(k, r) rival ids for the classes of `weights` in its order, padded by repeating the last
    (a class without any is not pushed against them: `pushed` in class_logits)."""
    r = max(len(v) for v in rivals.values())
    rows = []
    for i in weights:
        own = list(rivals.get(i, [])) or [i]
        rows.append((own + [own[-1]] * r)[:r])
    return torch.tensor(rows, dtype=torch.long)


def _regional(w: torch.Tensor, positive: torch.Tensor, regions: torch.Tensor, floor: float = 0.25) -> torch.Tensor:
    """Per-view class weights leaning towards the classes whose regions the view lies in. The
    positive weights keep their total; a floor keeps every class a little everywhere, so the
    regions blend into each other rather than meeting at a line."""
    share = floor / regions.shape[1] + (1 - floor) * regions
    w = w.clone()
    total = w[:, positive].sum(1, keepdim=True)
    lean = w[:, positive] * share
    w[:, positive] = lean / lean.sum(1, keepdim=True) * total
    return w


def layer_energy(layer: str) -> Objective:
    """Classic deepdream: amplify whatever the layer already sees (mean squared activation)."""

    def fn(acts: Activations) -> torch.Tensor:
        a = acts[layer].float()
        return a.pow(2).flatten(1).mean(1)

    return Objective(fn, frozenset({layer}), f"deepdream({layer})")


def guide_features(layer: str, guide_acts: torch.Tensor) -> Objective:
    """Deepdream towards a guide picture: at every position, ascend the dot product with the guide
    feature vector it already resembles most (the original's guided objective)."""
    g = guide_acts.float().flatten(2).transpose(0, 1).flatten(1)  # (C, N·HW)

    def fn(acts: Activations) -> torch.Tensor:
        a = acts[layer].float()
        n, c = a.shape[:2]
        x = a.flatten(2)  # (n, C, HW)
        gg = g.to(x.device)
        sim = torch.einsum("nch,cm->nhm", x, gg)  # (n, HW, M)
        best = sim.argmax(-1)  # which guide vector each position resembles most
        target = gg.t()[best]  # (n, HW, C)
        return (x.transpose(1, 2) * target).sum((1, 2)) / x.shape[-1]

    return Objective(fn, frozenset({layer}), f"guide({layer})")


def randomise(num_classes: int, generator: torch.Generator) -> Objective:
    """The original's 'randomise' target: every class pushed up or down by a random amount."""
    w = torch.rand(num_classes, generator=generator) * 2 - 1
    w = w / w.abs().sum()

    def fn(acts: Activations) -> torch.Tensor:
        logits = acts["logits"].float()
        return logits @ w.to(logits.device)

    return Objective(fn, frozenset({"logits"}), "randomise")
