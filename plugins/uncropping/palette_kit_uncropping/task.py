"""The uncropping task: a picture extended by margins the model generates around it.

The condition is the canvas (BGR, 0 where unknown) with a mask channel (1 = generate, stored as
``mask * 2 - 1``); the target is the whole canvas in BGR.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from palette_kit.data import picture_dataset
from palette_kit.diffusion.constraints import keep_known
from palette_kit.diffusion.sampler import SamplingHook
from palette_kit.imageio import resize, to_pictures, to_tensor
from palette_kit.tasks.base import Option, Prepared, Split, Task

from palette_kit_uncropping.margin import HELP, Border, parse_margin
from palette_kit_uncropping.masks import border_mask, random_border, scaled_border

DEFAULT_MARGIN = "0.25"
#: How ``cond_to_bgr`` draws the pixels still to be generated.
UNKNOWN_BGR = (128, 128, 128)


def condition(canvas: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
    """The (4, S, S) condition: ``canvas`` (BGR, S x S) zeroed where ``mask`` (1, S, S) is 1, and the mask."""
    return torch.cat([to_tensor(canvas) * (1 - mask), mask * 2 - 1])


def unknown(y_cond: torch.Tensor) -> torch.Tensor:
    """The mask channel of conditions (..., 4, S, S) as 0/1 floats (..., 1, S, S)."""
    return (y_cond[..., 3:, :, :] > 0).to(y_cond.dtype)


class Uncropping(Task):
    """Extend a picture: condition canvas + mask (4 channels), target the canvas in BGR (3 channels)."""

    name = "uncropping"
    description = "Extend photos beyond their borders: generates margins around the picture, keeping its pixels."
    cond_channels = 4
    target_channels = 3
    infer_options = (Option("margin", str, DEFAULT_MARGIN, HELP),)

    def dataset(self, root: Path, split: Split, image_size: int, seed: int) -> Dataset:
        return picture_dataset(root, split, image_size, seed, self.pair if split == "train" else self.validation_pair)

    @staticmethod
    def pair(picture: np.ndarray, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """A square picture with a random border hidden, drawn from ``generator`` (default: torch's global RNG)."""
        size = picture.shape[0]
        mask = border_mask(random_border(size, generator), size, size)
        return {"y_cond": condition(picture, mask), "y_0": to_tensor(picture)}

    @classmethod
    def validation_pair(cls, picture: np.ndarray) -> dict[str, torch.Tensor]:
        """``pair`` with a border that depends only on the picture, the same on every call."""
        return cls.pair(picture, torch.Generator().manual_seed(zlib.crc32(picture.tobytes())))

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """The known pixels, with those to generate in ``UNKNOWN_BGR``."""
        pictures = to_pictures(y_cond[:, :3])
        pictures[unknown(y_cond)[:, 0].cpu().numpy() > 0] = UNKNOWN_BGR
        return pictures

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor:
        """The known part of the photo (margins as the condition fills them), as RGB."""
        return y_cond[:, 2::-1]

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        return to_pictures(y_0)

    def sampling_hook(self, y_cond: torch.Tensor) -> SamplingHook:
        """Keeps the canvas's known pixels through sampling (exactly, after the last step)."""
        return keep_known(y_cond[:, :3], unknown(y_cond))

    def prepare(self, image: np.ndarray, image_size: int, margin: str = DEFAULT_MARGIN) -> Prepared:
        """The canvas (picture plus margins) squashed to ``image_size`` squared, with its mask.

        The margins are filled by repeating the picture's edge before resizing, so that known
        pixels near the edge are not darkened; they are zeroed in the condition anyway.
        """
        height, width = image.shape[:2]
        border = parse_margin(margin).border(height, width)
        canvas = cv2.copyMakeBorder(image, border.top, border.bottom, border.left, border.right, cv2.BORDER_REPLICATE)
        small = resize(canvas, image_size, image_size)
        mask = border_mask(scaled_border(border, *canvas.shape[:2], image_size), image_size, image_size)
        return Prepared(y_cond=condition(small, mask), image=image, context={"border": border})

    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """The prediction resized to the canvas, with the original picture pasted unchanged in its place."""
        border: Border = prepared.context["border"]
        height, width = prepared.image.shape[:2]
        canvas = resize(to_pictures(y_0), width + border.left + border.right, height + border.top + border.bottom)
        canvas[border.top:border.top + height, border.left:border.left + width] = prepared.image
        return canvas
