"""The colorization task: the model sees a photo's Lab lightness L and generates its colours ab."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch

from palette_kit.imageio import resize, to_unit
from palette_kit.tasks.base import Item, Prepared, Task

from palette_kit_colorization.lab import bgr_to_lab, lab_to_bgr, lab_to_bgr_keeping_lightness, lightness


def _channels_last(tensor: torch.Tensor) -> np.ndarray:
    """(..., C, H, W) tensor as a float32 (..., H, W, C) array on the CPU."""
    return tensor.detach().to("cpu", torch.float32).movedim(-3, -1).numpy()


@cache
def _gray_for_lightness() -> np.ndarray:
    """For every 8-bit L, the gray level (B = G = R) whose 8-bit L is closest, ties by exact CIE L*.

    Grays have neutral colour (8-bit a = b = 128) and reach 238 of the 256 L levels exactly; the other
    18 get a gray one level off (no gray has them).
    """
    grays = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3)
    levels = lightness(grays)[0].astype(np.float64)
    exact = cv2.cvtColor(grays.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[0, :, 0] * (255 / 100)
    wanted = np.arange(256, dtype=np.float64)[:, None]
    cost = np.abs(levels - wanted) * 1000 + np.abs(exact - wanted)
    return cost.argmin(axis=1).astype(np.uint8)


class Colorization(Task):
    """Grayscale to colour in OpenCV 8-bit Lab: condition L (1 channel), target ab (2 channels)."""

    name = "colorization"
    description = "Colour grayscale photos: generates Lab colour (ab) for the photo's lightness (L)."
    cond_channels = 1
    target_channels = 2
    default_checkpoint = Path(__file__).parent / "default_model"

    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        """A square BGR picture as (L, ab) in [-1, 1]; nothing is random, so validation pairs are the same."""
        lab = torch.from_numpy(bgr_to_lab(picture)).permute(2, 0, 1)
        return {"y_cond": lab[:1].contiguous(), "y_0": lab[1:].contiguous()}

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """The lightness as gray pictures: Lab with neutral ab, B, G and R averaged (they can differ by a level)."""
        neutral = self.to_bgr(y_cond, torch.zeros_like(y_cond).expand(-1, 2, -1, -1))
        return np.repeat(neutral.mean(axis=-1).round().astype(np.uint8)[..., None], 3, axis=-1)

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor:
        """The lightness as the gray sRGB picture of the same L (CIE L* -> luminance Y -> sRGB), in [-1, 1]."""
        l_star = (y_cond + 1) * 50  # 8-bit OpenCV L is L* * 255 / 100
        y = torch.where(l_star > 8, ((l_star + 16) / 116) ** 3, l_star / 903.3)
        srgb = torch.where(y > 0.0031308, 1.055 * y.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * y)
        return (srgb * 2 - 1).expand(-1, 3, -1, -1)

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        return lab_to_bgr(_channels_last(torch.cat([y_cond, y_0], dim=-3)))

    def prepare(self, image: np.ndarray, image_size: int) -> Prepared:
        """The picture's L channel, the whole frame resized (not cropped) to ``image_size`` squared.

        The full-resolution L is computed once here and kept in ``context["lightness"]`` for ``finish``
        and ``baseline``.
        """
        full = lightness(image)
        small = resize(full, image_size, image_size)
        return Prepared(y_cond=torch.from_numpy(to_unit(small))[None], image=image, context={"lightness": full})

    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """The generated ab resized to the original frame, under the original's full-resolution L."""
        height, width = prepared.image.shape[:2]
        ab = resize(_channels_last(y_0), width, height)
        return lab_to_bgr_keeping_lightness(prepared.context["lightness"], ab)

    def baseline(self, prepared: Prepared) -> np.ndarray:
        """The gray picture (neutral ab) with the original's L: what a user has without the model."""
        return np.repeat(_gray_for_lightness()[prepared.context["lightness"]][..., None], 3, axis=-1)

    def metrics(self, output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        """``ab_mae``: mean |ab - true ab| in the model's [-1, 1] units (8-bit OpenCV Lab), as validation has it."""
        ab, true_ab = bgr_to_lab(output)[..., 1:].astype(np.float64), bgr_to_lab(truth)[..., 1:]
        return {"ab_mae": float(np.abs(ab - true_ab).mean())}
