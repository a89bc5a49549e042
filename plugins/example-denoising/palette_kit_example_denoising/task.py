"""The example denoising task: the model sees a photo with Gaussian noise and generates the clean photo."""
from __future__ import annotations

import click
import numpy as np

from palette_kit.imageio import resize, to_pictures, to_tensor
from palette_kit.lazy import lazy
from palette_kit.tasks.base import Item, Option, Prepared, Task

torch = lazy("torch")


class Denoising(Task):
    """Gaussian denoising: condition the noisy BGR picture, target the clean one (3 channels each)."""

    name = "example-denoising"
    description = "Remove Gaussian noise from photos (the plugin guide's example task)."
    cond_channels = 3
    target_channels = 3
    options = (
        Option("sigma", click.FloatRange(0, 1, min_open=True), 0.2,
               "Standard deviation of the added noise, in the [-1, 1] pixel scale."),
    )

    def train_pair(self, picture: np.ndarray, rng: torch.Generator | None) -> Item:
        """A square BGR picture as (itself plus noise drawn from ``rng``, itself) in [-1, 1]."""
        clean = to_tensor(picture)
        noise = torch.randn(clean.shape, generator=rng) * self.settings["sigma"]
        return {"y_cond": (clean + noise).clamp(-1, 1), "y_0": clean}

    def cond_to_bgr(self, y_cond: torch.Tensor) -> np.ndarray:
        return to_pictures(y_cond)

    def to_bgr(self, y_cond: torch.Tensor, y_0: torch.Tensor) -> np.ndarray:
        return to_pictures(y_0)

    def prepare(self, image: np.ndarray, image_size: int) -> Prepared:
        """The user's picture, already noisy, squashed to the model's square size."""
        return Prepared(y_cond=to_tensor(resize(image, image_size, image_size)), image=image)

    def finish(self, prepared: Prepared, y_0: torch.Tensor) -> np.ndarray:
        """The denoised picture stretched back to the original's size."""
        height, width = prepared.image.shape[:2]
        return resize(to_pictures(y_0), width, height)
