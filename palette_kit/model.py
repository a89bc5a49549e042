"""A trained model as one object: task, eps-model, schedules and sampling defaults, saved as a checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from palette_kit.checkpoint import load_checkpoint, save_checkpoint
from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.loss import PaletteLoss
from palette_kit.diffusion.noise import randn
from palette_kit.diffusion.presets import Sampling, Schedules, make_scheduler, schedule_preset
from palette_kit.diffusion.sampler import Callback, EpsFn, Generators, Scheduler, restore
from palette_kit.errors import CheckpointError, InputError
from palette_kit.nn.unet import UNet, UNetConfig, preset as unet_preset
from palette_kit.runtime import Runtime
from palette_kit.schema import MAX_PARAMETERS
from palette_kit.tasks import Task, load_task


@dataclass
class Palette:
    """Everything that rebuilds a model: its task, its network, and how it was trained and samples."""

    task: Task
    net: EpsModel
    schedules: Schedules
    sampling: Sampling = field(default_factory=Sampling)
    runtime: Runtime | None = field(default=None, init=False, repr=False)
    _eps: EpsFn | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(cls, task: Task, preset: str = "small", schedule: str | Schedules = "palette",
               sampler: str = "linear", steps: int | None = None, prediction: str = "eps",
               **unet_overrides: Any) -> Palette:
        """A fresh model for ``task``: the UNet ``preset`` (fields overridden by ``unet_overrides``) with
        the task's channels, the named (or given) schedules, and ``sampler`` with ``steps`` (default:
        all of the sampling schedule's) as sampling defaults; ``prediction``: see ``EpsModel``."""
        schedules = schedule_preset(schedule) if isinstance(schedule, str) else schedule
        total = schedules.sample.num_train_timesteps
        if steps is not None and not 1 <= steps <= total:
            raise InputError(f"sampling steps must be between 1 and {total}, got {steps}")
        unet = unet_preset(preset, task.cond_channels + task.target_channels, task.target_channels,
                           **unet_overrides)
        return cls.build(task, unet, schedules, Sampling(sampler, steps or total), prediction)

    @classmethod
    def build(cls, task: Task, unet: UNetConfig, schedules: Schedules, sampling: Sampling,
              prediction: str = "eps") -> Palette:
        """The one place a network is built: ``unet`` must have ``task``'s channels."""
        wanted = (task.cond_channels + task.target_channels, task.target_channels)
        if (unet.in_channels, unet.out_channels) != wanted:
            raise ValueError(f"the UNet has {unet.in_channels} -> {unet.out_channels} channels; task "
                             f"{task.name!r} needs {wanted[0]} -> {wanted[1]} (condition + target -> target)")
        return cls(task, EpsModel(UNet(unet), prediction), schedules, sampling)

    @property
    def unet_config(self) -> UNetConfig:
        return self.net.backbone.config

    @property
    def prediction(self) -> str:
        """What the backbone predicts: ``"eps"`` or ``"v"``."""
        return self.net.prediction

    @property
    def image_size(self) -> int:
        return self.unet_config.image_size

    @property
    def config(self) -> dict[str, Any]:
        """JSON-ready description from which ``from_config`` rebuilds this model."""
        return {
            "task": {"name": self.task.name, "options": self.task.config},
            "unet": self.unet_config.to_dict(),
            "schedule": self.schedules.to_dict(),
            "sampling": self.sampling.to_dict(),
            "prediction": self.prediction,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Palette:
        try:
            task = load_task(config["task"]["name"])(**config["task"]["options"])
            return cls.build(task, UNetConfig.from_dict(config["unet"]), Schedules.from_dict(config["schedule"]),
                             Sampling.from_dict(config["sampling"]),
                             config.get("prediction", "eps"))  # checkpoints from before v-prediction: eps
        except (KeyError, TypeError, ValueError, InputError) as exc:
            raise CheckpointError(f"checkpoint config is incomplete or malformed: {type(exc).__name__}: {exc}") from exc

    def save(self, path: Path, dtype: torch.dtype | None = None, **extra: Any) -> None:
        """Write a checkpoint folder (weights optionally stored as ``dtype``); ``extra`` goes into its config."""
        save_checkpoint(path, {**self.config, **extra}, self.net.state_dict(), dtype)

    @classmethod
    def shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """The weight shapes of the model ``config`` describes, found without allocating it (meta tensors)."""
        with torch.device("meta"):
            net = cls.from_config(config).net
        if sum(p.numel() for p in net.parameters()) > MAX_PARAMETERS:
            raise CheckpointError(f"checkpoint config describes a network of more than {MAX_PARAMETERS:,} parameters")
        return {key: tuple(value.shape) for key, value in net.state_dict().items()}

    @classmethod
    def load(cls, path: Path) -> Palette:
        """A checkpoint folder as a model: config validated, weight shapes checked, then weights read."""
        config, state = load_checkpoint(path, cls.shapes)
        model = cls.from_config(config)
        try:
            model.net.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint weights do not match its config: {path}") from exc
        model.net.eval()
        return model

    def loss(self) -> PaletteLoss:
        """The training objective over this model's training schedule."""
        return PaletteLoss(self.schedules.train.gammas(), self.prediction)

    def scheduler(self, sampler: str | None = None) -> Scheduler:
        """The scheduler of ``sampler`` (default: the model's) over the sampling schedule."""
        return make_scheduler(sampler or self.sampling.sampler, self.schedules.sample)

    def to(self, runtime: Runtime) -> Palette:
        """Sample with ``runtime`` (device, autocast dtype, channels-last, compilation) from now on."""
        self.runtime, self._eps = runtime, runtime.prepare(self.net)
        return self

    def sample(self, y_cond: torch.Tensor, steps: int | None = None, sampler: str | None = None,
               generator: Generators = None, callback: Callback | None = None,
               progress: bool = False) -> torch.Tensor:
        """Restore targets for a batch of conditions with the model's (or the given) sampling settings.

        With one generator per sample, each sample depends on its own generator alone, whatever
        else is in the batch. Runs as set by ``to`` (default: float32 where the weights are).
        """
        b, _, h, w = y_cond.shape
        y_T = randn((b, self.task.target_channels, h, w), generator, y_cond.device)
        return restore(self._eps or self.net, y_cond, y_T, self.scheduler(sampler), steps or self.sampling.steps,
                       generator=generator, callback=callback, hook=self.task.sampling_hook(y_cond),
                       progress=progress)
