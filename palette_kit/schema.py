"""The schema of a checkpoint's ``config.json``: types and bounds checked before anything is built.

The checksum in a config covers the weights, not the config itself, and the model is built from the
config. So every value is checked here first: a hostile or damaged config (a width of 32768, 10**7
residual blocks, 10**11 noise steps, a negative channel count) is one ``CheckpointError`` line,
never a huge allocation. The bounds are far above every preset (``tiny``, ``small``, ``seed``) and far
below what would exhaust a machine; the weights' shapes are then checked against the model the config
describes (``Palette.load``) before any weight is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from palette_kit.choices import NOISE_INPUTS, PREDICTIONS, SAMPLERS
from palette_kit.errors import CheckpointError

#: A config file larger than this is not a palette-kit config (ours are about 1 KB).
MAX_CONFIG_BYTES = 1 << 20
#: The most parameters a checkpoint's network may have (4 GB of float32; the ``seed`` preset has 62.6 M).
MAX_PARAMETERS = 1_000_000_000

Name = Annotated[str, Field(min_length=1, max_length=100)]
Scalar = Union[bool, int, float, Annotated[str, Field(max_length=4096)], None]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TaskSection(_Section):
    name: Name
    options: Annotated[dict[Name, Union[Scalar, Annotated[list[Scalar], Field(max_length=64)]]],
                       Field(max_length=64)] = {}


class UNetSection(_Section):
    in_channels: Annotated[int, Field(ge=1, le=64)]
    out_channels: Annotated[int, Field(ge=1, le=64)]
    inner_channels: Annotated[int, Field(ge=1, le=1024)] = 64
    channel_mults: Annotated[list[Annotated[int, Field(ge=1, le=32)]], Field(min_length=1, max_length=8)] = [1, 2, 4, 8]
    res_blocks: Annotated[int, Field(ge=0, le=16)] = 2
    attention_resolutions: Annotated[list[Annotated[int, Field(ge=1, le=8192)]], Field(max_length=8)] = [16]
    head_channels: Annotated[int, Field(ge=1, le=1024)] = 32
    dropout: Annotated[float, Field(ge=0, le=1)] = 0.2
    image_size: Annotated[int, Field(ge=8, le=8192)] = 128
    checkpointing: bool = False
    noise_input: Literal[NOISE_INPUTS] = "gamma"  # type: ignore[valid-type]
    context_channels: Annotated[list[Annotated[int, Field(ge=1, le=8192)]], Field(max_length=8)] = []

    @model_validator(mode="after")
    def _widest_level(self) -> UNetSection:
        if self.inner_channels * max(self.channel_mults) > 8192:
            raise ValueError(f"the widest level has {self.inner_channels * max(self.channel_mults)} channels "
                             "(inner_channels x the largest channel_mult); at most 8192")
        return self


class ScheduleSection(_Section):
    num_train_timesteps: Annotated[int, Field(ge=1, le=100_000)]
    beta_start: Annotated[float, Field(gt=0, lt=1)]
    beta_end: Annotated[float, Field(gt=0, lt=1)]


class SchedulesSection(_Section):
    train: ScheduleSection
    sample: ScheduleSection


class SamplingSection(_Section):
    """``scheduler`` is the name older checkpoints give the sampler."""

    sampler: Optional[Literal[SAMPLERS]] = None  # type: ignore[valid-type]
    scheduler: Optional[Literal[SAMPLERS]] = None  # type: ignore[valid-type]
    steps: Annotated[int, Field(ge=1, le=100_000)]


class EncoderSection(_Section):
    name: Name
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class DistillationSection(_Section):
    """How a distilled student was made (``palette_kit.distillation.rounds.Distillation.record``)."""

    method: Literal["progressive"]
    teacher_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    teacher_steps: Annotated[int, Field(ge=2, le=100_000)]
    rounds: Annotated[list[Annotated[int, Field(ge=1, le=100_000)]], Field(min_length=1, max_length=32)]
    epochs_per_round: Annotated[int, Field(ge=1)]
    samples_per_epoch: Optional[Annotated[int, Field(ge=1)]] = None
    batch_size: Annotated[int, Field(ge=1)]
    lr: float
    ema_decay: float
    seed: int
    seconds: Annotated[float, Field(ge=0)]


class CheckpointConfig(BaseModel):
    """A whole ``config.json``; other top-level keys (a recipe, an epoch) may only hold plain values."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    format: str
    task: TaskSection
    unet: UNetSection
    schedule: SchedulesSection
    sampling: SamplingSection
    prediction: Literal[PREDICTIONS] = "eps"  # type: ignore[valid-type]
    encoder: Optional[EncoderSection] = None
    distillation: Optional[DistillationSection] = None
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @model_validator(mode="after")
    def _consistent(self) -> CheckpointConfig:
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, (bool, int, float, str, type(None))) or len(str(value)) > 4096:
                raise ValueError(f"top-level key {key!r} must hold a plain value")
        if (self.sampling.sampler or self.sampling.scheduler) is None:
            raise ValueError("sampling names no sampler")
        if self.sampling.steps > self.schedule.sample.num_train_timesteps:
            raise ValueError(f"sampling.steps {self.sampling.steps} exceeds the sampling schedule's "
                             f"{self.schedule.sample.num_train_timesteps} steps")
        for part in (self.schedule.train, self.schedule.sample):
            if part.beta_start > part.beta_end:
                raise ValueError(f"beta_start {part.beta_start} is above beta_end {part.beta_end}")
        return self


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message} (got {shown})" if where else message


def validate_config(config: Any, path: Path) -> dict[str, Any]:
    """``config`` unchanged if it fits the schema; else a one-line ``CheckpointError`` naming ``path``."""
    try:
        CheckpointConfig.model_validate(config)
    except ValidationError as exc:
        raise CheckpointError(f"invalid checkpoint config {path}: {_first_error(exc)}") from None
    return config

