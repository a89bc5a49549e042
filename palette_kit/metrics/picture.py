"""Picture metrics for any task: PSNR, SSIM, CIEDE2000 colour difference and colourfulness.

Every function takes OpenCV-style BGR ``uint8`` pictures (H, W, 3) of the same shape and computes in
float64 with numpy, vectorised over all pixels.
"""
from __future__ import annotations

import cv2
import numpy as np

from palette_kit.metrics.lab import bgr_to_cie_lab, ciede2000

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


def mean_ciede2000(output: np.ndarray, truth: np.ndarray) -> float:
    """Mean CIEDE2000 (Sharma, Wu & Dalal 2005) over all pixels, on exact CIE L*a*b* (D65)."""
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
