"""Named noise schedules and the schedulers that sample with them."""
from __future__ import annotations

from typing import Any

from diffusers import DDPMScheduler

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

SCHEDULERS = ("linear", "ddpm")


def schedule_preset(name: str) -> dict[str, dict[str, Any]]:
    """The train and sample schedule configs of a named preset."""
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; choose from: {', '.join(SCHEDULES)}")
    return {part: dict(config) for part, config in SCHEDULES[name].items()}


def make_scheduler(kind: str, schedule: dict[str, Any]) -> Scheduler:
    """A sampler's scheduler over ``schedule``: our ``LinearSchedule`` or diffusers' ``DDPMScheduler``."""
    if kind == "linear":
        return LinearSchedule(**schedule)
    if kind == "ddpm":
        return DDPMScheduler(
            **schedule,
            beta_schedule="linear",
            clip_sample=True,
            variance_type="fixed_small",
            prediction_type="epsilon",
            timestep_spacing="trailing",
        )
    raise InputError(f"unknown scheduler {kind!r}; choose from: {', '.join(SCHEDULERS)}")
