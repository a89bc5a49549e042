"""Progressive distillation's objective (Salimans & Ho, ICLR 2022): one student DDIM step does two of its teacher's.

A student that samples in ``n`` DDIM steps walks the grid ``t_k = k T / n - 1`` (k = n..1) of a sampling
schedule of ``T`` steps and ends on the clean target; with ``T`` divisible by ``n`` this is exactly the grid
of our ``DDIM``, so the student is then sampled by ``--sampler ddim --steps n`` like any model.
Its teacher (the previous round's model) takes two DDIM steps over the same interval, through its midpoint;
fractional timesteps are fine, as every network here is conditioned on ``gamma``, not on ``t``.
"""
from __future__ import annotations

import torch

from palette_kit.diffusion.eps_model import EpsModel


class StudentGrid:
    """``gamma`` along a sampling schedule at any real timestep in ``[-1, T - 1]`` (``gamma_{-1} = 1``): log-linear
    between the schedule's integer steps, so the grid's integer points see exactly the schedule's values."""

    def __init__(self, gammas: torch.Tensor, steps: int) -> None:
        self.log_gammas = torch.cat([torch.zeros(1, dtype=torch.float64), gammas.to(torch.float64).log()])
        self.total, self.steps = len(gammas), steps

    def gamma(self, t: torch.Tensor) -> torch.Tensor:
        """``gamma`` at timesteps ``t`` (float64, any shape)."""
        log_gammas = self.log_gammas.to(t.device)
        x = (t.to(torch.float64) + 1).clamp(0, self.total)  # index into log_gammas
        low = x.floor().long().clamp(max=self.total - 1)
        frac = x - low
        return (log_gammas[low] * (1 - frac) + log_gammas[low + 1] * frac).exp()

    def interval(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For student steps ``k`` (1..steps, the k-th from the clean end): gamma at ``t_k``, at the midpoint
        and at ``t_{k-1}`` (``t_0`` is the clean target)."""
        t = k.to(torch.float64) * self.total / self.steps - 1
        width = self.total / self.steps
        s = torch.where(k > 1, t - width, torch.full_like(t, -1.0))
        return self.gamma(t), self.gamma((t + s) / 2), self.gamma(s)


def ddim_step(y_t: torch.Tensor, y_0: torch.Tensor, gamma_t: torch.Tensor, gamma_s: torch.Tensor) -> torch.Tensor:
    """The deterministic DDIM step from noise level ``gamma_t`` to ``gamma_s`` given the predicted ``y_0``."""
    eps = (y_t - gamma_t.sqrt() * y_0) / (1 - gamma_t).sqrt()
    return gamma_s.sqrt() * y_0 + (1 - gamma_s).sqrt() * eps


class DistillationLoss:
    """Salimans & Ho's loss: the student's ``y_0`` at ``t_k`` must be the one whose single DDIM step lands
    where the teacher's two steps land, weighted by ``max(SNR, 1)`` ("truncated SNR").

    The teacher's ``y_0`` is clipped to [-1, 1] as DDIM does when it samples. Same call as ``PaletteLoss``.
    """

    def __init__(self, teacher: EpsModel, gammas: torch.Tensor, steps: int) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.grid = StudentGrid(gammas, steps)

    def _teacher_y_0(self, y_t: torch.Tensor, y_cond: torch.Tensor, gamma: torch.Tensor,
                     context: list[torch.Tensor] | None) -> torch.Tensor:
        return self.teacher(y_t, y_cond, gamma, context, output="y_0").clamp(-1.0, 1.0)

    def __call__(self, net: EpsModel, y_0: torch.Tensor, y_cond: torch.Tensor,
                 generator: torch.Generator | None = None, context: list[torch.Tensor] | None = None) -> torch.Tensor:
        b, device = y_0.shape[0], y_0.device
        k = torch.randint(1, self.grid.steps + 1, (b,), device=device, generator=generator)
        gamma_t, gamma_mid, gamma_s = (g.to(device, torch.float32).view(b, 1, 1, 1) for g in self.grid.interval(k))
        eps = torch.randn(y_0.shape, device=device, generator=generator)
        y_t = gamma_t.sqrt() * y_0 + (1 - gamma_t).sqrt() * eps
        with torch.no_grad():
            y_mid = ddim_step(y_t, self._teacher_y_0(y_t, y_cond, gamma_t, context), gamma_t, gamma_mid)
            y_s = ddim_step(y_mid, self._teacher_y_0(y_mid, y_cond, gamma_mid, context), gamma_mid, gamma_s)
            ratio = ((1 - gamma_s) / (1 - gamma_t)).sqrt()  # the y_t share of a DDIM step from t to s
            target = (y_s - ratio * y_t) / (gamma_s.sqrt() - ratio * gamma_t.sqrt())
        y_0_hat = net(y_t, y_cond, gamma_t, context, output="y_0")
        weight = (gamma_t / (1 - gamma_t)).clamp(min=1.0)
        return (weight * (y_0_hat - target).square()).mean()
