"""Named noise schedules and the schedulers that sample with them."""
from __future__ import annotations

from typing import Any

import torch

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from palette_kit.diffusion.sampler import Scheduler
from palette_kit.diffusion.schedule import LinearSchedule
from palette_kit.errors import InputError

#: Each preset: the schedule training draws gamma from, and the one sampling walks down.
SCHEDULES: dict[str, dict[str, dict[str, Any]]] = {
    # Palette (Saharia et al. 2022): train on 2000 steps, sample on 1000 steps; both reach pure noise.
    "palette": {
        "train": {"num_train_timesteps": 2000, "beta_start": 1e-6, "beta_end": 1e-2},
        "sample": {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.09},
    },
    # The tutorial's 20 steps for both: gamma_T is about 0.39, so training never sees pure noise.
    "seed": {
        "train": {"num_train_timesteps": 20, "beta_start": 1e-4, "beta_end": 0.09},
        "sample": {"num_train_timesteps": 20, "beta_start": 1e-4, "beta_end": 0.09},
    },
}

#: Samplers by name: DDPM ancestral with our hand-written schedule (``linear``) or diffusers'
#: (``ddpm``); diffusers' deterministic DDIM (eta = 0) and DPM-Solver++ (2nd order multistep).
SCHEDULERS = ("linear", "ddpm", "ddim", "dpmsolver")


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


def schedule_preset(name: str) -> dict[str, dict[str, Any]]:
    """The train and sample schedule configs of a named preset."""
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; choose from: {', '.join(SCHEDULES)}")
    return {part: dict(config) for part, config in SCHEDULES[name].items()}


def make_scheduler(kind: str, schedule: dict[str, Any]) -> Scheduler:
    """A sampler's scheduler over ``schedule`` (``num_train_timesteps``, ``beta_start``, ``beta_end``).

    Every kind predicts eps and clips the predicted ``y_0`` to [-1, 1] (for DPM-Solver: dynamic
    thresholding with a ceiling of 1, which is exactly that clip), and its first step is at or
    next to ``T - 1``, pure noise ("trailing" spacing; see ``StridedDDIMScheduler`` for DDIM).
    """
    common = {**schedule, "beta_schedule": "linear", "prediction_type": "epsilon", "timestep_spacing": "trailing"}
    if kind == "linear":
        return LinearSchedule(**schedule)
    if kind == "ddpm":
        return DDPMScheduler(**common, clip_sample=True, variance_type="fixed_small")
    if kind == "ddim":
        return StridedDDIMScheduler(**common, clip_sample=True, set_alpha_to_one=True)
    if kind == "dpmsolver":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                           thresholding=True, sample_max_value=1.0, final_sigmas_type="zero")
    raise InputError(f"unknown scheduler {kind!r}; choose from: {', '.join(SCHEDULERS)}")
