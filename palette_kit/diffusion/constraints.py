"""Sampling hooks any task can use to constrain the restoration loop, and the mask channel that
tells them which pixels are known.

A task that knows some pixels carries a mask as the last channel of its condition: 1 (stored as
+1) where the model generates, 0 (stored as -1) where the pixel is known."""
from __future__ import annotations

import numpy as np

from palette_kit.diffusion.noise import randn
from palette_kit.diffusion.sampler import SamplingHook
from palette_kit.lazy import lazy

torch = lazy("torch")


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


def mask_channel(unknown: torch.Tensor) -> torch.Tensor:
    """A 0/1 mask (1 = generate) as a condition channel in [-1, 1]."""
    return unknown * 2 - 1


def unknown_of(y_cond: torch.Tensor) -> torch.Tensor:
    """The mask channel (the last) of conditions (..., C, S, S) as 0/1 floats (..., 1, S, S), 1 = generate."""
    return (y_cond[..., -1:, :, :] > 0).to(y_cond.dtype)


def paint_unknown(pictures: np.ndarray, y_cond: torch.Tensor, bgr: tuple[int, int, int]) -> np.ndarray:
    """``pictures`` (B, S, S, 3) of conditions ``y_cond`` with the pixels to generate painted ``bgr``."""
    pictures[unknown_of(y_cond)[:, 0].cpu().numpy() > 0] = bgr
    return pictures
