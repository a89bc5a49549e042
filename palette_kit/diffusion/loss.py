"""Palette's training objective."""
from __future__ import annotations

import torch

from palette_kit.diffusion.eps_model import EpsModel, squared_error


class PaletteLoss:
    """Mean squared error of the network's own prediction at a continuous noise level.

    Draws ``t`` in ``[1, T)``, then ``gamma`` uniformly between ``gamma_t`` and ``gamma_{t-1}``
    of the training schedule, noises ``y_0`` and regresses the noise, weighted by
    ``squared_error`` so that a v-predicting network (``prediction="v"``) learns the MSE of v.
    """

    def __init__(self, gammas: torch.Tensor, prediction: str = "eps") -> None:
        self.gammas = gammas.to(torch.float32)
        self.prediction = prediction

    def __call__(
        self, net: EpsModel, y_0: torch.Tensor, y_cond: torch.Tensor, generator: torch.Generator | None = None,
        context: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        b, device = y_0.shape[0], y_0.device
        gammas = self.gammas.to(device)
        t = torch.randint(1, len(gammas), (b,), device=device, generator=generator)
        u = torch.rand(b, device=device, generator=generator)
        gamma = (gammas[t] + (gammas[t - 1] - gammas[t]) * u).view(b, 1, 1, 1)
        eps = torch.randn(y_0.shape, device=device, generator=generator)
        y_t = gamma.sqrt() * y_0 + (1 - gamma).sqrt() * eps
        eps_hat = net(y_t, y_cond, gamma) if context is None else net(y_t, y_cond, gamma, context)
        return squared_error(eps_hat, eps, gamma, self.prediction).mean()
