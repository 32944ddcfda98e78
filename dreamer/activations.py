"""What a render loop hands back and reads: the net's activations for a batch (`capture`, the
layers an objective reads, hooked) and the progress of a dream (`Progress`)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from PIL import Image

from dreamer import threads
from models import DreamNet


@dataclass(frozen=True)
class Progress:
    octave: int  # 0-based
    octaves: int
    step: int  # 0-based within the octave
    steps: int
    done: int  # steps done over the whole dream
    total: int
    score: float  # objective value, averaged over the step's tiles
    image: Callable[[], Image.Image]  # the picture so far, made only when asked for


ProgressFn = Callable[[Progress], None]


class _Enough(Exception):
    """Raised from a hook once every needed layer is captured, skipping the rest of the net."""


@contextlib.contextmanager
def capture(net: DreamNet, layers: frozenset[str]) -> Iterator[Callable[[torch.Tensor], dict]]:
    """Run the net, returning the activations an objective reads ('logits' = class output)."""
    wanted = {name for name in layers if name != "logits"}
    acts: dict[str, torch.Tensor] = {}
    need_logits = "logits" in layers
    handles = []
    for name in wanted:
        def hook(_m, _inp, out, name=name):
            acts[name] = out
            if not need_logits and wanted <= acts.keys():
                raise _Enough

        handles.append(net.layer(name).register_forward_hook(hook))

    def run(x: torch.Tensor, step: int | None = None) -> dict[str, torch.Tensor]:
        """The activations for batch x; `step` picks the member of an ensemble in turns."""
        threads.rebalance()  # once a step: another dream may have started or ended
        acts.clear()
        if net.turns and step is not None and not wanted:  # only the logits: one member's turn
            member = net.turns[step % len(net.turns)]
            return {"logits": member.module(member.normalise(x))}
        try:
            acts["logits"] = net.module(net.normalise(x))
        except _Enough:
            pass
        return dict(acts)

    try:
        yield run
    finally:
        for h in handles:
            h.remove()


def net_chunk(batch: torch.Tensor) -> int:
    """How many views of a batch go through the net at once (`backward_in_chunks`): on a GPU all
    of them; on a CPU a few, one per thread and at least CPU_CHUNK. A small batch's activations
    stay in the cache and fewer of them are held for the backward: on two cores of an EPYC,
    Lite0's forward and backward of 8 views took 0.40 s in one batch and 0.30 s in four of 2, and
    held 424 MB of activations against 222 in two of 4 (benchmarks/README.md, "Session 16: the
    net a few views at a time")."""
    if batch.device.type != "cpu":
        return batch.shape[0]
    return max(CPU_CHUNK, torch.get_num_threads())


CPU_CHUNK = 2


def backward_in_chunks(batch: torch.Tensor, loss: Callable[[torch.Tensor, slice], torch.Tensor],
                       chunk: int) -> None:
    """Backpropagate the sum over the chunks of `loss(views, rows)` (the loss of the batch's rows
    `rows`, given those rows) through `batch` and what it was made from, `chunk` rows at a time
    through whatever `loss` runs. The same gradient as one pass over the whole batch when each
    view's loss depends on that view alone (every objective's does: dreamer.objectives)."""
    n = batch.shape[0]
    if chunk >= n:
        loss(batch, slice(0, n)).backward()
        return
    views = batch.detach().requires_grad_()
    for s in range(0, n, chunk):
        rows = slice(s, min(n, s + chunk))
        loss(views[rows], rows).backward()
    batch.backward(views.grad)
