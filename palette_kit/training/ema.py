"""Exponential moving average of the weights, the network Palette validates and samples with."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of ``net`` that follows it: ``ema <- ema + (1 - d_k) (weights - ema)`` after step k.

    ``d_k = min(decay, (1 + k) / (10 + k))``: Palette's 0.9999 in the long run, with a warm-up so that
    the average of a short run is not stuck at the initial weights. Written by hand (a few lines
    over ``torch._foreach_lerp_``) because that warm-up and a plain state dict of the averaged network
    are all we need from it.
    """

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        """Move towards ``net`` after optimizer step ``step`` (1-based)."""
        d = min(self.decay, (1 + step) / (10 + step))
        averaged = list(self.net.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in net.parameters()], 1 - d)
        for mine, theirs in zip(self.net.buffers(), net.buffers()):
            mine.copy_(theirs)
