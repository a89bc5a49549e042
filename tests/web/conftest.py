"""Fixtures of the web app's tests: a tiny colorization model that takes hints, photos for a study, and the app
with a study on them."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from palette_kit.model import Palette
from palette_kit.tasks import load_task
from palette_kit.testing import synthetic_photo

SAMPLE = Path(__file__).parents[2] / "samples" / "seeding-gray.jpg"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny colorization model with hints (random non-zero weights), DDIM at 2 steps."""
    torch.manual_seed(0)
    model = Palette.create(load_task("colorization")(hints=True), "tiny", sampler="ddim", steps=2)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path_factory.mktemp("model") / "tiny"
    model.save(path)
    return path


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

    return prepare_pairs(study_photos, {"tiny": tiny_model}, 0, lambda line: None)


def build_app(model, folder: Path, pairs=None, trials: int = 3, practice: int = 1, show_seconds: float = 0.2,
              limits=None):
    """The app (and its state) on ``model`` with files under ``folder`` and, given ``pairs``, a study."""
    from palette_kit.web.app import App, Limits, create_app
    from palette_kit.web.jobs import Shelf, Worker
    from palette_kit.web.store import Store
    from palette_kit.web.study import Study, StudySettings

    study = None
    if pairs is not None:
        study = Study(pairs, Store(folder / "study.sqlite"), StudySettings(trials, practice, show_seconds),
                      {"tiny": {"model": "tiny", "seed": "0"}})
    files = folder / "files"
    files.mkdir()
    state = App(Worker(model, {"software": "palette-kit test", "task": model.task.name}, Shelf(files)),
                limits or Limits(), study, "the-token")
    return create_app(state), state
