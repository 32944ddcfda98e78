"""Candidates for mutants borrowed from adversarial attacks that transfer to unseen nets, patched
into the dreaming nets for one run of benchmarks/mutant_curves.py (`--candidate sgm|ghost`; the
list is joined into mutant_candidates.CANDIDATES). What each did is in benchmarks/README.md,
"Transfer tricks, big views for all, and stitched singles"."""
from __future__ import annotations


def _residual_blocks(nets: dict) -> list:
    """The dreaming nets' blocks whose output adds their input back (stride 1, same channels)."""
    blocks = []
    for net in nets.values():
        for module in net.layers.values():
            a = getattr(module, "_block_args", None)
            if a is not None and module.id_skip and a.stride in (1, [1], [1, 1]) and a.input_filters == a.output_filters:
                blocks.append(module)
    return blocks


def _skip_gradient(nets: dict) -> None:
    """The skip gradient method (Wu et al., ICLR 2020): the gradient through each residual
    block's own branch is scaled by LUCID_SGM (default 0.5), the skip's left whole; forward
    values are unchanged, so the checks see what they saw. Attacks made this way transfer to
    unseen nets far better: what the branch-deep features alone believe is what does not carry
    to the judge."""
    import os
    gamma = float(os.environ.get("LUCID_SGM", "0.5"))

    def hook(module, inputs, output):
        x = inputs[0]
        if not output.requires_grad or output.shape != x.shape:
            return None
        branch = output - x
        return x + gamma * branch + (1 - gamma) * branch.detach()
    for block in _residual_blocks(nets):
        block.register_forward_hook(hook)


def _ghost(nets: dict) -> None:
    """Ghost networks (Li et al., AAAI 2020): each residual block's skip scaled by a random
    factor in 1 +- LUCID_GHOST (default 0.22), drawn afresh every forward pass that takes a
    gradient: every step dreams for a slightly different net, a free ensemble. The checks (no
    gradient) see the real net."""
    import os
    import torch
    spread = float(os.environ.get("LUCID_GHOST", "0.22"))
    gen = torch.Generator().manual_seed(1)

    def hook(module, inputs, output):
        x = inputs[0]
        if not torch.is_grad_enabled() or output.shape != x.shape:
            return None
        lam = 1 - spread + 2 * spread * float(torch.rand((), generator=gen))
        return output + (lam - 1) * x
    for block in _residual_blocks(nets):
        block.register_forward_hook(hook)


TRANSFER = {"ghost": _ghost, "sgm": _skip_gradient}
