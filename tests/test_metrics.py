"""Picture metrics against their published formulas and known values."""
import math

import numpy as np
import pytest

from palette_kit.metrics import bgr_to_cie_lab, ciede2000, colourfulness, mean_ciede2000, picture_metrics, psnr, ssim
from palette_kit.metrics.lab import RGB_TO_XYZ
from palette_kit.testing import synthetic_photo

# G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005, Table 1:
# L1, a1, b1, L2, a2, b2, dE00 (published to 4 decimals).
SHARMA_PAIRS = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_the_34_published_pairs():
    data = np.array(SHARMA_PAIRS)
    expected = data[:, 6]
    np.testing.assert_allclose(ciede2000(data[:, :3], data[:, 3:6]), expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ciede2000(data[:, 3:6], data[:, :3]), expected, rtol=0, atol=1e-4)  # symmetric


def test_ciede2000_keeps_the_leading_shape_and_is_zero_for_equal_colours():
    lab = np.random.default_rng(0).uniform([0, -80, -80], [100, 80, 80], size=(4, 5, 3))
    assert ciede2000(lab, lab).shape == (4, 5)
    np.testing.assert_array_equal(ciede2000(lab, lab), 0)


def test_bgr_to_cie_lab_is_true_cie_lab():
    white, black = np.full((1, 1, 3), 255, np.uint8), np.zeros((1, 1, 3), np.uint8)
    np.testing.assert_allclose(bgr_to_cie_lab(white)[0, 0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(bgr_to_cie_lab(black)[0, 0], [0, 0, 0], atol=0.01)
    red = np.array([[[0, 0, 255]]], np.uint8)  # sRGB red is L* 53.24, a* 80.09, b* 67.20 (D65)
    np.testing.assert_allclose(bgr_to_cie_lab(red)[0, 0], [53.24, 80.09, 67.20], atol=0.1)


@pytest.mark.parametrize("level", [0, 5, 10, 11, 50, 120, 200, 255])
def test_bgr_to_cie_lab_of_grays_is_the_cie_formula(level):
    """Gray v: Y is the sRGB decoding of v / 255 (linear below 0.04045), L* = 116 Y^(1/3) - 16, or
    (29/3)^3 Y below Y = (6/29)^3; a* = b* = 0. Levels 5 and 10 fall in both linear parts, 11 in the second."""
    c = level / 255
    y = c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    expected = 116 * y ** (1 / 3) - 16 if y > (6 / 29) ** 3 else (29 / 3) ** 3 * y
    lab = bgr_to_cie_lab(np.full((2, 3, 3), level, np.uint8))
    np.testing.assert_allclose(lab[..., 0], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lab[..., 1:], 0, rtol=0, atol=1e-9)


def test_bgr_to_cie_lab_of_gray_120_is_not_opencvs():
    assert bgr_to_cie_lab(np.full((1, 1, 3), 120, np.uint8))[0, 0, 0] == pytest.approx(50.431, abs=5e-4)  # cv2: 50.244


def test_bgr_to_cie_lab_of_the_primaries():
    """The sRGB matrix matches IEC 61966-2-1's (to its 4 decimals), and the primaries and secondaries have
    their published L*a*b* (D65; B. Lindbloom's calculator, to 0.01)."""
    iec = [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    np.testing.assert_allclose(RGB_TO_XYZ, iec, rtol=0, atol=1e-4)
    published = {  # RGB: L*, a*, b*
        (255, 0, 0): (53.2408, 80.0925, 67.2032), (0, 255, 0): (87.7347, -86.1827, 83.1793),
        (0, 0, 255): (32.2970, 79.1875, -107.8602), (255, 255, 0): (97.1393, -21.5537, 94.4780),
        (0, 255, 255): (91.1132, -48.0875, -14.1312), (255, 0, 255): (60.3242, 98.2343, -60.8249),
    }
    for rgb, lab in published.items():
        bgr = np.array([[rgb[::-1]]], np.uint8)
        np.testing.assert_allclose(bgr_to_cie_lab(bgr)[0, 0], lab, rtol=0, atol=0.01, err_msg=str(rgb))


def test_mean_ciede2000_of_pictures():
    picture = synthetic_photo(np.random.default_rng(0), 20, 24)
    assert mean_ciede2000(picture, picture) == 0
    other = np.clip(picture.astype(int) + 10, 0, 255).astype(np.uint8)
    expected = ciede2000(bgr_to_cie_lab(picture), bgr_to_cie_lab(other)).mean()
    assert mean_ciede2000(picture, other) == pytest.approx(expected) and expected > 1


def test_psnr_follows_its_formula():
    truth = np.full((8, 9, 3), 100, np.uint8)
    assert psnr(truth + 5, truth) == pytest.approx(10 * math.log10(255 ** 2 / 25))
    half = truth.copy()
    half[:4] += 10  # 4 of 8 rows off by 10: MSE 50
    assert psnr(half, truth) == pytest.approx(10 * math.log10(255 ** 2 / 50))
    assert psnr(truth, truth) == math.inf


def test_ssim_identical_symmetric_and_falling_with_noise():
    rng = np.random.default_rng(0)
    picture = synthetic_photo(rng, 48, 40)
    assert ssim(picture, picture) == pytest.approx(1, abs=1e-12)
    values = []
    for sigma in (2, 10, 40):
        noisy = np.clip(picture + rng.normal(0, sigma, picture.shape), 0, 255).astype(np.uint8)
        assert ssim(noisy, picture) == pytest.approx(ssim(picture, noisy), abs=1e-12)
        values.append(ssim(noisy, picture))
    assert 1 > values[0] > values[1] > values[2] > 0


@pytest.mark.parametrize("level, offset", [(100, 20), (30, 90)])
def test_ssim_of_constant_pictures_is_the_luminance_term(level, offset):
    """Variances and covariance are 0, so contrast-structure is C2 / C2 = 1: SSIM is the luminance term."""
    a, b = np.full((16, 20, 3), level, np.uint8), np.full((16, 20, 3), level + offset, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * level * (level + offset) + c1) / (level ** 2 + (level + offset) ** 2 + c1)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)


def test_colourfulness_of_gray_and_two_colour_pictures():
    gray = np.repeat(np.random.default_rng(0).integers(0, 256, (10, 12, 1), dtype=np.uint8), 3, axis=-1)
    assert colourfulness(gray) == 0
    # Half pure red (R 255), half pure blue (B 255), in BGR.
    picture = np.zeros((4, 6, 3), np.uint8)
    picture[:, :3, 2] = 255
    picture[:, 3:, 0] = 255
    # red: rg 255, yb 127.5; blue: rg 0, yb -255. Means 127.5 and -63.75; population sds 127.5 and 191.25.
    expected = math.hypot(127.5, 191.25) + 0.3 * math.hypot(127.5, -63.75)
    assert colourfulness(picture) == pytest.approx(expected)


def test_picture_metrics_has_every_metric():
    picture = synthetic_photo(np.random.default_rng(2), 20, 24)
    gray = np.repeat(picture.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    metrics = picture_metrics(gray, picture)
    assert list(metrics) == ["psnr", "ssim", "ciede2000", "colourfulness", "colourfulness_truth",
                             "colourfulness_diff"]
    assert metrics["colourfulness"] == 0 and metrics["colourfulness_truth"] == colourfulness(picture)
    assert metrics["colourfulness_diff"] == -metrics["colourfulness_truth"]
    assert metrics["psnr"] == psnr(gray, picture) and metrics["ssim"] == ssim(gray, picture)
    with pytest.raises(ValueError, match="same shape"):
        picture_metrics(gray[:10], picture)


def _textured(seed: int, height: int = 96, width: int = 128) -> np.ndarray:
    """A colour photo with texture everywhere (optical flow needs some)."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3)).astype(np.uint8), (0, 0), 2)
    return ((synthetic_photo(rng, height, width).astype(np.uint16) + noise) // 2).astype(np.uint8)


def test_the_warp_error_follows_motion_and_finds_flicker():
    from palette_kit.metrics.temporal import Motion
    from palette_kit.video.synthetic import pan_zoom

    before, after = pan_zoom(_textured(0), 2, 48, 64, zoom=1.05, pan=0.05)
    motion = Motion(before, after)
    assert motion.visible.mean() > 0.8  # a slow pan: nearly everything is seen in both frames
    followed = motion.warp_error(before, after)  # results that move with the frames: no flicker
    shifted = after.astype(np.int16)
    shifted[..., 2] += 25  # the second result redder everywhere: flicker
    flicker = motion.warp_error(before, shifted.clip(0, 255).astype(np.uint8))
    assert followed["warp_error"] < 2 and followed["warp_error_ab"] < 1.5
    assert flicker["warp_error"] > 4 * followed["warp_error"] and flicker["warp_error_ab"] > 10
    gray = [np.repeat(f.mean(-1, keepdims=True), 3, -1).astype(np.uint8) for f in (before, after)]
    assert motion.warp_error(*gray)["warp_error_ab"] == pytest.approx(0, abs=1e-6)  # grays have no colour to flicker
