"""Samplers: plain functions with one signature, driven by any scheduler with diffusers' contract."""
from __future__ import annotations

from typing import Callable, Protocol

import torch
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from palette_kit.diffusion.denoiser import Denoiser

#: Called after every step with (step index, timestep, y_t, predicted y_0).
Callback = Callable[[int, int, torch.Tensor, torch.Tensor], None]
#: Applied after every step to (y_t, gamma of that y_t (B,), generator); returns the y_t to go on with.
SamplingHook = Callable[[torch.Tensor, torch.Tensor, "torch.Generator | None"], torch.Tensor]


class Scheduler(Protocol):
    """What a sampler needs of a scheduler (our LinearSchedule and diffusers' schedulers alike)."""

    alphas_cumprod: torch.Tensor
    timesteps: torch.Tensor

    def set_timesteps(self, num_inference_steps: int) -> None: ...

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, **kwargs): ...


@torch.inference_mode()
def restore(
    net: Denoiser,
    y_cond: torch.Tensor,
    scheduler: Scheduler,
    steps: int,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    hook: SamplingHook | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Palette's restoration loop: from pure noise to ``y_0``, conditioned on ``y_cond``.

    The model is conditioned on ``gamma_t`` (the scheduler's ``alphas_cumprod[t]``), never
    on the integer ``t``, so any schedule and number of steps works with any trained model.
    ``hook``, if given, may change each new ``y_t`` (a task's ``sampling_hook``).
    """
    scheduler.set_timesteps(steps)
    b, _, h, w = y_cond.shape
    y_t = randn_tensor((b, net.target_channels, h, w), generator=generator, device=y_cond.device, dtype=y_cond.dtype)
    gammas = scheduler.alphas_cumprod.to(y_cond.device, torch.float32)
    timesteps = scheduler.timesteps.tolist()
    for i, t in enumerate(tqdm(timesteps, desc="sampling", leave=False, disable=not progress)):
        eps = net(y_t, y_cond, gammas[t].expand(b))
        out = scheduler.step(eps, t, y_t, generator=generator)
        y_t = out.prev_sample
        if hook is not None:
            gamma_next = gammas[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.ones((), device=y_t.device)
            y_t = hook(y_t, gamma_next.expand(b), generator)
        if callback is not None:
            callback(i, int(t), y_t, out.pred_original_sample)
    return y_t.clamp(-1.0, 1.0)
