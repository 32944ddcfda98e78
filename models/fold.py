"""The fast form of any net, made at load: BatchNorms folded into the convolution before them,
and channels_last weights.

At eval time a BatchNorm (or Caffe's BatchNorm and Scale, or any module offering
`channel_affine()`) is x * scale + shift per channel. Right after a convolution nobody else
reads, that is the same as a convolution with scaled weights and a shifted bias, so the
BatchNorm's forward and backward passes disappear: about half the work per view for
EfficientNet-Lite. Nothing here knows a net's classes: the pairs are found by watching one probe
forward pass (which module's output feeds which) and its autograd graph (who else reads it),
so the same code serves the zoo's nets and imported Caffe and ONNX graphs.

Named layers keep their activations: a layer that was a folded BatchNorm becomes the identity
now in its place (which sees the same values), and a layer whose activations are the
convolution's own output before the BatchNorm (ONNX names every node's output) gets a tap that
undoes the affine, computed only while something hooks it. A net is folded only when a second
probe gives the same logits and the same activations at every named layer; otherwise it is left
as it was (and a warning says so).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn
from torch.nn.modules.module import _global_forward_hooks

from models.heap import release_heap

if TYPE_CHECKING:
    from models.base import DreamNet

log = logging.getLogger(__name__)

Affine = tuple[torch.Tensor, torch.Tensor]  # per-channel (scale, shift), float64


def channel_affine(module: nn.Module) -> Affine | None:
    """(scale, shift) if `module`, as it stands (eval mode), maps x to x * scale + shift along
    axis 1; None for anything else (a BatchNorm in training mode, one without statistics)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        if module.training or module.running_mean is None or module.running_var is None:
            return None
        inv = torch.rsqrt(module.running_var.detach().double() + module.eps)
        scale = inv * (module.weight.detach().double() if module.weight is not None else 1.0)
        shift = -module.running_mean.detach().double() * scale
        if module.bias is not None:
            shift = shift + module.bias.detach().double()
        return scale, shift
    own = getattr(module, "channel_affine", None)
    if callable(own):
        got = own()
        if got is not None:
            return got[0].detach().double(), got[1].detach().double()
    return None


def _foldable_conv(module: nn.Module) -> bool:
    # Transposed convolutions keep output channels on the weight's second axis: not handled.
    return isinstance(module, nn.modules.conv._ConvNd) and not module.transposed


class Tap(nn.Module):
    """A named layer's activations from before folded affines: (y - shift) / scale."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale.float())
        self.register_buffer("shift", shift.float())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (y.dim() - 2)
        return (y - self.shift.view(shape)) / self.scale.view(shape)


class Folded(nn.Identity):
    """Where the last folded affine of a chain was: passes its input on; runs the chain's taps
    only when something hooks them (a hook is the only way to see a tap's output)."""

    def __init__(self, taps: list[Tap]):
        super().__init__()
        self.taps = nn.ModuleList(taps)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        for tap in self.taps:
            if tap._forward_hooks or _global_forward_hooks:
                tap(y)
        return y


@dataclass
class _Call:
    module: nn.Module
    inputs: list[torch.Tensor]
    output: torch.Tensor
    in_fns: list[object]  # grad_fn of each input when the module read it
    out_fn: object


@dataclass
class _Chain:
    conv: nn.Module
    affines: list[nn.Module] = field(default_factory=list)
    # outputs[0] is the conv's output, outputs[k] the k-th affine's; fns their grad_fns then
    outputs: list[torch.Tensor] = field(default_factory=list)
    fns: list[object] = field(default_factory=list)


def fold_batchnorms(net: "DreamNet") -> int:
    """Fold every per-channel affine that follows a convolution into it, in net.module, and
    re-point net.layers; returns how many were folded (0 when the probe disagreed)."""
    module = net.module
    if not any(channel_affine(m) is not None for m in module.modules()):
        return 0
    shared = _shared_modules(module)
    probe = _probe_input(net)
    calls, named_out, roots = _watch(module, net.layers, probe)
    chains = _find_chains(calls, roots, shared) if roots else []
    if not chains:
        return 0
    reference = {name: t.detach() for name, t in named_out.items() if isinstance(t, torch.Tensor)}
    reference["(logits)"] = roots[0].detach()
    undo: list[Callable[[], None]] = []
    layers = dict(net.layers)
    folded = 0
    for chain in chains:
        done = _fold_chain(module, chain, layers, named_out, undo)
        folded += len(chain.affines) if done else 0
    if not folded:
        return 0
    after = _activations(module, layers, probe)
    bad = _disagreement(reference, after)
    if bad is not None:
        for step in reversed(undo):
            step()
        log.warning("%s: folding BatchNorms changed %s; the net runs unfolded", net.name, bad)
        return 0
    net.layers = layers
    return folded


def to_channels_last(net: "DreamNet") -> None:
    """channels_last weights: with the BatchNorms folded, about 2x faster forward+backward on
    the CPU (oneDNN's blocked kernels), and what tensor cores want on a GPU."""
    net.module.to(memory_format=torch.channels_last)


def fast_form(net: "DreamNet") -> "DreamNet":
    """What every loader does last: fold, then channels_last. Returns the same DreamNet."""
    n = fold_batchnorms(net)
    if n:
        log.debug("%s: %d BatchNorm/affine layers folded into convolutions", net.name, n)
    to_channels_last(net)
    release_heap()  # the probes' activations: ~180 MB off a 12 MP dream's peak
    return net


# --- finding the pairs ------------------------------------------------------------------------
def _shared_modules(root: nn.Module) -> set[int]:
    seen: dict[int, int] = {}
    for _name, m in root.named_modules(remove_duplicate=False):
        seen[id(m)] = seen.get(id(m), 0) + 1
    return {k for k, n in seen.items() if n > 1}


def _probe_input(net: "DreamNet") -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, net.input_size, net.input_size), generator=g)
    return net.normalise(x.to(net.device))


