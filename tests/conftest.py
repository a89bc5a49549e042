"""Shared fixtures: wandb kept inside the test's temp folders, small generated photos, installed test plugins."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.testing import synthetic_photo

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _wandb_sandbox(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("wandb-home")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """Twelve small colour pictures in nested folders, plus a file that is not an image."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for i in range(12):
        folder = root / ("a" if i % 2 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"img{i}.{'png' if i % 3 else 'jpg'}"), synthetic_photo(rng, 40 + i, 48))
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="session")
def test_plugins(tmp_path_factory) -> Path:
    """The distribution in fixtures/plugin_examples, really installed (pip) into its own site folder."""
    work = tmp_path_factory.mktemp("plugins")
    source = shutil.copytree(FIXTURES / "plugin_examples", work / "src")
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True)
    return site


@pytest.fixture
def with_test_plugins(test_plugins, monkeypatch) -> dict[str, str]:
    """Puts the test plugins on sys.path (this process) and PYTHONPATH (child processes)."""
    monkeypatch.syspath_prepend(str(test_plugins))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(test_plugins), os.environ.get("PYTHONPATH", "")])}
    return env
