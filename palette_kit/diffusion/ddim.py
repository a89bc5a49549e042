"""diffusers' DDIM, on the timesteps its ``step`` assumes."""
from __future__ import annotations

import torch
from diffusers import DDIMScheduler


class StridedDDIMScheduler(DDIMScheduler):
    """diffusers' DDIM on the timesteps its ``step`` assumes: ``k * (T // steps) - 1`` for k = steps..1.

    ``DDIMScheduler.step`` always jumps by ``T // steps``, but its spacings round ``T / steps``
    ("trailing", "linspace") or start low ("leading": one step is at t = 0): when ``steps`` does
    not divide ``T``, the sample would sit at one noise level while the model is told another.
    These timesteps start at most ``T mod steps`` below ``T - 1`` and end on the clean sample.
    """

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        super().set_timesteps(num_inference_steps, device)
        stride = self.config.num_train_timesteps // num_inference_steps
        self.timesteps = torch.arange(num_inference_steps, 0, -1, device=device) * stride - 1
