"""Picture metrics for any task: PSNR, SSIM, CIEDE2000 colour difference and colourfulness.

Every function takes OpenCV-style BGR ``uint8`` pictures (H, W, 3) of the same shape (``ciede2000``
takes CIE L*a*b* arrays) and computes in float64 with numpy, vectorised over all pixels.
"""
from __future__ import annotations

import cv2
import numpy as np

_PEAK = 255.0


def _rgb(picture: np.ndarray) -> np.ndarray:
    """A BGR picture as float64 RGB."""
    return np.asarray(picture)[..., ::-1].astype(np.float64)


def _check_pair(output: np.ndarray, truth: np.ndarray) -> None:
    if output.shape != truth.shape or output.ndim != 3 or output.shape[-1] != 3:
        raise ValueError(f"pictures must both be (H, W, 3) of the same shape, got {output.shape} and {truth.shape}")


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(255^2 / MSE), MSE over all RGB values; inf if identical."""
    _check_pair(output, truth)
    mse = np.mean((_rgb(output) - _rgb(truth)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(_PEAK ** 2 / mse))


def ssim(output: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004, eq. 13): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, L 255,
    per RGB channel."""
    _check_pair(output, truth)
    c1, c2 = (0.01 * _PEAK) ** 2, (0.03 * _PEAK) ** 2
    x, y = _rgb(output), _rgb(truth)

    def window(values: np.ndarray) -> np.ndarray:  # Gaussian-weighted local mean, channel by channel
        return cv2.GaussianBlur(values, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = window(x), window(y)
    var_x = window(x * x) - mu_x ** 2
    var_y = window(y * y) - mu_y ** 2
    cov = window(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean(axis=(0, 1)).mean())


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Per-colour CIEDE2000 difference of CIE L*a*b* arrays (..., 3), kL = kC = kH = 1 (Sharma, Wu & Dalal 2005)."""
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    L1, a1, b1 = np.moveaxis(lab1, -1, 0)
    L2, a2, b2 = np.moveaxis(lab2, -1, 0)
    # (2)-(7): a' stretched by G, C' and h' (h' = 0 where a' = b = 0).
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where(c1p == 0, 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where(c2p == 0, 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    # (8)-(12): differences; the hue difference takes the short way round the circle.
    chroma_product = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma_product == 0, 0.0, dh)
    d_L, d_C = L2 - L1, c2p - c1p
    d_H = 2 * np.sqrt(chroma_product) * np.sin(np.radians(dh) / 2)
    # (13)-(14): means; the mean hue also goes the short way (and is the sum where a chroma is 0).
    L_bar, c_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2))
    h_bar = np.where(chroma_product == 0, h_sum, h_bar)
    # (15)-(22): weighting functions and the rotation term.
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((d_L / s_l) ** 2 + (d_C / s_c) ** 2 + (d_H / s_h) ** 2 + r_t * (d_C / s_c) * (d_H / s_h))


def bgr_to_cie_lab(picture: np.ndarray) -> np.ndarray:
    """BGR ``uint8`` as CIE L*a*b* (L 0..100, D65), float64: OpenCV's float conversion of values / 255."""
    lab = cv2.cvtColor(np.asarray(picture, np.uint8).astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    return lab.astype(np.float64)


def mean_ciede2000(output: np.ndarray, truth: np.ndarray) -> float:
    """Mean CIEDE2000 (Sharma, Wu & Dalal 2005) over all pixels, sRGB D65 to CIE L*a*b* by OpenCV."""
    _check_pair(output, truth)
    return float(ciede2000(bgr_to_cie_lab(output), bgr_to_cie_lab(truth)).mean())


def colourfulness(bgr: np.ndarray) -> float:
    """Hasler & Suesstrunk 2003: rg = R-G, yb = (R+G)/2 - B,
    M = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2)."""
    rgb = _rgb(bgr).reshape(-1, 3)
    rg = rgb[:, 0] - rgb[:, 1]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def picture_metrics(output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Every metric above of ``output`` against ``truth`` (colourfulness_diff: output minus truth)."""
    colourful, colourful_truth = colourfulness(output), colourfulness(truth)
    return {
        "psnr": psnr(output, truth),
        "ssim": ssim(output, truth),
        "ciede2000": mean_ciede2000(output, truth),
        "colourfulness": colourful,
        "colourfulness_truth": colourful_truth,
        "colourfulness_diff": colourful - colourful_truth,
    }
