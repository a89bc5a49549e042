"""Deterministic DDIM (Song et al. 2021, eta = 0) with diffusers' scheduler contract, without diffusers.

Hand-written because importing diffusers costs 1.6 s on a 2-core CPU (it imports ``torch._dynamo``), a
large share of a few-step model's whole run (``docs/performance.md``). ``tests/test_schedule.py`` holds it to
diffusers' ``DDIMScheduler`` (``clip_sample``, ``set_alpha_to_one``, eta = 0) step by step.
"""
from __future__ import annotations

from dataclasses import dataclass

from palette_kit.lazy import lazy

torch = lazy("torch")


@dataclass
class DDIMOutput:
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class DDIM:
    """DDIM over the noise levels ``gammas`` (``gamma_t`` for t = 0..T-1), on the timesteps ``k * (T // steps) - 1``.

    diffusers' ``DDIMScheduler.step`` always jumps by ``T // steps``; these timesteps are the ones that jump
    lands on (the first within ``T mod steps`` of ``T - 1``), so the sample is always at the noise level the
    model is told. ``step`` clips the predicted ``y_0`` to [-1, 1] and keeps the model's eps, as diffusers
    does; the last step lands on ``y_0`` itself (``gamma = 1``).
    """

    order = 1
    init_noise_sigma = 1.0

    def __init__(self, gammas: torch.Tensor) -> None:
        self.alphas_cumprod = gammas.to(torch.float64)
        self.total = len(gammas)
        self.set_timesteps(self.total)

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        if not 1 <= num_inference_steps <= self.total:
            raise ValueError(f"steps must be in 1..{self.total}, got {num_inference_steps}")
        self.stride = self.total // num_inference_steps
        self.timesteps = torch.arange(num_inference_steps, 0, -1, device=device) * self.stride - 1

    def _gamma(self, t: int) -> torch.Tensor:
        return self.alphas_cumprod[t] if t >= 0 else torch.ones((), dtype=torch.float64)

    def step(self, model_output: torch.Tensor, timestep: int | torch.Tensor, sample: torch.Tensor,
             generator: object = None, return_dict: bool = True) -> DDIMOutput:
        """From ``timestep`` to ``timestep - T // steps``; ``generator`` is accepted and unused (no noise)."""
        t = int(timestep)
        gamma_t, gamma_s = (self._gamma(x).to(sample.dtype) for x in (t, t - self.stride))
        y_0 = ((sample - (1 - gamma_t).sqrt() * model_output) / gamma_t.sqrt()).clamp(-1.0, 1.0)
        return DDIMOutput(gamma_s.sqrt() * y_0 + (1 - gamma_s).sqrt() * model_output, y_0)

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``y_t = sqrt(gamma_t) y_0 + sqrt(1 - gamma_t) eps`` for a batch of timesteps."""
        gamma = self.alphas_cumprod.to(original_samples.device)[timesteps.to(original_samples.device)]
        gamma = gamma.to(original_samples.dtype).view(-1, *([1] * (original_samples.ndim - 1)))
        return gamma.sqrt() * original_samples + (1 - gamma).sqrt() * noise
