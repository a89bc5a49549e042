"""Which pixels the model fills: random training masks, the default centre box, and mask files.

Training masks follow Palette's free-form inpainting masks: rectangles, brush strokes
(polylines drawn with a round brush of random thickness), or both, added one at a time until they
cover a target fraction of the picture drawn from ``TARGET``. Shapes are small next to the
picture (sides and segments at most 30% of its side), so the last one overshoots the target by
little: masks cover roughly 10% to 60% of the picture (10% to 52% over many draws at 8 to 256 px).
All draws come from a ``torch.Generator`` (by default torch's global one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from palette_kit.errors import InputError
from palette_kit.imageio import read_image
from palette_kit.lazy import lazy

cv2 = lazy("cv2")
torch = lazy("torch")

#: Fraction of the picture a training mask grows to cover (it may overshoot by one shape).
TARGET = (0.10, 0.45)
#: What a training mask is made of; "mixed" picks box or stroke for every shape.
KINDS = ("boxes", "strokes", "mixed")
#: Sizes as fractions of the picture's side.
BOX_SIDE = (0.10, 0.30)
SEGMENT_LENGTH = (0.10, 0.30)
BRUSH_THICKNESS = (0.03, 0.08)
MAX_SEGMENTS = 4
#: Gray level from which a pixel of a mask file is to be filled.
WHITE = 128


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels to fill."""

    top: int
    left: int
    height: int
    width: int

    def draw(self, mask: np.ndarray) -> None:
        mask[self.top:self.top + self.height, self.left:self.left + self.width] = 1


@dataclass(frozen=True)
class Stroke:
    """A brush stroke: a polyline through ``points`` (x, y) drawn with ``cv2.line``'s ``thickness``.

    OpenCV draws thick lines with round ends, ``2 * (thickness // 2) + 1`` pixels wide, so the
    joints are round too.
    """

    points: tuple[tuple[int, int], ...]
    thickness: int

    def draw(self, mask: np.ndarray) -> None:
        for start, end in zip(self.points, self.points[1:]):
            cv2.line(mask, start, end, 1, self.thickness)


Shape = Box | Stroke


def _uniform(bounds: tuple[float, float], generator: torch.Generator | None) -> float:
    low, high = bounds
    return low + (high - low) * torch.rand((), generator=generator).item()


def _integer(low: int, high: int, generator: torch.Generator | None) -> int:
    """An integer in ``low..high`` (both included)."""
    return int(torch.randint(low, high + 1, (), generator=generator).item())


def _length(bounds: tuple[float, float], size: int, generator: torch.Generator | None) -> int:
    return max(1, round(_uniform(bounds, generator) * size))


def random_box(size: int, generator: torch.Generator | None = None) -> Box:
    """A rectangle inside a ``size`` x ``size`` picture, each side ``BOX_SIDE`` of the picture's."""
    height, width = _length(BOX_SIDE, size, generator), _length(BOX_SIDE, size, generator)
    return Box(_integer(0, size - height, generator), _integer(0, size - width, generator), height, width)


def random_stroke(size: int, generator: torch.Generator | None = None) -> Stroke:
    """A brush stroke of 1..``MAX_SEGMENTS`` segments in random directions, kept inside the picture."""
    thickness = _length(BRUSH_THICKNESS, size, generator)
    x, y = _integer(0, size - 1, generator), _integer(0, size - 1, generator)
    points = [(x, y)]
    for _ in range(_integer(1, MAX_SEGMENTS, generator)):
        angle = 2 * math.pi * torch.rand((), generator=generator).item()
        length = _uniform(SEGMENT_LENGTH, generator) * size
        x = min(size - 1, max(0, round(x + length * math.cos(angle))))
        y = min(size - 1, max(0, round(y + length * math.sin(angle))))
        points.append((x, y))
    return Stroke(tuple(points), thickness)


def paint(shapes: list[Shape], size: int) -> np.ndarray:
    """The ``size`` x ``size`` uint8 mask (1 = fill) covered by ``shapes``."""
    mask = np.zeros((size, size), np.uint8)
    for shape in shapes:
        shape.draw(mask)
    return mask


def random_shapes(size: int, generator: torch.Generator | None = None) -> list[Shape]:
    """Boxes and/or strokes added until they cover a fraction of the picture drawn from ``TARGET``."""
    target = _uniform(TARGET, generator)
    kind = KINDS[_integer(0, len(KINDS) - 1, generator)]
    mask = np.zeros((size, size), np.uint8)
    shapes: list[Shape] = []
    while mask.mean() < target:
        box = kind == "boxes" or (kind == "mixed" and torch.rand((), generator=generator).item() < 0.5)
        shape = random_box(size, generator) if box else random_stroke(size, generator)
        shape.draw(mask)
        shapes.append(shape)
    return shapes


def random_mask(size: int, generator: torch.Generator | None = None) -> np.ndarray:
    """A random training mask: (size, size) uint8, 1 where the model fills."""
    return paint(random_shapes(size, generator), size)


def centre_box(height: int, width: int) -> np.ndarray:
    """The default mask (bool, True = fill): the middle half of each dimension (25% to 75%)."""
    mask = np.zeros((height, width), bool)
    mask[height // 4:height - height // 4, width // 4:width - width // 4] = True
    return mask


def shrink_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A full-resolution mask (True = fill) at ``size`` x ``size`` (uint8, 1 = fill), erring towards filling.

    A pixel is filled if any part of the area it stands for is: thin strokes survive the shrinking,
    and no known pixel of the shrunk picture carries colour from the hole.
    """
    coverage = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return (coverage > 0).astype(np.uint8)


def read_mask(path: Path, height: int, width: int) -> np.ndarray:
    """The pixels to fill (bool, True = fill) of a mask picture of the image's size: gray level >= ``WHITE``.

    Gray and colour pictures are both accepted (colours count by their gray level). A mask of
    another size, or one with nothing to fill or nothing known, is an ``InputError`` naming it.
    """
    try:
        picture = read_image(path)
    except InputError as exc:
        raise InputError(f"mask: {exc}") from exc
    if picture.shape[:2] != (height, width):
        raise InputError(f"mask {path} is {picture.shape[1]}x{picture.shape[0]} pixels but the image is "
                         f"{width}x{height}; give a mask of the image's size")
    fill = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY) >= WHITE
    if not fill.any():
        raise InputError(f"mask {path} is all black: nothing to fill (white marks the pixels to fill)")
    if fill.all():
        raise InputError(f"mask {path} is all white: no known pixels to keep (black marks them)")
    return fill
