"""Colour conversion between OpenCV BGR ``uint8`` pictures and OpenCV 8-bit Lab scaled to [-1, 1].

OpenCV's 8-bit Lab stores every channel in 0..255 (L scaled by 255/100, a and b offset by
128); the model sees those values mapped linearly onto [-1, 1] by ``x * 2 / 255 - 1``.
All functions take pictures of shape (..., H, W, 3): a single picture or a batch.
"""
from __future__ import annotations

import cv2
import numpy as np

from palette_kit.imageio import to_unit, to_uint8


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


def lightness(bgr: np.ndarray) -> np.ndarray:
    """The 8-bit L channel (..., H, W) of BGR ``uint8`` pictures."""
    return _convert(bgr, cv2.COLOR_BGR2LAB)[..., 0]


# OpenCV's D65 white point and XYZ -> linear sRGB matrix (cv2.cvtColor's own constants).
_WHITE_X, _WHITE_Z = 0.950456, 1.088754
_XYZ_TO_RGB = np.array([[3.240479, -1.53715, -0.498535],
                        [-0.969256, 1.875991, 0.041556],
                        [0.055648, -0.204043, 1.057311]], np.float32)


def _linear_rgb(lightness: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE Lab (L in 0..100) to unclipped linear RGB, shape (N, 3)."""
    fy = (lightness + 16) / 116
    f = np.stack([fy + a / 500, fy, fy - b / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * np.array([_WHITE_X, 1, _WHITE_Z], np.float32)
    return xyz @ _XYZ_TO_RGB.T


def lab_to_bgr_keeping_lightness(lightness8: np.ndarray, ab: np.ndarray, iterations: int = 12,
                                  band: int = 128) -> np.ndarray:
    """8-bit L (H, W) and ab in [-1, 1] (H, W, 2) as BGR ``uint8`` that keeps that L.

    Colours outside the sRGB gamut are not clipped channel by channel (which changes
    lightness and hue): their chroma is scaled down, by bisection, until they fit. Works on
    ``band`` rows at a time, so a large photo needs float temporaries for a band, not for all of it.
    """
    out = np.empty((*lightness8.shape, 3), np.uint8)
    for top in range(0, lightness8.shape[0], band):
        rows = slice(top, top + band)
        out[rows] = _keep_lightness(lightness8[rows], ab[rows], iterations)
    return out


def _keep_lightness(lightness8: np.ndarray, ab: np.ndarray, iterations: int) -> np.ndarray:
    lab = np.empty((*lightness8.shape, 3), np.float32)
    lab[..., 0] = lightness8 * (100 / 255)
    lab[..., 1:] = (np.asarray(ab, np.float32) + 1) * 127.5 - 128
    flat = lab.reshape(-1, 3)
    rgb = _linear_rgb(flat[:, 0], flat[:, 1], flat[:, 2])
    outside = np.flatnonzero(((rgb < -1e-4) | (rgb > 1 + 1e-4)).any(axis=-1))
    if outside.size:
        lo, hi = np.zeros(outside.size, np.float32), np.ones(outside.size, np.float32)
        light, a, b = flat[outside, 0], flat[outside, 1], flat[outside, 2]
        for _ in range(iterations):
            mid = (lo + hi) / 2
            rgb = _linear_rgb(light, a * mid, b * mid)
            fits = ((rgb >= -1e-4) & (rgb <= 1 + 1e-4)).all(axis=-1)
            lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
        flat[outside, 1:] *= lo[:, None]
    bgr = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    return np.clip(np.round(bgr * 255), 0, 255).astype(np.uint8)
