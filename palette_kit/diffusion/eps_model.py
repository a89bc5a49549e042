"""The eps-model and the eps/v parameterization: what the backbone predicts, and what that means.

Naming: in EDM (Karras et al. 2022) a *denoiser* ``D(y_t)`` returns the clean image. Our network
returns the noise ``eps`` (the sampler and the schedulers' contract need eps), so it is an
*eps-model*, ``EpsModel``; ``predict_y_0`` in ``sampler.py`` turns its eps into ``y_0``.
"""
from __future__ import annotations

import torch
from torch import nn

from palette_kit.choices import PREDICTIONS  # eps (Palette) or v = sqrt(gamma) eps - sqrt(1 - gamma) y_0


def eps_from_output(out: torch.Tensor, y_t: torch.Tensor, gamma: torch.Tensor, prediction: str) -> torch.Tensor:
    """The eps that the backbone's output ``out`` stands for at noise level ``gamma`` (B,).

    For v: ``eps = sqrt(gamma) v + sqrt(1 - gamma) y_t``. Near pure noise eps is then y_t itself
    whatever the backbone says, and the backbone's output is a ``y_0`` estimate that the sampler
    does not amplify by ``1 / sqrt(gamma)``.
    """
    if prediction == "eps":
        return out
    g = gamma.reshape(-1, 1, 1, 1).to(out.dtype)
    return g.sqrt() * out + (1 - g).sqrt() * y_t


def y_0_from_output(out: torch.Tensor, y_t: torch.Tensor, gamma: torch.Tensor, prediction: str) -> torch.Tensor:
    """The clean target that the backbone's output ``out`` stands for at noise level ``gamma`` (B,), unclipped.

    For v, ``y_0 = sqrt(gamma) y_t - sqrt(1 - gamma) v`` stays exact as gamma goes to 0, where going through
    eps would divide by ``sqrt(gamma)`` (what distillation's few-step students need).
    """
    g = gamma.reshape(-1, 1, 1, 1).to(out.dtype)
    if prediction == "eps":
        return (y_t - (1 - g).sqrt() * out) / g.sqrt()
    return g.sqrt() * y_t - (1 - g).sqrt() * out


def squared_error(eps_hat: torch.Tensor, eps: torch.Tensor, gamma: torch.Tensor, prediction: str) -> torch.Tensor:
    """The training loss per element of an eps estimate, in the units of ``prediction``.

    For eps it is Palette's squared eps error. For v the eps error is ``sqrt(gamma)`` times the v
    error, so dividing by ``gamma`` makes it the squared v error (weight ``1 + SNR`` on ``y_0``).
    """
    error = (eps_hat - eps).square()
    return error if prediction == "eps" else error / gamma


class EpsModel(nn.Module):
    """Predicts eps from the noisy target ``y_t``, the condition ``y_cond`` and the noise level ``gamma``.

    The backbone sees ``concat(y_cond, y_t)`` and ``gamma``; it knows neither tasks nor schedules.
    With ``prediction="v"`` (Salimans & Ho 2022) the backbone predicts ``v`` and this wrapper turns
    it into eps (``eps_from_output``), so samplers see an eps-model either way.
    """

    def __init__(self, backbone: nn.Module, prediction: str = "eps") -> None:
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")
        self.backbone = backbone
        self.prediction = prediction

    def forward(self, y_t: torch.Tensor, y_cond: torch.Tensor, gamma: torch.Tensor,
                context: list[torch.Tensor] | None = None, output: str = "eps") -> torch.Tensor:
        """The predicted eps, or with ``output="y_0"`` the predicted clean target (unclipped; a keyword
        rather than a method so that it goes through DistributedDataParallel too). ``context``: the
        backbone's per-level feature maps of the condition, if it takes them."""
        x, gamma_b = torch.cat([y_cond, y_t], dim=1), gamma.to(y_t.dtype).reshape(-1)
        out = self.backbone(x, gamma_b) if context is None else self.backbone(x, gamma_b, context)
        if output == "y_0":
            return y_0_from_output(out, y_t, gamma, self.prediction)
        return eps_from_output(out, y_t, gamma, self.prediction)
