"""The inpainting task: holes in a photo, marked by a mask, generated to fit the rest of it.

The condition is the photo (BGR) with its hole filled by noise or zeros, plus the mask as a
fourth channel (1 = fill, stored as ``mask * 2 - 1``); the target is the whole photo in BGR.
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from palette_kit.data import seeded_generator
from palette_kit.diffusion.constraints import keep_known, mask_channel, paint_unknown, unknown_of
from palette_kit.diffusion.sampler import SamplingHook
from palette_kit.imageio import resize, to_pictures, to_tensor
from palette_kit.lazy import lazy
from palette_kit.tasks.base import Item, Option, Prepared, Task

from palette_kit_inpainting.masks import centre_box, random_mask, read_mask, shrink_mask

torch = lazy("torch")

FILLS = ("noise", "zeros")
#: How ``cond_to_bgr`` draws the hole (magenta).
HOLE_BGR = (255, 0, 255)


def condition(picture: np.ndarray, mask: np.ndarray, fill: str, generator: torch.Generator | None) -> torch.Tensor:
    """The (4, S, S) condition of a square picture and its (S, S) mask (1 = fill).

    The hole holds Gaussian noise clipped to [-1, 1] (drawn from ``generator``) or zeros.
    """
    picture_t = to_tensor(picture)
    hole = torch.from_numpy(mask.astype(np.float32))[None]
    if fill == "noise":
        filler = torch.randn(picture_t.shape, generator=generator).clamp(-1, 1)
    else:
        filler = torch.zeros_like(picture_t)
    return torch.cat([picture_t * (1 - hole) + filler * hole, mask_channel(hole)])


class Inpainting(Task):
    """Fill holes: condition photo + mask (4 channels), target the photo in BGR (3 channels)."""

    name = "inpainting"
    description = "Fill holes in photos: generates the pixels a mask marks (white), keeping all others."
    cond_channels = 4
    target_channels = 3
    options = (Option("fill", click.Choice(FILLS), "noise",
                      "What the condition holds in the hole: Gaussian noise (clipped to [-1, 1]) or zeros."),)
    infer_options = (Option("mask", click.Path(path_type=Path), None,
                            "Mask picture of the image's size, white where to fill "
                            "(default: a box over the middle half of each side)."),)

    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        """A square picture with a random hole (and noise in it) drawn from ``rng``."""
        mask = random_mask(picture.shape[0], rng)
        return {"y_cond": condition(picture, mask, self.settings["fill"], rng), "y_0": to_tensor(picture)}

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """The known pixels, with the hole in ``HOLE_BGR``."""
        return paint_unknown(to_pictures(y_cond[:, :3]), y_cond, HOLE_BGR)

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor:
        """The photo around the hole (the hole as the condition fills it), as RGB."""
        return y_cond[:, 2::-1]

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        return to_pictures(y_0)

    def sampling_hook(self, y_cond: torch.Tensor) -> SamplingHook:
        """Keeps the known pixels through sampling (exactly, after the last step)."""
        return keep_known(y_cond[:, :3], unknown_of(y_cond))

    def prepare(self, image: np.ndarray, image_size: int, mask: Path | None = None) -> Prepared:
        """The whole picture squashed to ``image_size`` squared, with its mask shrunk by ``shrink_mask``.

        ``mask`` is a picture of the image's size, white where to fill; without it the middle half
        of each side is filled. The full-resolution mask is kept for ``finish``.
        """
        height, width = image.shape[:2]
        full = centre_box(height, width) if mask is None else read_mask(mask, height, width)
        small = resize(image, image_size, image_size)
        y_cond = condition(small, shrink_mask(full, image_size), self.settings["fill"], seeded_generator(small))
        return Prepared(y_cond=y_cond, image=image, context={"mask": full})

    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """The prediction resized to the original's size, filling only the hole: known pixels stay unchanged."""
        height, width = prepared.image.shape[:2]
        predicted = resize(to_pictures(y_0), width, height)
        return np.where(prepared.context["mask"][..., None], predicted, prepared.image)
