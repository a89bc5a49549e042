"""Samplers: plain functions with one signature, driven by any scheduler with diffusers' contract."""
from __future__ import annotations

from typing import Callable, Protocol

from tqdm.auto import tqdm

from palette_kit.diffusion.noise import Generators
from palette_kit.lazy import lazy

torch = lazy("torch")

#: The eps-model: (y_t, y_cond, gamma (B,)) -> predicted eps, e.g. an ``EpsModel``.
EpsFn = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
#: Called at every step with (step index, timestep, y_t, the y_0 the model predicts from that y_t).
Callback = Callable[[int, int, "torch.Tensor", "torch.Tensor"], None]
#: Applied after every step to (y_t, gamma of that y_t (B,), generators); returns the y_t to go on with.
SamplingHook = Callable[["torch.Tensor", "torch.Tensor", Generators], "torch.Tensor"]


class Scheduler(Protocol):
    """What a sampler needs of a scheduler (our LinearSchedule and diffusers' schedulers alike)."""

    alphas_cumprod: torch.Tensor
    timesteps: torch.Tensor

    def set_timesteps(self, num_inference_steps: int) -> None: ...

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, **kwargs): ...


def predict_y_0(y_t: torch.Tensor, eps: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``y_0`` implied by ``eps`` at noise level ``gamma`` (B,), clipped to [-1, 1]."""
    g = gamma.view(-1, 1, 1, 1)
    return ((y_t - (1 - g).sqrt() * eps) / g.sqrt()).clamp(-1.0, 1.0)


def restore(
    net: EpsFn,
    y_cond: torch.Tensor,
    y_T: torch.Tensor,
    scheduler: Scheduler,
    steps: int,
    generator: Generators = None,
    callback: Callback | None = None,
    hook: SamplingHook | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Palette's restoration loop: from the noise ``y_T`` to ``y_0``, conditioned on ``y_cond``.

    Each scheduler timestep ``t`` indexes the sampling schedule, and the model is conditioned on
    ``gamma_t`` (the scheduler's ``alphas_cumprod[t]``), never on ``t`` itself: any scheduler and
    any number of steps works with a model trained on any schedule. ``generator`` feeds the
    scheduler's and the hook's noise. ``hook``, if given, may change each new ``y_t``.
    """
    with torch.inference_mode():
        scheduler.set_timesteps(steps)
        b = y_T.shape[0]
        gammas = scheduler.alphas_cumprod.to(y_T.device, torch.float32)
        timesteps = [int(t) for t in scheduler.timesteps]
        y_t = y_T
        for i, t in enumerate(tqdm(timesteps, desc="sampling", leave=False, disable=None if progress else True)):
            gamma = gammas[t].expand(b)
            eps = net(y_t, y_cond, gamma).to(y_t.dtype)
            if callback is not None:
                callback(i, t, y_t, predict_y_0(y_t, eps, gamma))
            y_t = scheduler.step(eps, t, y_t, generator=generator).prev_sample
            if hook is not None:
                gamma_next = gammas[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.ones((), device=y_t.device)
                y_t = hook(y_t, gamma_next.expand(b), generator)
        return y_t.clamp(-1.0, 1.0)
