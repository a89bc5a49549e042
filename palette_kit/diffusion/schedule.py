"""Palette's linear noise schedule as a diffusers scheduler, with Palette's float64 posterior.

Notation follows Palette: ``gamma_t`` is the cumulative product of ``1 - beta`` (diffusers calls it
``alphas_cumprod``), and ``y_t = sqrt(gamma) y_0 + sqrt(1 - gamma) eps``. The schedule is kept in float64.

It is a diffusers scheduler (``SchedulerMixin`` + ``ConfigMixin``): its config is saved and loaded as
``scheduler_config.json``, it can drive a diffusers pipeline, and ``DDPMScheduler``, ``DDIMScheduler`` and
``DPMSolverMultistepScheduler`` can be built from its config. Importing it imports diffusers (seconds on a
small CPU), so the command line imports this module only when it samples; training's noise levels come from
``palette_kit.diffusion.gammas`` alone.
"""
from __future__ import annotations

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_ddpm import DDPMSchedulerOutput
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from palette_kit.diffusion.gammas import linear_gammas
from palette_kit.diffusion.noise import Generators, randn

#: The choices this schedule makes, under diffusers' option names: a config asking for another is refused.
FIXED = {"beta_schedule": "linear", "variance_type": "fixed_small", "prediction_type": "epsilon",
         "timestep_spacing": "trailing"}


class LinearSchedule(SchedulerMixin, ConfigMixin):
    """Betas linear in ``[beta_start, beta_end]`` over ``num_train_timesteps`` steps; the model predicts eps.

    ``set_timesteps(n)`` strides through the schedule with diffusers' "trailing" spacing (the first step is
    always the noisiest one), or takes descending custom ``timesteps``; ``step`` draws from the DDPM posterior
    ``q(y_s | y_t, y_0)`` from ``t`` to the previous sampled step ``s`` (no noise on the last step).
    """

    config_name = "scheduler_config.json"
    _compatibles = ["DDPMScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler"]
    order = 1
    init_noise_sigma = 1.0  # y_T is unit Gaussian noise

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 2000,
        beta_start: float = 1e-6,
        beta_end: float = 1e-2,
        clip_sample: bool = True,
        beta_schedule: str = "linear",
        variance_type: str = "fixed_small",
        prediction_type: str = "epsilon",
        timestep_spacing: str = "trailing",
    ) -> None:
        chosen = {"beta_schedule": beta_schedule, "variance_type": variance_type,
                  "prediction_type": prediction_type, "timestep_spacing": timestep_spacing}
        for name, value in chosen.items():
            if value != FIXED[name]:
                raise ValueError(f"LinearSchedule offers only {name}={FIXED[name]!r}, not {value!r}")
        self.gammas = linear_gammas(num_train_timesteps, beta_start, beta_end)
        self.alphas_cumprod = self.gammas  # the name diffusers' samplers read
        self.set_timesteps(num_train_timesteps)

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        timesteps: list[int] | None = None,
    ) -> None:
        """Sample on ``num_inference_steps`` timesteps from ``T - 1`` down ("trailing" spacing), or on the
        given ``timesteps`` (strictly descending, within ``0..T-1``)."""
        total = self.config.num_train_timesteps
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("pass either num_inference_steps or timesteps, not both")
        if timesteps is not None:
            spaced = np.asarray(timesteps, dtype=np.int64)
            if spaced.ndim != 1 or not len(spaced) or np.any(spaced[1:] >= spaced[:-1]) \
                    or spaced[0] >= total or spaced[-1] < 0:
                raise ValueError(f"timesteps must descend strictly within 0..{total - 1}, got {list(timesteps)}")
        else:
            if not 1 <= num_inference_steps <= total:
                raise ValueError(f"steps must be in 1..{total}, got {num_inference_steps}")
            spaced = np.round(np.arange(total, 0, -total / num_inference_steps)).astype(np.int64) - 1
        self.num_inference_steps = len(spaced)
        self.timesteps = torch.from_numpy(spaced).to(device)

    def previous_timestep(self, timestep: int | torch.Tensor) -> torch.Tensor:
        """The sampled step after ``timestep``, or -1 after the last one."""
        later = self.timesteps[self.timesteps < int(timestep)]
        return later[0] if len(later) else torch.tensor(-1)

    def gamma(self, timestep: int) -> torch.Tensor:
        """``gamma_t``, with ``gamma_{-1} = 1`` (no noise)."""
        return self.gammas[timestep] if timestep >= 0 else torch.ones((), dtype=torch.float64)

    def _get_variance(self, timestep: int | torch.Tensor) -> torch.Tensor:
        """The posterior variance from ``timestep`` to the previous sampled step (diffusers' DDPM name)."""
        t = int(timestep)
        gamma_t, gamma_s = self.gamma(t), self.gamma(int(self.previous_timestep(t)))
        return (1 - gamma_s) / (1 - gamma_t) * (1 - gamma_t / gamma_s)

    def scale_model_input(self, sample: torch.Tensor, timestep: int | None = None) -> torch.Tensor:
        """The model sees ``y_t`` itself: nothing to scale."""
        return sample

    def add_noise(
        self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """``y_t = sqrt(gamma_t) y_0 + sqrt(1 - gamma_t) eps`` for a batch of timesteps."""
        gamma = self.gammas.to(original_samples.device)[timesteps.to(original_samples.device)]
        gamma = gamma.to(original_samples.dtype).view(-1, *([1] * (original_samples.ndim - 1)))
        return gamma.sqrt() * original_samples + (1 - gamma).sqrt() * noise

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generator: Generators = None,
        return_dict: bool = True,
    ) -> DDPMSchedulerOutput | tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step: y_0 from eps (clipped to [-1, 1] with ``clip_sample``), then a posterior draw."""
        t, s = int(timestep), int(self.previous_timestep(timestep))
        gamma_t, gamma_s = self.gamma(t), self.gamma(s)
        alpha = gamma_t / gamma_s  # the jump's own 1 - beta
        y_t = sample
        y_0 = (y_t - (1 - gamma_t).sqrt() * model_output) / gamma_t.sqrt()
        if self.config.clip_sample:
            y_0 = y_0.clamp(-1.0, 1.0)
        mean = (gamma_s.sqrt() * (1 - alpha) * y_0 + alpha.sqrt() * (1 - gamma_s) * y_t) / (1 - gamma_t)
        y_s = mean.to(sample.dtype)
        if s >= 0:  # no noise at the last step
            noise = randn(sample.shape, generator, sample.device, sample.dtype)
            y_s = y_s + self._get_variance(t).clamp(min=1e-20).sqrt().to(sample.dtype) * noise
        y_0 = y_0.to(sample.dtype)
        return DDPMSchedulerOutput(prev_sample=y_s, pred_original_sample=y_0) if return_dict else (y_s, y_0)

    def __len__(self) -> int:
        return self.config.num_train_timesteps
