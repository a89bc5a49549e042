"""The inpainting plugin through the ``palette-kit`` command: train (the installed executable, with wandb),
infer and bad input (in this process)."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.testing import palette_kit_exe, run_cli, synthetic_photo


def _env(env: dict | None) -> dict:
    base = {name: value for name, value in os.environ.items() if name != "WANDB_API_KEY"}
    return {**base, "WANDB_MODE": "disabled", **(env or {})}


def run(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command in this process (``run_cli``)."""
    return run_cli(*args, env=_env(env))


def run_exe(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed executable; one thread, as tiny models run fastest that way on a shared CPU."""
    return subprocess.run([palette_kit_exe(), *map(str, args)], capture_output=True, text=True,
                          env={**_env(env), "OMP_NUM_THREADS": "1"})


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single ``Error:`` line of a failed command (exit 1, no traceback)."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny inpainting model trained for two epochs, tracked by wandb offline inside the temp folder."""
    root = tmp_path_factory.mktemp("inpainting-cli")
    rng = np.random.default_rng(1)
    (root / "data").mkdir()
    for i in range(6):
        cv2.imwrite(str(root / "data" / f"p{i}.png"), synthetic_photo(rng, 36, 44))
    wandb_env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    wandb_env |= {var: str(root / var.lower()) for var in
                  ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR")}
    result = run_exe("train", "--task", "inpainting", "--data", root / "data", "--preset", "tiny", "--epochs", 2,
                 "--batch-size", 2, "--lr", 1e-3, "--sample-steps", 4, "--val-samples", 1, "--out", root / "run",
                 "--wandb", env=wandb_env)
    assert result.returncode == 0, result.stderr
    return root / "run"


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "in put.png"
    cv2.imwrite(str(path), synthetic_photo(np.random.default_rng(5), 57, 83))
    return path


def test_train_writes_samples_and_wandb_images(trained):
    assert (trained / "best" / "model.safetensors").is_file()
    assert (trained / "samples" / "epoch_002.png").is_file()
    assert list(trained.glob("wandb/offline-run-*/files/media/images/*.png"))


def test_infer_with_a_mask_keeps_known_pixels(trained, photo, tmp_path):
    mask = np.zeros((57, 83), np.uint8)
    mask[10:30, 20:60] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    result = run("infer", "--task", "inpainting", "--checkpoint", trained / "best", photo,
                 "--mask", tmp_path / "mask.png", "--output", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    image, out = cv2.imread(str(photo)), cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[mask == 0], image[mask == 0])


def test_infer_without_a_mask_fills_the_centre(trained, photo, tmp_path):
    result = run("infer", "--task", "inpainting", "--checkpoint", trained / "best", photo, "--steps", 2)
    assert result.returncode == 0, result.stderr
    image, out = cv2.imread(str(photo)), cv2.imread(str(tmp_path / "in put.inpainting.png"))
    assert out.shape == image.shape
    known = np.ones((57, 83), bool)
    known[14:43, 20:63] = False
    np.testing.assert_array_equal(out[known], image[known])


def test_infer_rejects_a_mask_of_another_size(trained, photo, tmp_path):
    cv2.imwrite(str(tmp_path / "small mask.png"), np.full((20, 20), 255, np.uint8))
    result = run("infer", "--task", "inpainting", "--checkpoint", trained / "best", photo,
                 "--mask", tmp_path / "small mask.png", "--output", tmp_path / "out.png")
    line = one_error_line(result)
    assert str(tmp_path / "small mask.png") in line and "20x20" in line and "83x57" in line
    assert not (tmp_path / "out.png").exists()


def test_infer_offers_mask_and_rejects_other_tasks_options(photo, tmp_path):
    result = run("infer", "--task", "inpainting", "--checkpoint", tmp_path, photo, "--margin", 3)
    assert result.returncode != 0 and "No such option" in result.stderr and "Traceback" not in result.stderr
    help_text = run("infer", "--task", "inpainting", "--help")
    assert help_text.returncode == 0 and "--mask" in help_text.stdout
