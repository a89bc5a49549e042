"""The conditional denoiser: an eps-model around a task-agnostic backbone."""
from __future__ import annotations

import torch
from torch import nn

#: What the backbone's output means: eps (Palette) or v = sqrt(gamma) eps - sqrt(1 - gamma) y_0.
PREDICTIONS = ("eps", "v")


class Denoiser(nn.Module):
    """Predicts eps from the noisy target ``y_t``, the condition ``y_cond`` and the noise level ``gamma``.

    The backbone sees ``concat(y_cond, y_t)`` and ``gamma``; it knows neither tasks nor schedules.
    With ``prediction="v"`` (Salimans & Ho 2022) the backbone predicts ``v`` and this wrapper turns it
    into ``eps = sqrt(gamma) v + sqrt(1 - gamma) y_t``, so samplers see an eps-model either way.
    Near pure noise eps is then y_t itself whatever the backbone says, and the backbone's output
    is a ``y_0`` estimate that the sampler does not amplify by ``1 / sqrt(gamma)``.
    """

    def __init__(self, backbone: nn.Module, target_channels: int, prediction: str = "eps") -> None:
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")
        self.backbone = backbone
        self.target_channels = target_channels
        self.prediction = prediction

    def forward(self, y_t: torch.Tensor, y_cond: torch.Tensor, gamma: torch.Tensor,
                context: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``context``: the backbone's per-level feature maps of the condition, if it takes them."""
        x, gamma_b = torch.cat([y_cond, y_t], dim=1), gamma.to(y_t.dtype).reshape(-1)
        out = self.backbone(x, gamma_b) if context is None else self.backbone(x, gamma_b, context)
        if self.prediction == "eps":
            return out
        g = gamma.reshape(-1, 1, 1, 1).to(out.dtype)
        return g.sqrt() * out + (1 - g).sqrt() * y_t
