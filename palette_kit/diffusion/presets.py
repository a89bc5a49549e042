"""Noise schedules and sampling settings as small objects, their named presets, and the samplers."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from palette_kit.choices import SAMPLERS  # by name: our linear DDPM, diffusers' DDPM, DDIM, DPM-Solver++
from palette_kit.diffusion.gammas import linear_gammas
from palette_kit.diffusion.sampler import Scheduler
from palette_kit.errors import InputError

if TYPE_CHECKING:
    from palette_kit.diffusion.schedule import LinearSchedule


@dataclass(frozen=True)
class Schedule:
    """A linear beta schedule of ``num_train_timesteps`` steps from ``beta_start`` to ``beta_end``."""

    num_train_timesteps: int
    beta_start: float
    beta_end: float

    def linear(self) -> LinearSchedule:
        """Our diffusers scheduler over this schedule (importing it imports diffusers: only when sampling)."""
        from palette_kit.diffusion.schedule import LinearSchedule

        return LinearSchedule(**asdict(self))

    def gammas(self) -> torch.Tensor:
        """``gamma_t`` for t = 0..T-1 in float64, without importing diffusers (what training draws from)."""
        return linear_gammas(**asdict(self))


@dataclass(frozen=True)
class Schedules:
    """The schedule training draws gamma from, and the one sampling walks down."""

    train: Schedule
    sample: Schedule

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, dict[str, Any]]) -> Schedules:
        return cls(Schedule(**config["train"]), Schedule(**config["sample"]))


@dataclass(frozen=True)
class Sampling:
    """The sampler a model restores with by default, and its number of steps."""

    sampler: str = "linear"
    steps: int = 1000

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {self.sampler!r}; choose from: {', '.join(SAMPLERS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> Sampling:
        """Also reads checkpoints from before the rename, which call the sampler ``"scheduler"``."""
        return cls(config["sampler"] if "sampler" in config else config["scheduler"], config["steps"])


SCHEDULES: dict[str, Schedules] = {
    # Palette (Saharia et al. 2022): train on 2000 steps, sample on 1000 steps; both reach pure noise.
    "palette": Schedules(train=Schedule(2000, 1e-6, 1e-2), sample=Schedule(1000, 1e-4, 0.09)),
    # DDPM (Ho et al. 2020): 1000 steps of betas 1e-4..0.02 for both; gamma_T is 4e-5, and DDIM's evenly spaced
    # few steps spread over log-SNR (-10 to 0 in 4 steps), where Palette's waste their first half on pure
    # noise: the sampling schedule of distilled students.
    "ddpm": Schedules(train=Schedule(1000, 1e-4, 2e-2), sample=Schedule(1000, 1e-4, 2e-2)),
    # The tutorial's 20 steps for both: gamma_T is about 0.39, so training never sees pure noise.
    "seed": Schedules(train=Schedule(20, 1e-4, 0.09), sample=Schedule(20, 1e-4, 0.09)),
}


def schedule_preset(name: str) -> Schedules:
    """The train and sample schedules of a named preset."""
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; choose from: {', '.join(SCHEDULES)}")
    return SCHEDULES[name]


def make_scheduler(sampler: str, schedule: Schedule) -> Scheduler:
    """The scheduler that drives ``sampler`` over ``schedule``.

    Every sampler predicts eps and clips the predicted ``y_0`` to [-1, 1] (for DPM-Solver: dynamic
    thresholding with a ceiling of 1, which is exactly that clip), and its first step is at or
    next to ``T - 1``, pure noise ("trailing" spacing; see ``DDIM`` for DDIM's). DDIM is ours, without
    diffusers (whose import costs more than a few-step model's sampling).
    """
    if sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {sampler!r}; choose from: {', '.join(SAMPLERS)}")
    if sampler == "linear":
        return schedule.linear()
    if sampler == "ddim":
        from palette_kit.diffusion.ddim import DDIM

        return DDIM(schedule.gammas())
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler  # slow to import: only when used

    common = {**asdict(schedule), "beta_schedule": "linear", "prediction_type": "epsilon",
              "timestep_spacing": "trailing"}
    if sampler == "ddpm":
        return DDPMScheduler(**common, clip_sample=True, variance_type="fixed_small")
    return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                       thresholding=True, sample_max_value=1.0, final_sigmas_type="zero")
