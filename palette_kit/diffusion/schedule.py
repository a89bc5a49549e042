"""Palette's linear noise schedule, written by hand with diffusers' scheduler contract.

Notation follows Palette: ``gamma_t`` is the cumulative product of ``1 - beta``
(diffusers calls it ``alphas_cumprod``), and ``y_t = sqrt(gamma) y_0 + sqrt(1 - gamma) eps``.
The schedule is kept in float64; tensors handed to a model are float32.

Why by hand: the project needs Palette's exact float64 schedule and its posterior, and a
reference to test diffusers' ``DDPMScheduler`` against (``tests/test_schedule.py``). It does not
import diffusers (whose import costs more than torch's on a small CPU): the default sampler then
starts without it. Its config (the constructor arguments) is saved and loaded like a diffusers
scheduler's, as ``scheduler_config.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from palette_kit.diffusion.noise import Generators, randn


class StepOutput(NamedTuple):
    """What ``step`` returns, under the names diffusers' scheduler outputs use."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class ScheduleConfig(dict):
    """A schedule's constructor arguments; its fields read as attributes too, as in diffusers."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class LinearSchedule:
    """Betas linear in ``[beta_start, beta_end]`` over ``num_train_timesteps`` steps.

    ``set_timesteps(n)`` strides through the schedule with diffusers' "trailing" spacing
    (the first step is always the noisiest one); ``step`` takes the DDPM posterior
    ``q(y_s | y_t, y_0)`` from ``t`` to the previous sampled step ``s``.
    """

    config_name = "scheduler_config.json"
    order = 1

    def __init__(
        self,
        num_train_timesteps: int = 2000,
        beta_start: float = 1e-6,
        beta_end: float = 1e-2,
        clip_sample: bool = True,
    ) -> None:
        self.config = ScheduleConfig(num_train_timesteps=num_train_timesteps, beta_start=beta_start,
                                     beta_end=beta_end, clip_sample=clip_sample)
        betas = np.linspace(beta_start, beta_end, num_train_timesteps, dtype=np.float64)
        self.gammas = torch.from_numpy(np.cumprod(1.0 - betas))
        self.alphas_cumprod = self.gammas  # the name diffusers' samplers read
        self.set_timesteps(num_train_timesteps)

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """Choose ``num_inference_steps`` timesteps, from ``T - 1`` down ("trailing" spacing)."""
        total = self.config.num_train_timesteps
        if not 1 <= num_inference_steps <= total:
            raise ValueError(f"steps must be in 1..{total}, got {num_inference_steps}")
        self.num_inference_steps = num_inference_steps
        spaced = np.round(np.arange(total, 0, -total / num_inference_steps)).astype(np.int64) - 1
        self.timesteps = torch.from_numpy(spaced).to(device)

    def previous_timestep(self, timestep: int) -> int:
        """The sampled step after ``timestep``, or -1 after the last one."""
        later = self.timesteps[self.timesteps < int(timestep)]
        return int(later[0]) if len(later) else -1

    def gamma(self, timestep: int) -> torch.Tensor:
        """``gamma_t``, with ``gamma_{-1} = 1`` (no noise)."""
        return self.gammas[timestep] if timestep >= 0 else torch.ones((), dtype=torch.float64)

    def add_noise(
        self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """``y_t = sqrt(gamma_t) y_0 + sqrt(1 - gamma_t) eps`` for a batch of timesteps."""
        gamma = self.gammas.to(original_samples.device)[timesteps].to(original_samples.dtype)
        gamma = gamma.view(-1, *([1] * (original_samples.ndim - 1)))
        return gamma.sqrt() * original_samples + (1 - gamma).sqrt() * noise

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: Generators = None,
        return_dict: bool = True,
    ) -> StepOutput | tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step: y_0 from eps (clipped), then a draw from the posterior."""
        t, s = int(timestep), self.previous_timestep(timestep)
        gamma_t, gamma_s = self.gamma(t), self.gamma(s)
        alpha = gamma_t / gamma_s  # the jump's own 1 - beta
        y_t = sample
        y_0 = (y_t - (1 - gamma_t).sqrt() * model_output) / gamma_t.sqrt()
        if self.config.clip_sample:
            y_0 = y_0.clamp(-1.0, 1.0)
        mean = (gamma_s.sqrt() * (1 - alpha) * y_0 + alpha.sqrt() * (1 - gamma_s) * y_t) / (1 - gamma_t)
        y_s = mean.to(sample.dtype)
        if s >= 0:  # no noise at the last step
            variance = (1 - gamma_s) / (1 - gamma_t) * (1 - alpha)
            noise = randn(sample.shape, generator, sample.device, sample.dtype)
            y_s = y_s + variance.clamp(min=1e-20).sqrt().to(sample.dtype) * noise
        y_0 = y_0.to(sample.dtype)
        return StepOutput(y_s, y_0) if return_dict else (y_s, y_0)

    def __len__(self) -> int:
        return self.config.num_train_timesteps

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the config to ``folder/scheduler_config.json``."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        config = {"_class_name": type(self).__name__, **self.config}
        (Path(folder) / self.config_name).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> LinearSchedule:
        """The schedule whose config ``save_pretrained`` wrote to ``folder``."""
        config = json.loads((Path(folder) / cls.config_name).read_text())
        return cls(**{k: v for k, v in config.items() if not k.startswith("_")})
