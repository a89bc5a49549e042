"""Operations on one picture: size, colourfulness, photo or clip art, cut-outs onto backgrounds."""
from __future__ import annotations

import cv2
import numpy as np

SHORT_SIDE = 320


def downscale(pixels: np.ndarray, short_side: int = SHORT_SIDE) -> np.ndarray:
    """A shorter side of ``short_side`` (area filter); never upscaled."""
    scale = short_side / min(pixels.shape[:2])
    if scale >= 1:
        return pixels
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def chroma(pixels: np.ndarray) -> float:
    """The 99th percentile of the Lab chroma (sqrt(a^2 + b^2), CIE units) over the opaque pixels."""
    rgb = pixels[..., :3]
    opaque = pixels[..., 3] >= 128 if pixels.shape[2] == 4 else np.ones(rgb.shape[:2], bool)
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[opaque]
    return float(np.percentile(np.hypot(lab[:, 1], lab[:, 2]), 99)) if len(lab) else 0.0


def flat_fraction(pixels: np.ndarray) -> float:
    """Share of horizontally adjacent opaque pixel pairs of exactly the same colour: high for clip art's
    flat fills, near 0 for photos (sensor noise, texture). Measured at the file's own resolution."""
    rgb = pixels[..., :3].astype(np.int16)
    opaque = pixels[..., 3] >= 250 if pixels.shape[2] == 4 else np.ones(rgb.shape[:2], bool)
    pairs = opaque[:, 1:] & opaque[:, :-1]
    if not pairs.any():
        return 1.0
    same = (np.abs(np.diff(rgb, axis=1)).max(axis=2) == 0)[pairs]
    return float(same.mean())


def opaque_box(pixels: np.ndarray) -> np.ndarray:
    """The cut-out cropped to the bounding box of its pixels with alpha above half."""
    rows, cols = np.nonzero(pixels[..., 3] >= 128)
    if not len(rows):
        return pixels[:0, :0]
    return pixels[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def composite(cutout: np.ndarray, background: np.ndarray, rng: np.random.Generator, margin: float = 0.15) -> np.ndarray:
    """The cut-out (cropped to its opaque box) alpha-blended at the centre of a random crop of ``background``
    scaled down to the cut-out's size plus ``margin`` on each side; nothing is upscaled (a cut-out larger than
    the background shrinks to fit)."""
    cutout = opaque_box(cutout)
    fit = min(background.shape[0] / (cutout.shape[0] * (1 + 2 * margin)),
              background.shape[1] / (cutout.shape[1] * (1 + 2 * margin)))
    if fit < 1:
        cutout = cv2.resize(cutout, (max(1, int(cutout.shape[1] * fit)), max(1, int(cutout.shape[0] * fit))),
                            interpolation=cv2.INTER_AREA)
    h, w = cutout.shape[:2]
    out_h = min(background.shape[0], round(h * (1 + 2 * margin)))
    out_w = min(background.shape[1], round(w * (1 + 2 * margin)))
    zoom = rng.uniform(1.0, max(1.0, min(background.shape[0] / out_h, background.shape[1] / out_w)))
    crop_h, crop_w = min(background.shape[0], round(out_h * zoom)), min(background.shape[1], round(out_w * zoom))
    top = int(rng.integers(0, background.shape[0] - crop_h + 1))
    left = int(rng.integers(0, background.shape[1] - crop_w + 1))
    canvas = cv2.resize(background[top:top + crop_h, left:left + crop_w], (out_w, out_h), interpolation=cv2.INTER_AREA)
    y, x = (out_h - h) // 2, (out_w - w) // 2
    alpha = cutout[..., 3:].astype(np.float32) / 255
    region = canvas[y:y + h, x:x + w].astype(np.float32)
    canvas[y:y + h, x:x + w] = np.rint(alpha * cutout[..., :3] + (1 - alpha) * region).astype(np.uint8)
    return canvas
