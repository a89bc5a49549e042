"""Colour hints: the colours a user gives for some pixels, read from a painted layer or points, simulated
from the true colours for training and evaluation, and scaled to the model's resolution.

Hint colours are Lab ab in the model's units ([-1, 1], 8-bit OpenCV Lab); a hint's lightness is ignored
(the photo's own L is kept).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor

from palette_kit.errors import InputError
from palette_kit.imageio.decode import open_file
from palette_kit.lazy import lazy

from palette_kit_colorization.lab import bgr_to_lab

cv2 = lazy("cv2")

#: Largest relative difference between the aspect ratios of a hints picture and its photo.
ASPECT_TOLERANCE = 0.01


@dataclass
class Hints:
    """Hinted colours ``ab`` (H, W, 2) float32, read where ``mask`` (H, W) bool is true."""

    ab: np.ndarray
    mask: np.ndarray

    @classmethod
    def none(cls, height: int, width: int) -> Hints:
        return cls(np.zeros((height, width, 2), np.float32), np.zeros((height, width), bool))

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    def resized(self, width: int, height: int) -> Hints:
        """The hints at another size; shrinking keeps every cell that holds a hinted pixel (their mean colour)."""
        if self.mask.shape == (height, width):
            return self
        weight = self.mask.astype(np.float32)
        shrink = width * height < weight.size
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_NEAREST
        covered = cv2.resize(weight, (width, height), interpolation=interpolation)
        summed = cv2.resize(self.ab * weight[..., None], (width, height), interpolation=interpolation)
        mask = covered > 0
        ab = np.where(mask[..., None], summed / np.maximum(covered, 1e-12)[..., None], 0).astype(np.float32)
        return Hints(ab, mask)

    def merged(self, other: Hints) -> Hints:
        """These hints with ``other`` painted over them."""
        return Hints(np.where(other.mask[..., None], other.ab, self.ab), self.mask | other.mask)


def _ab_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) 8-bit RGB colours as ab in model units."""
    bgr = np.ascontiguousarray(rgb[..., ::-1].reshape(1, -1, 3).astype(np.uint8))
    return bgr_to_lab(bgr)[0, :, 1:].reshape(*rgb.shape[:-1], 2).astype(np.float32)


def parse_colour(text: str) -> np.ndarray:
    """``#rrggbb``, ``#rgb`` or a CSS colour name as ab in model units."""
    try:
        rgb = ImageColor.getrgb(text.strip())[:3]
    except ValueError:
        raise InputError(f"--hint: {text!r} is not a colour (use #rrggbb or a CSS colour name)") from None
    return _ab_of_rgb(np.array(rgb, np.uint8))


