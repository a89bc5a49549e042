"""Sampling hooks any task can use to constrain the restoration loop."""
from __future__ import annotations

import torch

from palette_kit.diffusion.noise import randn
from palette_kit.diffusion.sampler import SamplingHook


def keep_known(known: torch.Tensor, unknown: torch.Tensor) -> SamplingHook:
    """Re-impose known pixels after every step, noised to the step's ``gamma``.

    ``known`` (B, C, H, W) holds the target's known values; ``unknown`` (B, 1, H, W) is 1 where the
    model generates and 0 where the pixel is known. After the last step (``gamma = 1``) the known
    pixels are exactly ``known``; before it they carry the noise level ``y_t`` has, so the model
    sees a consistent ``y_t`` (the "replacement" method, as in RePaint and Palette's inpainting).
    """

    def hook(y_t: torch.Tensor, gamma: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        g = gamma.view(-1, 1, 1, 1).to(y_t.dtype)
        eps = randn(y_t.shape, generator, y_t.device, y_t.dtype)
        noised = g.sqrt() * known + (1 - g).sqrt() * eps
        return unknown * y_t + (1 - unknown) * noised

    return hook
