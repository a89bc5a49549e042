"""Fixtures of the web app's tests: a tiny colorization model that takes hints, photos for a study, and the
study's pairs made from them."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.tasks import load_task
from palette_kit.testing import synthetic_photo, untrained_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny colorization model with hints (random non-zero weights), DDIM at 2 steps."""
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny", load_task("colorization")(hints=True))


@pytest.fixture(scope="session")
def study_photos(tmp_path_factory) -> Path:
    """Three small colour photos, one in a subfolder."""
    root = tmp_path_factory.mktemp("study")
    (root / "sub").mkdir()
    rng = np.random.default_rng(3)
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        cv2.imwrite(str(root / name), synthetic_photo(rng, 40 + 4 * i, 56))
    return root


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from palette_kit.web.command import load_model

    return load_model(None, tiny_checkpoint)[0]


@pytest.fixture(scope="session")
def tiny_pairs(tiny_model, study_photos):
    from palette_kit.web.study import prepare_pairs

    from palette_kit.imageio import list_images

    return prepare_pairs(study_photos, list_images(study_photos), {"tiny": tiny_model}, 0, lambda line: None)
