"""A trained model as one object: task, eps-model, schedules and sampling defaults, saved as a checkpoint."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from palette_kit.checkpoint import load_checkpoint, save_checkpoint
from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.loss import PaletteLoss
from palette_kit.diffusion.noise import randn
from palette_kit.diffusion.presets import Sampling, Schedules, make_scheduler, schedule_preset
from palette_kit.diffusion.sampler import Callback, EpsFn, Generators, Scheduler, restore
from palette_kit.errors import CheckpointError, InputError
from palette_kit.nn.encoders import FrozenEncoder, encoder_spec, level_features
from palette_kit.nn.unet import UNet, UNetConfig, preset as unet_preset
from palette_kit.runtime import Runtime
from palette_kit.schema import MAX_PARAMETERS
from palette_kit.tasks import Task, load_task


@dataclass
class Palette:
    """Everything that rebuilds a model: its task, its network, and how it was trained and samples.

    With an ``encoder`` (a frozen pretrained network, not saved with the weights), conditions are given at
    ``condition_size`` (the encoder's resolution); ``inputs`` computes the encoder's features once and
    area-averages the condition down to the network's ``image_size``.
    """

    task: Task
    net: EpsModel
    schedules: Schedules
    sampling: Sampling = field(default_factory=Sampling)
    encoder: FrozenEncoder | None = field(default=None, repr=False)
    runtime: Runtime | None = field(default=None, init=False, repr=False)
    _eps: EpsFn | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(cls, task: Task, preset: str = "small", schedule: str | Schedules = "palette",
               sampler: str = "linear", steps: int | None = None, prediction: str = "eps",
               encoder: str | None = None, **unet_overrides: Any) -> Palette:
        """A fresh model for ``task``: the UNet ``preset`` (fields overridden by ``unet_overrides``) with
        the task's channels, the named (or given) schedules, and ``sampler`` with ``steps`` (default:
        all of the sampling schedule's) as sampling defaults; ``prediction``: see ``EpsModel``;
        ``encoder``: a frozen pretrained encoder of the condition (``palette_kit.nn.encoders.ENCODERS``)."""
        schedules = schedule_preset(schedule) if isinstance(schedule, str) else schedule
        total = schedules.sample.num_train_timesteps
        if steps is not None and not 1 <= steps <= total:
            raise InputError(f"sampling steps must be between 1 and {total}, got {steps}")
        unet = unet_preset(preset, task.cond_channels + task.target_channels, task.target_channels,
                           **unet_overrides)
        return cls.build(task, unet, schedules, Sampling(sampler, steps or total), prediction, encoder)

    @classmethod
    def build(cls, task: Task, unet: UNetConfig, schedules: Schedules, sampling: Sampling,
              prediction: str = "eps", encoder: str | None = None) -> Palette:
        """The one place a network is built: ``unet`` must have ``task``'s channels; with an ``encoder``,
        its ``context_channels`` are those of the encoder's maps assigned to its levels."""
        wanted = (task.cond_channels + task.target_channels, task.target_channels)
        if (unet.in_channels, unet.out_channels) != wanted:
            raise ValueError(f"the UNet has {unet.in_channels} -> {unet.out_channels} channels; task "
                             f"{task.name!r} needs {wanted[0]} -> {wanted[1]} (condition + target -> target)")
        frozen = None
        if encoder is not None:
            spec = encoder_spec(encoder)
            if task.encoder_picture(torch.zeros(1, task.cond_channels, 2, 2, device="cpu")) is None:
                raise InputError(f"task {task.name!r} cannot use an encoder: it defines no encoder_picture")
            unet = replace(unet, context_channels=tuple(spec.channels[i] for i in spec.assign(unet.level_sizes)))
            frozen = FrozenEncoder(spec)
        return cls(task, EpsModel(UNet(unet), prediction), schedules, sampling, frozen)

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
    def condition_size(self) -> int:
        """The size conditions are made at: the encoder's resolution when larger than the network's."""
        return max(self.image_size, self.encoder.spec.size) if self.encoder else self.image_size

    @property
    def config(self) -> dict[str, Any]:
        """JSON-ready description from which ``from_config`` rebuilds this model."""
        encoder = self.encoder and {"name": self.encoder.spec.name, "weights_sha256": self.encoder.spec.weights_sha256}
        return {
            "task": {"name": self.task.name, "options": self.task.config},
            "unet": self.unet_config.to_dict(),
            "schedule": self.schedules.to_dict(),
            "sampling": self.sampling.to_dict(),
            "prediction": self.prediction,
            "encoder": encoder,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], meta: bool = False) -> Palette:
        """The model ``config`` describes, its network (and encoder) built on the meta device if ``meta``:
        shapes without memory or weights."""
        encoder = config.get("encoder")  # None in checkpoints from before encoders
        try:
            if encoder is not None and encoder_spec(encoder["name"]).weights_sha256 != encoder.get("weights_sha256"):
                raise CheckpointError(f"the checkpoint was trained with other {encoder['name']} weights than the "
                                      f"installed ones (SHA-256 {encoder.get('weights_sha256')})")
            task = load_task(config["task"]["name"])(**config["task"]["options"])
            unet, schedules = UNetConfig.from_dict(config["unet"]), Schedules.from_dict(config["schedule"])
            sampling = Sampling.from_dict(config["sampling"])
            with torch.device("meta") if meta else contextlib.nullcontext():
                return cls.build(task, unet, schedules, sampling,
                                 config.get("prediction", "eps"),  # checkpoints from before v-prediction: eps
                                 encoder and encoder["name"])
        except (KeyError, TypeError, ValueError, InputError) as exc:
            raise CheckpointError(f"checkpoint config is incomplete or malformed: {type(exc).__name__}: {exc}") from exc

    def save(self, path: Path, dtype: torch.dtype | None = None, **extra: Any) -> None:
        """Write a checkpoint folder (weights optionally stored as ``dtype``); ``extra`` goes into its config."""
        save_checkpoint(path, {**self.config, **extra}, self.net.state_dict(), dtype)

    @classmethod
    def load(cls, path: Path) -> Palette:
        """A checkpoint folder as a model: config validated, weight shapes checked, then weights read.

        The network is built once, on the meta device, where its shapes are checked against the file's
        before a weight is read; it then takes the weights read as its own. The encoder, built there too,
        then takes its pretrained weights (they are not in checkpoints)."""
        built: list[Palette] = []

        def shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
            built.append(model := cls.from_config(config, meta=True))
            if sum(p.numel() for p in model.net.parameters()) > MAX_PARAMETERS:
                raise CheckpointError(f"checkpoint config describes a network of more than {MAX_PARAMETERS:,} "
                                      "parameters")
            return {key: tuple(value.shape) for key, value in model.net.state_dict().items()}

        _, state = load_checkpoint(path, shapes)
        model = built[0]
        try:
            model.net.load_state_dict(state, assign=True)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint weights do not match its config: {path}") from exc
        if model.encoder is not None:
            model.encoder.load_weights()
        model.net.eval()
        return model

    def warm_start(self, source: Palette) -> None:
        """Start from ``source``'s weights: every tensor of the same name and shape is copied.

        The network's first convolution sees ``concat(y_cond, y_t)``; when this model's condition has more
        channels than ``source``'s (a task option that adds inputs, e.g. colour hints), ``source``'s
        condition channels come first and the new ones start at zero, so the model starts as ``source``.
        """
        ours, theirs = self.net.state_dict(), source.net.state_dict()
        old_cond, new_cond = source.task.cond_channels, self.task.cond_channels
        for key, value in theirs.items():
            if key not in ours:
                continue
            if ours[key].shape == value.shape:
                ours[key].copy_(value)
            elif key == "backbone.conv_in.weight" and ours[key].shape[1] - value.shape[1] == new_cond - old_cond > 0:
                ours[key].zero_()
                ours[key][:, :old_cond] = value[:, :old_cond]
                ours[key][:, new_cond:] = value[:, old_cond:]

    def loss(self) -> PaletteLoss:
        """The training objective over this model's training schedule."""
        return PaletteLoss(self.schedules.train.gammas(), self.prediction)

    def scheduler(self, sampler: str | None = None) -> Scheduler:
        """The scheduler of ``sampler`` (default: the model's) over the sampling schedule."""
        return make_scheduler(sampler or self.sampling.sampler, self.schedules.sample)

    def to(self, runtime: Runtime) -> Palette:
        """Sample with ``runtime`` (device, autocast dtype, channels-last, compilation) from now on."""
        self.runtime, self._eps = runtime, runtime.prepare(self.net)
        if self.encoder is not None:
            self.encoder.to(runtime.device, memory_format=torch.channels_last if runtime.channels_last
                            else torch.contiguous_format)
        return self

    def at_model_size(self, images: torch.Tensor | None) -> torch.Tensor | None:
        """Images (B, C, H, W) area-averaged to the network's ``image_size`` squared (unchanged if there)."""
        size = (self.image_size, self.image_size)
        return images if images is None or images.shape[-2:] == size else F.interpolate(images, size, mode="area")

    def inputs(self, y_cond: torch.Tensor, y_0: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor] | None]:
        """Condition and target at model size, and the encoder's per-level features of the condition (or None).

        The target is what the network generates: ``y_0`` less the task's ``base``, where it has one.
        """
        context = None
        if self.encoder is not None:
            features = self.encoder(self.task.encoder_picture(y_cond))
            assignment = self.encoder.spec.assign(self.unet_config.level_sizes)
            context = level_features(features, assignment, self.image_size, self.image_size)
        y_cond, y_0 = self.at_model_size(y_cond), self.at_model_size(y_0)
        base = self.task.base(y_cond)
        if y_0 is not None and base is not None:
            y_0 = y_0 - base
        return y_cond, y_0, context

    def sample(self, y_cond: torch.Tensor, steps: int | None = None, sampler: str | None = None,
               generator: Generators = None, callback: Callback | None = None,
               progress: bool = False) -> torch.Tensor:
        """Restore targets for a batch of conditions with the model's (or the given) sampling settings.

        With one generator per sample, each sample depends on its own generator alone, whatever
        else is in the batch. Runs as set by ``to`` (default: float32 where the weights are). Conditions
        come at ``condition_size`` (any size works: they are resized to the network's).
        """
        with self.runtime.autocast() if self.runtime else contextlib.nullcontext():
            y_cond, _, context = self.inputs(y_cond)
        b, _, h, w = y_cond.shape
        y_T = randn((b, self.task.target_channels, h, w), generator, y_cond.device)
        net = self._eps or self.net
        eps_fn = net if context is None else lambda y_t, y_c, gamma: net(y_t, y_c, gamma, context)
        y_0 = restore(eps_fn, y_cond, y_T, self.scheduler(sampler), steps or self.sampling.steps,
                      generator=generator, callback=callback, hook=self.task.sampling_hook(y_cond),
                      progress=progress)
        base = self.task.base(y_cond)
        return y_0 if base is None else (y_0 + base.to(y_0.dtype)).clamp(-1.0, 1.0)
