"""The JPEG restoration task: the model sees a JPEG-compressed photo and generates the clean photo.

Training pairs are made on the fly: each square crop is encoded as JPEG with OpenCV and decoded
again; that copy is the condition, the crop itself the target. Both are BGR pictures (3 channels
each). Training draws the quality per item from ``quality_min..quality_max`` with torch's global
generator; validation always uses the middle of the range, so its scores are comparable.

At inference the condition is the user's picture as decoded (its own compression artefacts), or,
with ``--quality``, the picture re-encoded at that quality first. The model works at its own
resolution, so ``finish`` does not return the upsampled prediction (that would blur a large photo):
it adds the model's correction, upsampled to full size, to the full-resolution picture,
``output = original + upsample(prediction - downsample(original))``. Detail finer than the model's
resolution is therefore kept as it was.
"""
from __future__ import annotations

from typing import Any

import click
import numpy as np

from palette_kit.errors import InputError
from palette_kit.imageio import resize, to_pictures, to_tensor
from palette_kit.lazy import lazy
from palette_kit.tasks.base import Item, Option, Prepared, Task

cv2 = lazy("cv2")
torch = lazy("torch")

QUALITY = click.IntRange(1, 100)


def jpeg_round_trip(picture: np.ndarray, quality: int) -> np.ndarray:
    """``picture`` (BGR uint8) encoded as JPEG at ``quality`` (1..100) and decoded again."""
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        height, width = picture.shape[:2]
        raise InputError(f"cannot encode a {width}x{height} picture as JPEG (at most 65500 pixels a side)")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


class JpegRestoration(Task):
    """JPEG artefact removal: condition the compressed BGR picture, target the clean one (3 channels each)."""

    name = "jpeg-restoration"
    description = "Remove JPEG compression artefacts: generates the clean photo from its compressed copy."
    cond_channels = 3
    target_channels = 3
    options = (
        Option("quality_min", QUALITY, 5, "Lowest JPEG quality of training conditions."),
        Option("quality_max", QUALITY, 30, "Highest JPEG quality of training conditions."),
    )
    infer_options = (
        Option("quality", QUALITY, None,
               "Re-encode each input as JPEG at this quality before restoring it; without it the input "
               "is restored as it is (a JPEG file's own artefacts)."),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        low, high = self.settings["quality_min"], self.settings["quality_max"]
        if low > high:
            raise InputError(f"--quality-min ({low}) must not exceed --quality-max ({high})")

    @property
    def qualities(self) -> range:
        """The JPEG qualities training conditions are drawn from."""
        return range(self.settings["quality_min"], self.settings["quality_max"] + 1)

    def draw_quality(self, rng: torch.Generator | None = None) -> int:
        """A training quality, uniform over ``qualities``, drawn from ``rng`` (default: torch's global one)."""
        return self.qualities[int(torch.randint(len(self.qualities), (), generator=rng).item())]

    @property
    def val_quality(self) -> int:
        """The validation quality: the middle of ``qualities`` (rounded down), the same for every picture."""
        return (self.settings["quality_min"] + self.settings["quality_max"]) // 2

    @staticmethod
    def pair(picture: np.ndarray, quality: int) -> Item:
        """A square BGR picture as (its JPEG copy at ``quality``, itself) in [-1, 1]."""
        return {"y_cond": to_tensor(jpeg_round_trip(picture, quality)), "y_0": to_tensor(picture)}

    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        return self.pair(picture, self.draw_quality(rng))

    def val_pair(self, picture: np.ndarray) -> Item:
        """Always at ``val_quality``, so validation scores compare across epochs."""
        return self.pair(picture, self.val_quality)

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        """The compressed pictures."""
        return to_pictures(y_cond)

    def encoder_picture(self, y_cond: torch.Tensor) -> torch.Tensor:
        """The compressed photo as RGB."""
        return y_cond[:, 2::-1]

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        """The clean (or restored) pictures; the condition is not needed."""
        return to_pictures(y_0)

    def prepare(self, image: np.ndarray, image_size: int, quality: int | None = None) -> Prepared:
        """The picture (re-encoded at ``quality`` if given), whole frame resized to ``image_size`` squared.

        ``Prepared.image`` is the full-resolution picture being restored: the re-encoded one if
        ``quality`` is given, else the input itself.
        """
        degraded = image if quality is None else jpeg_round_trip(image, quality)
        return Prepared(y_cond=to_tensor(resize(degraded, image_size, image_size)), image=degraded)

    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """The full-size picture plus the model's correction (prediction - condition), resized to full size.

        For a picture of the model's size this is the prediction itself; a correction of zero
        returns the picture unchanged.
        """
        height, width = prepared.image.shape[:2]
        correction = (y_0.detach().cpu().float() - prepared.y_cond.cpu().float()) * (255 / 2)
        full = resize(np.ascontiguousarray(correction.permute(1, 2, 0).numpy()), width, height)
        return np.clip(np.round(prepared.image.astype(np.float32) + full), 0, 255).astype(np.uint8)
