"""Named noise schedules and the schedulers that sample with them."""
from __future__ import annotations

from typing import Any

from palette_kit.diffusion.sampler import Scheduler
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
    if kind not in SCHEDULERS:
        raise InputError(f"unknown scheduler {kind!r}; choose from: {', '.join(SCHEDULERS)}")
    from palette_kit.diffusion.schedule import LinearSchedule  # imports diffusers: slow, only when sampling

    if kind == "linear":
        return LinearSchedule(**schedule)
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

    from palette_kit.diffusion.ddim import StridedDDIMScheduler

    common = {**schedule, "beta_schedule": "linear", "prediction_type": "epsilon", "timestep_spacing": "trailing"}
    if kind == "ddpm":
        return DDPMScheduler(**common, clip_sample=True, variance_type="fixed_small")
    if kind == "ddim":
        return StridedDDIMScheduler(**common, clip_sample=True, set_alpha_to_one=True)
    return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                       thresholding=True, sample_max_value=1.0, final_sigmas_type="zero")
