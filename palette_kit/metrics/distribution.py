"""Distances between two sets of feature vectors (n, d), in float64 numpy: FID and KID.

Both are written here (a few lines each) so that they need no SciPy: FID takes the trace of the matrix
square root through symmetric eigendecompositions, which is exact for covariance matrices.
"""
from __future__ import annotations

import math

import numpy as np


def _features(features: np.ndarray, name: str) -> np.ndarray:
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"{name} must be (n, d) with n >= 2, got shape {features.shape}")
    return features


def _psd_eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of a symmetric positive semi-definite matrix; eigenvalues below what
    ``eigh`` resolves (d * eps * the largest) are rounding and set to 0, so singular covariances stay exact."""
    values, vectors = np.linalg.eigh(matrix)
    floor = len(values) * np.finfo(values.dtype).eps * max(values[-1], 0)
    return np.where(values > floor, values, 0.0), vectors


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The square root of a symmetric positive semi-definite matrix."""
    values, vectors = _psd_eigh(matrix)
    return (vectors * np.sqrt(values)) @ vectors.T


def fid(features_1: np.ndarray, features_2: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to the two sets (Heusel et al. 2017):
    |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2)), covariances with n - 1.

    tr((S_1 S_2)^(1/2)) is computed as tr((R S_2 R)^(1/2)) with R = S_1^(1/2): the same eigenvalues, but of a
    symmetric matrix. It is biased upward for small n (for Inception features, below ~2,000 pictures).
    """
    x, y = _features(features_1, "features_1"), _features(features_2, "features_2")
    s_1, s_2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = _sqrt_psd(s_1)
    cross = np.sqrt(_psd_eigh(root @ s_2 @ root)[0]).sum()
    return float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(s_1) + np.trace(s_2) - 2 * cross)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for every pair of rows: the kernel of KID (Binkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _mmd2_and_leave_one_out(x: np.ndarray, y: np.ndarray, paired: bool) -> tuple[float, list[np.ndarray]]:
    """The unbiased estimator of the squared MMD with the cubic polynomial kernel, and its values on the
    leave-one-out subsets: without x_i (every i) and without y_j (every j), or without the pair i if paired.

    Unpaired (Binkowski et al.'s estimator): the means of k over pairs i != j within each set, minus twice
    the mean of k over all pairs across the sets. Paired (row i of ``y`` made from row i of ``x``; Gretton
    et al. 2012, eq. 3): the mean over i != j of k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i), which
    leaves out each result's similarity to its own truth. Leave-one-out values come from row sums.
    """
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):  # sets of 2: nothing is left within a set
        if paired:
            h = k_xx + k_yy - k_xy - k_xy.T
            np.fill_diagonal(h, 0)
            rows, total = h.sum(1), h.sum()
            return float(total / (n * (n - 1))), [(total - 2 * rows) / ((n - 1) * (n - 2))]
        rows_xx, rows_yy = k_xx.sum(1) - np.diag(k_xx), k_yy.sum(1) - np.diag(k_yy)
        s_xx, s_yy, s_xy = rows_xx.sum(), rows_yy.sum(), k_xy.sum()
        within_x, within_y = s_xx / (m * (m - 1)), s_yy / (n * (n - 1))
        without_x = (s_xx - 2 * rows_xx) / ((m - 1) * (m - 2)) + within_y - 2 * (s_xy - k_xy.sum(1)) / ((m - 1) * n)
        without_y = within_x + (s_yy - 2 * rows_yy) / ((n - 1) * (n - 2)) - 2 * (s_xy - k_xy.sum(0)) / (m * (n - 1))
    return float(within_x + within_y - 2 * s_xy / (m * n)), [without_x, without_y]


def kid(features_1: np.ndarray, features_2: np.ndarray, paired: bool = False) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): the unbiased estimator of the squared MMD with the cubic polynomial kernel
    on the whole sets, and its standard error.

    ``paired``: row i of each set belongs to the same picture (a result and its truth). The sets are then
    not independent samples, and the unpaired estimator, which counts k(x_i, y_i), is biased downward (below
    0 for results close to their truths); the paired estimator leaves those terms out and stays unbiased.
    The standard error is the jackknife's (Arvesen 1969 for two samples) over the leave-one-out subsets:
    sqrt(sum over the leave-one-out sets of (m - 1) / m * sum_i (KID without i - their mean)^2). By the
    Efron-Stein inequality it errs on the wide side. NaN when either set has fewer than 3 vectors.
    """
    x, y = _features(features_1, "features_1"), _features(features_2, "features_2")
    if paired and len(x) != len(y):
        raise ValueError(f"paired feature sets must have the same n, got {len(x)} and {len(y)}")
    value, left_out = _mmd2_and_leave_one_out(x, y, paired)
    if min(len(x), len(y)) < 3:
        return value, math.nan
    variance = sum((len(t) - 1) / len(t) * np.sum((t - t.mean()) ** 2) for t in left_out)
    return value, float(math.sqrt(variance))
