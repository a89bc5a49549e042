"""Colour conversion between OpenCV BGR ``uint8`` pictures and OpenCV 8-bit Lab scaled to [-1, 1].

OpenCV's 8-bit Lab stores every channel in 0..255 (L scaled by 255/100, a and b offset by
128); the model sees those values mapped linearly onto [-1, 1] by ``x * 2 / 255 - 1``.
All functions take pictures of shape (..., H, W, 3): a single picture or a batch.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from palette_kit.imageio import to_unit, to_uint8
from palette_kit.lazy import lazy

cv2 = lazy("cv2")
torch = lazy("torch")


def _convert(pictures: np.ndarray, code: int) -> np.ndarray:
    # cv2.cvtColor works on one (H, W, 3) image; the conversion is per pixel, so stack a batch as rows.
    rows = np.ascontiguousarray(pictures).reshape(-1, pictures.shape[-2], 3)
    return cv2.cvtColor(rows, code).reshape(pictures.shape)


def bgr_to_lab(bgr: np.ndarray) -> np.ndarray:
    """BGR ``uint8`` pictures as Lab, float32 in [-1, 1]."""
    return to_unit(_convert(bgr, cv2.COLOR_BGR2LAB))


def lab_to_bgr(lab: np.ndarray) -> np.ndarray:
    """Lab pictures in [-1, 1] as BGR ``uint8`` (values rounded and clipped before conversion)."""
    return _convert(to_uint8(lab), cv2.COLOR_LAB2BGR)


def unrounded_ab(bgr: np.ndarray) -> np.ndarray:
    """The ab of BGR ``uint8`` pictures in [-1, 1], float32 and not rounded to 8-bit levels (``bgr_to_lab``
    rounds a and b to whole CIE units, about 0.5 CIE units of a* + b* off on average): the exact inverse of
    ``lab_to_bgr_keeping_lightness``'s conversion, so a colour carried over stays the colour that was shown."""
    lab = _convert(bgr.astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
    return (lab[..., 1:] + 0.5) / 127.5


def lightness(bgr: np.ndarray) -> np.ndarray:
    """The 8-bit L channel (..., H, W) of BGR ``uint8`` pictures."""
    return _convert(bgr, cv2.COLOR_BGR2LAB)[..., 0]


# OpenCV's D65 white point and XYZ -> linear sRGB matrix (cv2.cvtColor's own constants).
_WHITE_X, _WHITE_Z = 0.950456, 1.088754
_XYZ_TO_RGB = ((3.240479, -1.53715, -0.498535),
               (-0.969256, 1.875991, 0.041556),
               (0.055648, -0.204043, 1.057311))
_EPSILON = 6 / 29
_TOLERANCE = 1e-4
#: Pixels composed at a time: float temporaries for a million pixels, not for the whole photo.
BAND_PIXELS = 2 ** 20
#: Bands composed at once.
BAND_THREADS = 2


def _f_inverse(f: torch.Tensor) -> torch.Tensor:
    """The inverse of CIE Lab's companding function."""
    return torch.where(f > _EPSILON, f * f * f, (3 * _EPSILON ** 2) * (f - 4 / 29))


@cache
def _lightness_terms() -> tuple[torch.Tensor, torch.Tensor]:
    """``fy`` and Y of each of the 256 8-bit L levels."""
    fy = (torch.arange(256, dtype=torch.float32) * (100 / 255) + 16) / 116
    return fy, _f_inverse(fy)


def _in_srgb_gamut(level: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Whether colours (8-bit L ``level``, CIE a and b) have linear sRGB in [0, 1], to a tolerance."""
    fy, y = (terms[level] for terms in _lightness_terms())
    x = _f_inverse(fy + a / 500) * _WHITE_X
    z = _f_inverse(fy - b / 200) * _WHITE_Z
    inside = torch.ones_like(a, dtype=torch.bool)
    for to_x, to_y, to_z in _XYZ_TO_RGB:
        channel = to_x * x + to_y * y + to_z * z
        inside &= (channel >= -_TOLERANCE) & (channel <= 1 + _TOLERANCE)
    return inside


#: Hue steps of the table of largest in-gamut chroma.
HUE_STEPS = 1024
_CHROMA_BOUND = 140.0  # above the largest chroma in the sRGB gamut (about 134, at its blue)


@cache
def _max_chroma() -> np.ndarray:
    """For each 8-bit L level (rows) and each of ``HUE_STEPS`` steps of hue from 0 to 2 pi (columns), the
    largest chroma inside the sRGB gamut at both of the step's ends: by bisection (to 0.04 CIE units), the
    smaller of the two. Within a step the gamut's boundary lies above that but for a sliver (0.1 CIE units on
    average, under 1 at the 99th percentile, more only at the gamut's sharp corners), so colours stay inside it."""
    level = torch.arange(256).repeat_interleave(HUE_STEPS + 1)
    hue = torch.linspace(0, 2 * np.pi, HUE_STEPS + 1).repeat(256)
    cos, sin = torch.cos(hue), torch.sin(hue)
    low, high = torch.zeros(len(level)), torch.full((len(level),), _CHROMA_BOUND)
    for _ in range(12):
        middle = (low + high) / 2
        fits = _in_srgb_gamut(level, cos * middle, sin * middle)
        low, high = torch.where(fits, middle, low), torch.where(fits, high, middle)
    ends = low.reshape(256, HUE_STEPS + 1)
    return torch.minimum(ends[:, :-1], ends[:, 1:]).numpy()


def lab_to_bgr_keeping_lightness(lightness8: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """8-bit L (H, W) and ab in [-1, 1] (H, W, 2) as BGR ``uint8`` that keeps that L.

    Colours outside the sRGB gamut are not clipped channel by channel (which changes lightness and
    hue): their chroma is scaled down, keeping their hue, to the gamut's boundary at their lightness,
    read from a table of it over 256 lightness levels and ``HUE_STEPS`` steps of hue (built once per process).
    Works on bands of about ``BAND_PIXELS`` pixels, ``BAND_THREADS`` at a time, so a large photo needs float
    temporaries for those bands only.
    """
    out = np.empty((*lightness8.shape, 3), np.uint8)
    band = max(1, BAND_PIXELS // max(1, lightness8.shape[1]))

    def compose(top: int) -> None:
        rows = slice(top, top + band)
        out[rows] = _keep_lightness(lightness8[rows], ab[rows])

    with ThreadPoolExecutor(BAND_THREADS) as pool:  # numpy and OpenCV release the GIL
        list(pool.map(compose, range(0, lightness8.shape[0], band)))
    return out


def _limit(lightness8: np.ndarray, hue: np.ndarray) -> np.ndarray:
    """The table's limit at each pixel's L level and hue (radians in [0, 2 pi])."""
    step = np.minimum((hue * np.float32(HUE_STEPS / (2 * np.pi))).astype(np.int32), HUE_STEPS - 1)
    return _max_chroma().reshape(-1)[lightness8.astype(np.int32) * HUE_STEPS + step]


def _keep_lightness(lightness8: np.ndarray, ab: np.ndarray) -> np.ndarray:
    a, b = cv2.split(np.asarray(ab, np.float32) * np.float32(127.5) - np.float32(0.5))  # CIE a, b
    chroma, hue = cv2.cartToPolar(a, b)
    limit = _limit(lightness8, hue)
    scale = np.minimum(limit, chroma) / np.maximum(chroma, np.float32(1e-6))  # 1 inside the gamut
    lab = cv2.merge([lightness8.astype(np.float32) * np.float32(100 / 255), a * scale, b * scale])
    return cv2.convertScaleAbs(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), alpha=255)
