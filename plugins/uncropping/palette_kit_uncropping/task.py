"""The uncropping task: a picture extended by margins the model generates around it.

The condition is the canvas (BGR, 0 where unknown) with a mask channel (1 = generate, stored as
``mask * 2 - 1``); the target is the whole canvas in BGR.
"""
from __future__ import annotations

import numpy as np

from palette_kit.diffusion.constraints import keep_known, mask_channel, paint_unknown, unknown_of
from palette_kit.diffusion.sampler import SamplingHook
from palette_kit.imageio import resize, to_pictures, to_tensor
from palette_kit.lazy import lazy
from palette_kit.tasks.base import Item, Option, Prepared, Task

from palette_kit_uncropping.margin import HELP, Border, parse_margin
from palette_kit_uncropping.masks import border_mask, random_border, scaled_border

cv2 = lazy("cv2")
torch = lazy("torch")

DEFAULT_MARGIN = "0.25"
#: How ``cond_to_bgr`` draws the pixels still to be generated.
UNKNOWN_BGR = (128, 128, 128)


def condition(canvas: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
    """The (4, S, S) condition: ``canvas`` (BGR, S x S) zeroed where ``mask`` (1, S, S) is 1, and the mask."""
    return torch.cat([to_tensor(canvas) * (1 - mask), mask_channel(mask)])


class Uncropping(Task):
    """Extend a picture: condition canvas + mask (4 channels), target the canvas in BGR (3 channels)."""

    name = "uncropping"
    description = "Extend photos beyond their borders: generates margins around the picture, keeping its pixels."
    cond_channels = 4
    target_channels = 3
    infer_options = (Option("margin", str, DEFAULT_MARGIN, HELP),)

    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        """A square picture with a random border, drawn from ``rng``, hidden."""
        size = picture.shape[0]
        mask = border_mask(random_border(size, rng), size, size)
        return {"y_cond": condition(picture, mask), "y_0": to_tensor(picture)}

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """The known pixels, with those to generate in ``UNKNOWN_BGR``."""
        return paint_unknown(to_pictures(y_cond[:, :3]), y_cond, UNKNOWN_BGR)

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor:
        """The known part of the photo (margins as the condition fills them), as RGB."""
        return y_cond[:, 2::-1]

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        return to_pictures(y_0)

    def sampling_hook(self, y_cond: torch.Tensor) -> SamplingHook:
        """Keeps the canvas's known pixels through sampling (exactly, after the last step)."""
        return keep_known(y_cond[:, :3], unknown_of(y_cond))

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