def _watch(module: nn.Module, layers: dict[str, nn.Module], x: torch.Tensor):
    """One forward pass with autograd on: every conv and affine call, the output of every
    named layer, and the roots of the autograd graph (logits and named outputs)."""
    calls: list[_Call] = []
    named_out: dict[str, torch.Tensor] = {}
    handles = []

    def record(m, inputs, output):
        if isinstance(output, torch.Tensor):
            ins = [t for t in inputs if isinstance(t, torch.Tensor)]
            calls.append(_Call(m, ins, output, [t.grad_fn for t in ins], output.grad_fn))

    for m in module.modules():
        if _foldable_conv(m) or channel_affine(m) is not None:
            handles.append(m.register_forward_hook(record))
    for name, m in layers.items():
        handles.append(m.register_forward_hook(
            lambda _m, _i, out, name=name: named_out.__setitem__(name, out)))
    try:
        with torch.enable_grad():
            out = module(x.detach().requires_grad_(True))
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, torch.Tensor):
        return calls, named_out, []  # not a classifier's logits: nothing to compare, no folding
    roots = [out, *(t for t in named_out.values() if isinstance(t, torch.Tensor))]
    return calls, named_out, roots


def _consumers(roots: list[torch.Tensor]) -> dict[object, int]:
    """How many autograd nodes read each node's output, over everything the roots depend on."""
    count: dict[object, int] = {}
    seen: set[int] = set()
    stack = [t.grad_fn for t in roots if t.grad_fn is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                count[nxt] = count.get(nxt, 0) + 1
                stack.append(nxt)
    return count


def _find_chains(calls: list[_Call], roots: list[torch.Tensor], shared: set[int]) -> list[_Chain]:
    times: dict[int, int] = {}
    for c in calls:
        times[id(c.module)] = times.get(id(c.module), 0) + 1
    consumers = _consumers(roots)

    def once(m: nn.Module) -> bool:
        return times[id(m)] == 1 and id(m) not in shared

    chains: list[_Chain] = []
    by_output: dict[int, _Chain] = {}  # id of a chain's latest output -> the chain
    for c in calls:
        if not once(c.module) or c.out_fn is None:
            continue
        if _foldable_conv(c.module):
            if c.module.weight.dim() >= 3:
                by_output[id(c.output)] = _Chain(c.module, [], [c.output], [c.out_fn])
            continue
        if len(c.inputs) != 1:
            continue
        chain = by_output.get(id(c.inputs[0]))
        if chain is None:
            continue
        last, last_fn = chain.outputs[-1], chain.fns[-1]
        scale, _ = channel_affine(c.module)  # type: ignore[misc]
        # Read straight from the producer (nothing in place between) and by nothing else.
        fits = (c.in_fns[0] is last_fn and consumers.get(last_fn, 0) == 1
                and scale.numel() == chain.conv.out_channels)
        if not fits:
            continue
        del by_output[id(last)]
        chain.affines.append(c.module)
        chain.outputs.append(c.output)
        chain.fns.append(c.out_fn)
        by_output[id(c.output)] = chain
        if len(chain.affines) == 1:
            chains.append(chain)
    return chains


# --- folding ----------------------------------------------------------------------------------
def _fold_chain(root: nn.Module, chain: _Chain, layers: dict[str, nn.Module],
                named_out: dict[str, torch.Tensor], undo: list[Callable[[], None]]) -> bool:
    affines = [channel_affine(a) for a in chain.affines]
    n = len(affines)
    # composite[k]: the affines after point k (0 = the conv's output) as one (scale, shift)
    composite: list[Affine] = []
    for k in range(n + 1):
        s = torch.ones_like(affines[0][0])
        t = torch.zeros_like(affines[0][1])
        for a_s, a_t in affines[k:]:  # type: ignore[misc]
            s, t = s * a_s, t * a_s + a_t
        composite.append((s, t))

    # Which named layers showed a point before the last affine: they will need a tap.
    point_of = {id(o): k for k, o in enumerate(chain.outputs)}
    replaced = {id(a): k + 1 for k, a in enumerate(chain.affines)}
    needs: dict[str, int] = {}
    for name, m in layers.items():
        k = replaced.get(id(m))
        if k is None and id(named_out.get(name)) in point_of:
            k = point_of[id(named_out[name])]
        if k is not None and k < n:
            needs[name] = k
    if needs:
        scales = composite[min(needs.values())][0]
        if (scales.abs() < 1e-12).any():
            return False  # a zero scale cannot be undone: such a layer would be lost
    taps = {k: Tap(*composite[k]) for k in sorted(set(needs.values()))}

    conv = chain.conv
    old_w, old_b = conv.weight, conv.bias
    s, t = composite[0]
    shape = (-1,) + (1,) * (old_w.dim() - 1)
    w = (old_w.detach().double() * s.view(shape)).to(old_w.dtype)
    b = old_b.detach().double() if old_b is not None else torch.zeros_like(s)
    b = (b * s + t).to(old_w.dtype)
    conv.weight = nn.Parameter(w, requires_grad=False)
    conv.bias = nn.Parameter(b, requires_grad=False)

    def restore_conv() -> None:
        conv.weight = old_w
        if old_b is None:
            conv.bias = None
        else:
            conv.bias = old_b

    undo.append(restore_conv)
    last = Folded(list(taps.values())) if taps else nn.Identity()
    new_of = {id(a): nn.Identity() for a in chain.affines[:-1]}
    new_of[id(chain.affines[-1])] = last
    for a in chain.affines:
        undo.append(_replace(root, a, new_of[id(a)]))
    for name, m in layers.items():
        if name in needs:
            layers[name] = taps[needs[name]]
        elif id(m) in new_of:
            layers[name] = new_of[id(m)]
    return True


def _replace(root: nn.Module, old: nn.Module, new: nn.Module) -> Callable[[], None]:
    """Put `new` wherever `old` sits in the module tree; returns what undoes it."""
    places = [(parent, key) for parent in root.modules()
              for key, child in parent._modules.items() if child is old]
    for parent, key in places:
        setattr(parent, key, new)

    def restore() -> None:
        for parent, key in places:
            setattr(parent, key, old)

    return restore


# --- checking ---------------------------------------------------------------------------------
def _activations(module: nn.Module, layers: dict[str, nn.Module], x: torch.Tensor) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, name=name: seen.__setitem__(name, out))
               for name, m in layers.items()]
    try:
        with torch.no_grad():
            seen["(logits)"] = module(x)
    finally:
        for h in handles:
            h.remove()
    return {k: v.detach().clone() for k, v in seen.items() if isinstance(v, torch.Tensor)}


def _disagreement(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> str | None:
    """None when every activation matches to float32 rounding (relative to its own range)."""
    for name, want in before.items():
        got = after.get(name)
        if got is None or got.shape != want.shape:
            return f"layer {name!r} (missing or reshaped)"
        tol = 1e-4 * float(want.abs().max()) + 1e-5
        err = float((got - want).abs().max())
        if not err <= tol:  # also catches NaN
            return f"layer {name!r} (max difference {err:.2e})"
    return None
