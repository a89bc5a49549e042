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


def naive_mmd2_paired(x: np.ndarray, y: np.ndarray) -> float:
    """Gretton et al. (2012), eq. (3): the mean over i != j of k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i)."""
    d, n = x.shape[1], len(x)

    def k(a, b):
        return (sum(a_i * b_i for a_i, b_i in zip(a, b)) / d + 1) ** 3

    return sum(k(x[i], x[j]) + k(y[i], y[j]) - k(x[i], y[j]) - k(x[j], y[i])
               for i in range(n) for j in range(n) if i != j) / (n * (n - 1))


def jackknife_se(left_out: list[list[float]]) -> float:
    return math.sqrt(sum((len(t) - 1) / len(t) * np.sum((np.array(t) - np.mean(t)) ** 2) for t in left_out))


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


def test_kid_standard_error_is_the_jackknife():
    x, y = features(4, 6, 3), features(5, 5, 3)
    without_x = [naive_mmd2_unbiased(np.delete(x, i, 0), y) for i in range(len(x))]
    without_y = [naive_mmd2_unbiased(x, np.delete(y, j, 0)) for j in range(len(y))]
    assert kid(x, y)[1] == pytest.approx(jackknife_se([without_x, without_y]), rel=1e-10)
    assert math.isnan(kid(x[:2], y)[1]) and math.isfinite(kid(x[:2], y)[0])
    y = y[:5] + 0.1 * x[:5]  # paired: y_i made from x_i
    without_pair = [naive_mmd2_paired(np.delete(x[:5], i, 0), np.delete(y, i, 0)) for i in range(5)]
    assert kid(x[:5], y, paired=True)[1] == pytest.approx(jackknife_se([without_pair]), rel=1e-10)


def test_paired_kid_leaves_out_each_result_against_its_own_truth():
    """Results made from their truths (y_i = x_i + noise) are not an independent sample: the unpaired estimator
    goes below 0, the paired one is 0 for identical sets and the direct formula otherwise."""
    x = features(6, 8, 4)
    y = x + np.random.default_rng(7).normal(0, 0.02, x.shape)
    assert kid(x, y, paired=True)[0] == pytest.approx(naive_mmd2_paired(x, y), rel=1e-10)
    assert kid(x, x, paired=True)[0] == pytest.approx(0, abs=1e-12) and kid(x, x)[0] < 0
    with pytest.raises(ValueError, match="same n"):
        kid(x, y[:5], paired=True)


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
