"""Frozen pretrained encoders of the condition: what a model knows of a picture beyond its own training data.

An encoder turns the task's condition, seen as an RGB picture at the encoder's own resolution, into feature
maps at several strides. ``level_features`` resizes them onto the UNet's levels (each level takes the map
nearest to its size), and the backbone adds them, through learned zero-initialised 1x1 projections, into
every residual block of that level. The encoder is computed once per picture (not per sampling step),
is never trained (eval mode, BatchNorm statistics fixed, no gradients) and is not saved in checkpoints:
they record its name and weights checksum, and the weights come from the installed package.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from palette_kit.errors import InputError
from palette_kit.nn import efficientnet


@dataclass(frozen=True)
class EncoderSpec:
    """A named encoder: its input size, the channels and strides of its feature maps, how to load it."""

    name: str
    size: int
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    weights_sha256: str
    #: The pretrained network (``features(rgb in [-1, 1]) -> list of maps``); given the same network built
    #: on the meta device, that one takes the weights.
    load: Callable[[nn.Module | None], nn.Module]

    def sizes(self) -> tuple[int, ...]:
        """Side lengths of the feature maps for a square input."""
        return tuple(self.size // stride for stride in self.strides)

    def assign(self, level_sizes: list[int]) -> tuple[int, ...]:
        """For each UNet level size, the index of the feature map nearest to it (in octaves)."""
        return tuple(min(range(len(self.strides)), key=lambda i: abs(math.log2(self.sizes()[i] / s)))
                     for s in level_sizes)


ENCODERS: dict[str, EncoderSpec] = {
    "efficientnet-lite0": EncoderSpec("efficientnet-lite0", efficientnet.SIZE, efficientnet.FEATURE_CHANNELS,
                                      efficientnet.FEATURE_STRIDES, efficientnet.WEIGHTS_SHA256,
                                      efficientnet.load_efficientnet_lite0),
}


def encoder_spec(name: str) -> EncoderSpec:
    if name not in ENCODERS:
        raise InputError(f"unknown encoder {name!r}; choose from: {', '.join(ENCODERS)}")
    return ENCODERS[name]


class FrozenEncoder(nn.Module):
    """A pretrained network that stays in eval mode without gradients; ``forward`` gives its feature maps."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = spec.load(None).eval().requires_grad_(False)

    def load_weights(self) -> None:
        """Give an encoder built on the meta device (``Palette.from_config(meta=True)``) its weights."""
        self.net = self.spec.load(self.net).eval().requires_grad_(False)

    def train(self, mode: bool = True) -> FrozenEncoder:
        return super().train(False)  # BatchNorm statistics stay the pretrained ones

    @torch.no_grad()
    def forward(self, picture: torch.Tensor) -> list[torch.Tensor]:
        return self.net.features(picture)


def level_features(features: list[torch.Tensor], assignment: tuple[int, ...], height: int,
                   width: int) -> list[torch.Tensor]:
    """Feature maps resized onto each UNet level: level ``l`` works at (height / 2^l, width / 2^l)."""
    return [F.interpolate(features[i].float(), size=(height >> level, width >> level), mode="bilinear",
                          align_corners=False, antialias=True)
            for level, i in enumerate(assignment)]
