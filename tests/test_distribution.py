"""FID and KID of feature sets against closed forms and a direct computation of the unbiased MMD estimator."""
import itertools
import math

import numpy as np
import pytest

from palette_kit.metrics.distribution import fid, kid, polynomial_kernel


def features(seed: int, n: int, d: int) -> np.ndarray:
    """Non-negative, skewed vectors, like the pool features of a network."""
    return np.random.default_rng(seed).gamma(2.0, 0.2, (n, d))


def naive_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Binkowski et al. (2018), eq. (2), term by term: k(a, b) = (a . b / d + 1)^3."""
    d = x.shape[1]

    def k(a, b):
        return (sum(a_i * b_i for a_i, b_i in zip(a, b)) / d + 1) ** 3

    m, n = len(x), len(y)
    within_x = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_y = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return within_x + within_y - 2 * across


@pytest.mark.parametrize("n, d", [(50, 16), (5, 300)])  # 5 vectors in 300 dimensions: a singular covariance
def test_fid_of_a_set_against_itself_is_zero(n, d):
    x = features(0, n, d)
    assert fid(x, x) == pytest.approx(0, abs=1e-9 * np.trace(np.cov(x, rowvar=False)))


def test_fid_of_a_shifted_and_a_scaled_set():
    """y = x + c: equal covariances, FID = |c|^2. y = 2x: S_2 = 4 S_1, tr((S_1 S_2)^(1/2)) = 2 tr(S_1),
    so FID = |mu|^2 + tr(S_1)."""
    x = features(1, 40, 6)
    shift = np.arange(6) / 10
    assert fid(x, x + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-9)
    expected = np.sum(x.mean(0) ** 2) + np.trace(np.cov(x, rowvar=False))
    assert fid(x, 2 * x) == pytest.approx(expected, rel=1e-9)
    assert fid(2 * x, x) == pytest.approx(expected, rel=1e-9)


def test_kid_is_the_unbiased_mmd_estimator_with_the_cubic_kernel():
    x, y = features(2, 7, 5), features(3, 9, 5) + 0.1  # sets of different sizes
    value, _ = kid(x, y)
    assert value == pytest.approx(naive_mmd2_unbiased(x, y), rel=1e-12)
    assert kid(y, x)[0] == pytest.approx(value, rel=1e-12)
    assert polynomial_kernel(x, y)[2, 3] == pytest.approx((x[2] @ y[3] / 5 + 1) ** 3)


def test_kid_standard_error_is_the_two_sample_jackknife():
    x, y = features(4, 6, 3), features(5, 5, 3)
    variance = 0.0
    for data, other, first in ((x, y, True), (y, x, False)):
        left_out = [naive_mmd2_unbiased(np.delete(data, i, 0), other) if first
                    else naive_mmd2_unbiased(other, np.delete(data, i, 0)) for i in range(len(data))]
        variance += (len(data) - 1) / len(data) * np.sum((np.array(left_out) - np.mean(left_out)) ** 2)
    assert kid(x, y)[1] == pytest.approx(math.sqrt(variance), rel=1e-10)
    assert math.isnan(kid(x[:2], y)[1]) and math.isfinite(kid(x[:2], y)[0])


def test_kid_standard_error_matches_the_spread_over_independent_draws():
    """Over 30 draws of two sets of 40 from slightly different distributions, the mean standard error is
    within a factor 1.5 of the standard deviation of KID itself, and KID is positive on average."""
    values, errors = [], []
    for seed in range(30):
        value, error = kid(features(2 * seed, 40, 16), features(2 * seed + 1, 40, 16) + 0.05)
        values.append(value)
        errors.append(error)
    spread = np.std(values, ddof=1)
    assert spread / 1.5 < np.mean(errors) < 1.5 * spread
    assert np.mean(values) > 3 * spread / math.sqrt(30)  # the sets differ: KID is positive on average


@pytest.mark.parametrize("metric", [fid, kid])
def test_bad_feature_shapes_are_refused(metric):
    for x, y in itertools.product([np.zeros((1, 4)), np.zeros(4)], [np.ones((3, 4))]):
        with pytest.raises(ValueError, match="n >= 2"):
            metric(x, y)