def read_hints(path: Path, width: int, height: int) -> Hints:
    """The painted hint layer ``path`` (RGBA; alpha > 0 marks a hint) scaled to a ``width`` x ``height`` photo."""
    with open_file(path) as handle:
        try:
            with Image.open(handle) as picture:
                if "A" not in picture.getbands():
                    raise InputError(f"{path}: hints must be an RGBA picture (transparent where there is no hint), "
                                     f"not {picture.mode}")
                rgba = np.asarray(picture.convert("RGBA"))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"{path}: cannot read the hints picture ({exc})") from None
    h, w = rgba.shape[:2]
    if abs((w / h) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise InputError(f"{path}: hints are {w} x {h}, not the aspect ratio of the {width} x {height} photo")
    mask = rgba[..., 3] > 0
    ab = np.where(mask[..., None], _ab_of_rgb(rgba[..., :3]), 0).astype(np.float32)
    return Hints(ab, mask).resized(width, height)


def keyframe_layers(folder: Path) -> dict[int, Path]:
    """A video's hint layers by keyframe: ``N.png`` (any picture suffix) in ``folder`` is frame N's, counted
    from 0 in display order; hidden files are left out, any other name is an error."""
    layers: dict[int, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith("."):
            continue
        if not (path.is_file() and path.stem.isdigit()) or int(path.stem) in layers:
            raise InputError(f"{path}: the hint layers of a video's keyframes are named by frame index, one per "
                             f"frame (0.png, 48.png, ...)")
        layers[int(path.stem)] = path
    if not layers:
        raise InputError(f"{folder}: no hint layers (a folder of hints holds one per keyframe: 0.png, 48.png, ...)")
    return layers


def point_hints(points: tuple[str, ...], radius: int, width: int, height: int) -> Hints:
    """Discs of ``radius`` pixels at ``X,Y,COLOUR`` points (X, Y in the photo's pixels)."""
    hints = Hints.none(height, width)
    for point in points:
        parts = point.split(",", 2)
        try:
            x, y = int(parts[0]), int(parts[1])
            colour = parts[2]
        except (ValueError, IndexError):
            raise InputError(f"--hint: {point!r} is not X,Y,COLOUR (e.g. 120,40,#c03020)") from None
        if not (0 <= x < width and 0 <= y < height):
            raise InputError(f"--hint: point {x},{y} is outside the {width} x {height} picture")
        disc = np.zeros((height, width), np.uint8)
        cv2.circle(disc, (x, y), radius, 1, thickness=-1)
        hints = hints.merged(Hints(np.broadcast_to(parse_colour(colour), (height, width, 2)), disc > 0))
    return hints


def _patch_hint(true_ab: np.ndarray, mask: np.ndarray) -> Hints:
    """The pixels of ``mask`` hinted with their mean true colour."""
    ab = np.zeros_like(true_ab)
    ab[mask] = true_ab[mask].mean(axis=0)
    return Hints(ab, mask)


def random_points(true_ab: np.ndarray, count: int, rng: np.random.Generator, side: tuple[int, int]) -> Hints:
    """``count`` square patches of a side drawn from ``side`` at random places, each of its mean true colour."""
    h, w = true_ab.shape[:2]
    hints = Hints.none(h, w)
    for _ in range(count):
        s = int(rng.integers(side[0], side[1] + 1))
        y, x = int(rng.integers(0, max(1, h - s + 1))), int(rng.integers(0, max(1, w - s + 1)))
        mask = np.zeros((h, w), bool)
        mask[y:y + s, x:x + s] = True
        hints = hints.merged(_patch_hint(true_ab, mask))
    return hints


def random_strokes(true_ab: np.ndarray, count: int, rng: np.random.Generator) -> Hints:
    """``count`` brush strokes (random polylines 1-3 px wide), each of its mean true colour."""
    h, w = true_ab.shape[:2]
    hints = Hints.none(h, w)
    for _ in range(count):
        points = [rng.uniform((0, 0), (w, h))]
        for _ in range(int(rng.integers(1, 5))):
            points.append(np.clip(points[-1] + rng.normal(0, max(h, w) / 6, 2), 0, (w - 1, h - 1)))
        canvas = np.zeros((h, w), np.uint8)
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 1, thickness=int(rng.integers(1, 4)))
        hints = hints.merged(_patch_hint(true_ab, canvas > 0))
    return hints


def dense_with_holes(true_ab: np.ndarray, rng: np.random.Generator) -> Hints:
    """The true colour almost everywhere, with a few elliptic holes (what a previous video frame gives)."""
    h, w = true_ab.shape[:2]
    holes = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        centre = tuple(int(v) for v in rng.uniform((0, 0), (w, h)))
        axes = tuple(int(v) for v in rng.uniform(0.05, 0.35, 2) * (w, h))
        cv2.ellipse(holes, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    mask = holes == 0
    return Hints(np.where(mask[..., None], true_ab, 0).astype(np.float32), mask)


def training_hints(true_ab: np.ndarray, rng: np.random.Generator) -> Hints:
    """Hints as training draws them: none (30%), 1-128 points (45%), 1-5 strokes (15%), dense with holes (10%).

    Point counts are log-uniform, so few hints are as common as many; patches are 1-4 px at model size.
    """
    kind = rng.uniform()
    h, w = true_ab.shape[:2]
    if kind < 0.30:
        return Hints.none(h, w)
    if kind < 0.75:
        return random_points(true_ab, int(np.exp(rng.uniform(0, np.log(128)))), rng, (1, 4))
    if kind < 0.90:
        return random_strokes(true_ab, int(rng.integers(1, 6)), rng)
    return dense_with_holes(true_ab, rng)


def evaluation_hints(true_ab: np.ndarray, count: int, seed: int) -> Hints:
    """``count`` point hints drawn from the true colours, the same for the same picture size, count and seed.

    Each is a square patch of its mean true colour, about 1% of the shorter side (at least 3 px), as a
    user's click with a small brush.
    """
    side = max(3, round(min(true_ab.shape[:2]) / 100))
    return random_points(true_ab, count, np.random.default_rng([seed, count]), (side, side))
