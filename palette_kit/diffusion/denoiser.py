"""The conditional denoiser: Palette's eps-model around a task-agnostic backbone."""
from __future__ import annotations

import torch
from torch import nn


class Denoiser(nn.Module):
    """Predicts eps from the noisy target ``y_t``, the condition ``y_cond`` and the noise level ``gamma``.

    The backbone sees ``concat(y_cond, y_t)`` and ``gamma``; it knows neither tasks nor schedules.
    """

    def __init__(self, backbone: nn.Module, target_channels: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.target_channels = target_channels

    def forward(self, y_t: torch.Tensor, y_cond: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        return self.backbone(torch.cat([y_cond, y_t], dim=1), gamma.to(y_t.dtype).reshape(-1))
