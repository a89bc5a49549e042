"""The task contract: everything the core needs to know about an image-to-image problem.

A task says how many channels condition the model (``cond_channels``) and how many it
generates (``target_channels``), builds datasets of ``{"y_cond", "y_0"}`` pairs in
[-1, 1], turns tensors into pictures, and turns a user's image into a condition and
back into a result. Pictures are OpenCV-style BGR ``uint8`` arrays of shape (H, W, 3).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

Split = Literal["train", "val"]


@dataclass
class Prepared:
    """A user's image made ready for sampling.

    ``y_cond`` is the (C, H, W) condition at model resolution; ``image`` is the original
    BGR picture at full resolution, kept so that ``Task.finish`` can compose the result.
    """

    y_cond: torch.Tensor
    image: np.ndarray


class Task(ABC):
    """Base class of task plugins, registered in the ``palette_kit.tasks`` entry-point group."""

    name: ClassVar[str]
    description: ClassVar[str]
    cond_channels: ClassVar[int]
    target_channels: ClassVar[int]
    #: A checkpoint folder shipped with the plugin, used when ``infer`` gets no ``--checkpoint``.
    default_checkpoint: ClassVar[Path | None] = None

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"task {self.name!r} takes no options, got {sorted(options)}")

    @property
    def config(self) -> dict[str, Any]:
        """The options that rebuild this task (saved in checkpoints)."""
        return {}

    @abstractmethod
    def dataset(self, root: Path, split: Split, image_size: int, seed: int) -> Dataset:
        """Pairs ``{"y_cond": (cond_channels, S, S), "y_0": (target_channels, S, S)}`` in [-1, 1]."""

    @abstractmethod
    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """A batch of conditions (B, C, S, S) as pictures (B, S, S, 3)."""

    @abstractmethod
    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        """A batch of targets (predicted or true) with their conditions as pictures (B, S, S, 3)."""

    @abstractmethod
    def prepare(self, image: np.ndarray, image_size: int) -> Prepared:
        """Turn a user's BGR picture into a condition at model resolution."""

    @abstractmethod
    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """Compose the sampled target (C, S, S) with the original into the full-size BGR result."""
