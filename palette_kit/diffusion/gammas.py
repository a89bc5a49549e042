"""The noise levels of a linear beta schedule, without diffusers (whose import costs seconds).

``gamma_t`` is the cumulative product of ``1 - beta`` (diffusers' ``alphas_cumprod``), kept in float64; training
draws its noise levels from these, and ``LinearSchedule`` samples with them.
"""
from __future__ import annotations

import numpy as np
import torch


def linear_gammas(num_train_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """``gamma_t`` for t = 0..T-1 of betas linear in ``[beta_start, beta_end]`` over T steps, in float64."""
    betas = np.linspace(beta_start, beta_end, num_train_timesteps, dtype=np.float64)
    return torch.from_numpy(np.cumprod(1.0 - betas))
