"""The uncropping task through the `palette-kit` command (in this process): train, infer, bad input."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.testing import assert_one_line_error, run_cli, synthetic_photo


def run(*args) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "WANDB_MODE": "disabled"})


def infer(checkpoint: Path, *args) -> subprocess.CompletedProcess:
    return run("infer", "--task", "uncropping", "--checkpoint", checkpoint, "--steps", 2, *args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny uncropping model trained for two epochs on six synthetic photos; returns the run folder."""
    root = tmp_path_factory.mktemp("uncropping-cli")
    rng = np.random.default_rng(1)
    (root / "data").mkdir()
    for i in range(6):
        cv2.imwrite(str(root / "data" / f"p{i}.png"), synthetic_photo(rng, 36, 44))
    result = run("train", "--task", "uncropping", "--data", root / "data", "--preset", "tiny", "--epochs", 2,
                 "--batch-size", 2, "--lr", 1e-3, "--sample-steps", 4, "--val-samples", 1, "--out", root / "run",
                 "--no-wandb")
    assert result.returncode == 0, result.stderr
    return root / "run"


@pytest.fixture
def picture(tmp_path) -> tuple[Path, np.ndarray]:
    image = synthetic_photo(np.random.default_rng(5), 30, 40)
    path = tmp_path / "in put.png"
    cv2.imwrite(str(path), image)
    return path, image


def test_train_writes_a_checkpoint_and_sample_grids(trained):
    assert (trained / "best" / "model.safetensors").is_file()
    grid = cv2.imread(str(trained / "samples" / "epoch_002.png"))
    assert grid.shape == (32, 3 * 32 + 2 * 2, 3)  # condition | prediction | ground truth


def test_infer_extends_the_left_side_and_keeps_the_picture(trained, picture, tmp_path):
    path, image = picture
    result = infer(trained / "best", path, "--margin", "0.5,0,0,0", "--output", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (30, 60, 3)
    assert out[:, 20:].tobytes() == image.tobytes()


def test_infer_default_margin_is_a_quarter_on_every_side(trained, picture):
    path, image = picture
    result = infer(trained / "best", path)
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(path.with_name("in put.uncropping.png")))
    assert out.shape == (30 + 2 * 8, 40 + 2 * 10, 3)
    assert out[8:38, 10:50].tobytes() == image.tobytes()


def test_infer_bad_input_writes_nothing(trained, picture, tmp_path):
    path, _ = picture
    out = tmp_path / "out.png"
    assert_one_line_error(infer(trained / "best", path, "--margin", "5", "--output", out),
                          "--margin", "limit of 4 times")
    (tmp_path / "note.png").write_text("not a picture")
    assert_one_line_error(infer(trained / "best", tmp_path / "note.png", "--output", out), "not a readable image")
    assert not out.exists()


def test_infer_options_on_the_command_line(trained, picture):
    result = infer(trained / "best", picture[0], "--mask", "m.png")
    assert result.returncode == 2 and "No such option" in result.stderr and "--mask" in result.stderr
    help_text = run("infer", "--task", "uncropping", "--help")
    assert help_text.returncode == 0 and "--margin" in help_text.stdout and "left,right,top,bottom" in help_text.stdout
