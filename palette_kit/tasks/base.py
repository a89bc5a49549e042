"""The task contract: everything the core needs to know about an image-to-image problem.

A task says how many channels condition the model (``cond_channels``) and how many it
generates (``target_channels``), turns a square picture into a ``{"y_cond", "y_0"}`` pair in
[-1, 1] (``train_pair``, ``val_pair``; the core builds the datasets), turns tensors into
pictures, and turns a user's image into a condition and back into a result. Pictures are
OpenCV-style BGR ``uint8`` arrays of shape (H, W, 3).

Tasks declare their settings as ``Option``s: ``options`` are fixed when a model is trained
(saved in its checkpoint), ``infer_options`` are given per inference run (e.g. a mask file).
The CLI offers both as ``--name`` flags of ``train`` and ``infer``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from functools import partial
from typing import Any, ClassVar

import click
import numpy as np

from palette_kit.data import Item, PictureDataset, Split, picture_dataset, seeded_generator
from palette_kit.diffusion.sampler import SamplingHook
from palette_kit.errors import InputError
from palette_kit.lazy import lazy

torch = lazy("torch")


@dataclass(frozen=True)
class Option:
    """A task setting, offered on the command line as ``--name`` (underscores become dashes).

    ``type`` is anything click takes as an option type (``int``, ``float``, ``str``, ``pathlib.Path``,
    ``click.Choice([...])``, ``click.FloatRange(0, 1)``, ...); it also validates values given in Python.
    A ``multiple`` option may be given several times; its value is then a tuple.
    """

    name: str
    type: Any
    default: Any = None
    help: str = ""
    multiple: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, value: Any) -> Any:
        """``value`` checked and converted by ``type``; a clear ``InputError`` if it does not fit."""
        if value is None:
            return () if self.multiple else None
        convert = click.types.convert_type(self.type).convert
        try:
            if self.multiple:
                return tuple(convert(v, None, None) for v in ([value] if isinstance(value, str) else value))
            return convert(value, None, None)
        except click.BadParameter as exc:
            raise InputError(f"{self.flag}: {exc.message}") from exc


def resolve_options(declared: tuple[Option, ...], given: dict[str, Any], task: str) -> dict[str, Any]:
    """Values for every declared option: ``given`` ones converted, the others at their defaults."""
    known = {option.name: option for option in declared}
    unknown = sorted(set(given) - set(known))
    if unknown:
        offered = ", ".join(o.flag for o in declared) or "none"
        raise InputError(f"task {task!r} has no option {', '.join('--' + n.replace('_', '-') for n in unknown)}"
                         f" (its options: {offered})")
    return {name: option.convert(given.get(name, option.default)) for name, option in known.items()}


@dataclass
class Prepared:
    """A user's image made ready for sampling.

    ``y_cond`` is the (C, H, W) condition at model resolution; ``image`` is the original
    BGR picture at full resolution, kept so that ``Task.finish`` can compose the result;
    ``context`` holds whatever else the task needs for that and derives from the original once
    (a full-resolution mask, colorization's full-resolution lightness), for ``finish`` and ``baseline``.
    """

    y_cond: torch.Tensor
    image: np.ndarray
    context: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """Base class of task plugins, registered in the ``palette_kit.tasks`` entry-point group."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Channels of the condition and of the target: class attributes, or properties of the instance
    #: when they depend on its options (``self.settings``); the model is built from the instance's.
    cond_channels: ClassVar[int]
    target_channels: ClassVar[int]
    #: A checkpoint folder shipped with the plugin, used when ``infer`` gets no ``--checkpoint``.
    default_checkpoint: ClassVar[Path | None] = None

    #: Settings fixed at training time, saved in checkpoints; values in ``self.settings``.
    options: ClassVar[tuple[Option, ...]] = ()
    #: Settings of one inference run, passed to ``prepare`` as keyword arguments.
    infer_options: ClassVar[tuple[Option, ...]] = ()
    #: Settings of an evaluation, passed to ``prepare_for_evaluation`` as keyword arguments.
    eval_options: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.settings = resolve_options(self.options, options, self.name)

    @property
    def config(self) -> dict[str, Any]:
        """The options that rebuild this task (saved in checkpoints)."""
        return dict(self.settings)

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor | None:
        """Conditions (B, C, H, W) as RGB pictures (B, 3, H, W) in [-1, 1] for a pretrained encoder.

        Models built with an encoder (``palette_kit.nn.encoders``) see its features of this picture;
        ``None`` (the default): the task cannot be used with an encoder.
        """
        return None

    def check_run_options(self, options: dict[str, Any]) -> None:
        """Refuse (``InputError``) run options (``infer_options`` or ``eval_options`` values) that this task,
        as trained, cannot use; called once before any picture is read. Default: all are fine."""

    def base(self, y_cond: torch.Tensor) -> torch.Tensor | None:
        """An optional first guess of the targets (B, target_channels, H, W) from the conditions.

        The model then generates the residual ``y_0 - base`` (trained on it, added back after sampling),
        so it starts from what the task can work out without it (colorization: its propagated hints).
        ``None`` (the default): the model generates ``y_0`` itself.
        """
        return None

    def sampling_hook(self, y_cond: torch.Tensor) -> SamplingHook | None:
        """An optional function the sampler applies after every step (e.g. to keep known pixels)."""
        return None

    def dataset(self, root: Path, split: Split, image_size: int, seed: int) -> PictureDataset:
        """Pairs ``{"y_cond": (cond_channels, S, S), "y_0": (target_channels, S, S)}`` in [-1, 1].

        By default the pictures of ``split`` under ``root`` (see ``palette_kit.data.split_paths``) as
        square crops (augmented for training), made into pairs by ``train_pair`` or ``val_pair``.
        """
        pair = partial(self.train_pair, rng=None) if split == "train" else self.val_pair
        return picture_dataset(root, split, image_size, seed, pair)

    @abstractmethod
    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        """The pair of a square BGR picture; any randomness (a mask, noise) is drawn from ``rng``,
        which is ``None`` in training: torch's global generator, seeded by the trainer."""

    def val_pair(self, picture: np.ndarray) -> Item:
        """The validation pair: ``train_pair`` with randomness seeded from the picture's pixels, so the
        same picture always gives the same pair."""
        return self.train_pair(picture, seeded_generator(picture))

    @abstractmethod
    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """A batch of conditions (B, C, S, S) as pictures (B, S, S, 3)."""

    @abstractmethod
    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        """A batch of targets (predicted or true) with their conditions as pictures (B, S, S, 3)."""

    @abstractmethod
    def prepare(self, image: np.ndarray, image_size: int, **options: Any) -> Prepared:
        """Turn a user's BGR picture into a condition at model resolution (``options``: ``infer_options``)."""

    def carry(self, previous: Prepared, result: np.ndarray, frame: np.ndarray) -> Any | None:
        """What a video's frame hands on to the next: from how the ``previous`` frame was prepared (its
        ``image`` is the input frame, full size), its ``result`` (one sample's, full-size BGR) and the next
        input ``frame``, anything ``prepare_frame`` takes as ``carried`` for that frame (colorization: the
        result's colours moved along the optical flow).

        Called once per frame and sample, never across a scene cut. ``None`` (the default): nothing is
        carried, every frame is prepared on its own.
        """
        return None

    def prepare_frame(self, frame: np.ndarray, image_size: int, carried: Any | None, index: int,
                      **options: Any) -> Prepared:
        """``prepare`` for frame ``index`` of a video, given what ``carry`` handed on from the frame before
        (``None`` for the first frame, after a scene cut, or when nothing is carried). Default: ``prepare``."""
        return self.prepare(frame, image_size, **options)

    def prepare_for_evaluation(self, image: np.ndarray, image_size: int, **options: Any) -> Prepared:
        """``prepare`` for a ground-truth picture; ``options`` (``eval_options``) may draw inputs a user would
        give (colorization: hints) from the truth. Default: ``prepare`` with its default options."""
        return self.prepare(image, image_size)

    @abstractmethod
    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """Compose the sampled target (C, S, S) with the original into the full-size BGR result."""

    def baseline(self, prepared: Prepared) -> np.ndarray | None:
        """The full-size picture a user gets without the model (colorization: the gray picture, ab = 0).

        ``evaluate`` reports its metrics beside the model's, so a user sees what the model adds;
        ``None`` (the default): the task has no such baseline.
        """
        return None

    def metrics(self, output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        """Task-specific metrics of a full-size result against the ground truth (colorization: ab MAE).

        ``evaluate`` adds them to the generic picture metrics of ``palette_kit.metrics``; default: none.
        """
        return {}
