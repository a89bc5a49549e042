"""The JPEG restoration task through the `palette-kit` command (in this process): train, infer, bad input."""
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.testing import assert_one_line_error, run_cli, synthetic_photo

TASK = "jpeg-restoration"


def run(*args) -> subprocess.CompletedProcess:
    """The command with ``args``, in this process (``run_cli``)."""
    return run_cli(*args, env={**os.environ, "WANDB_MODE": "disabled"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny model trained for two epochs on six synthetic photos, with a non-default quality range."""
    root = tmp_path_factory.mktemp("jpeg-cli")
    rng = np.random.default_rng(1)
    (root / "data").mkdir()
    for i in range(6):
        cv2.imwrite(str(root / "data" / f"p{i}.png"), synthetic_photo(rng, 36, 44))
    result = run("train", "--task", TASK, "--data", root / "data", "--preset", "tiny", "--epochs", 2,
                 "--batch-size", 2, "--lr", 1e-3, "--sample-steps", 4, "--val-samples", 1, "--out", root / "run",
                 "--no-wandb", "--quality-min", 10, "--quality-max", 20)
    assert result.returncode == 0, result.stderr
    assert "best val_mae" in result.stdout
    return root / "run"


def test_train_saves_the_task_options_and_sample_grids(trained):
    config = json.loads((trained / "best" / "config.json").read_text())
    assert config["task"] == {"name": TASK, "options": {"quality_min": 10, "quality_max": 20}}
    grid = cv2.imread(str(trained / "samples" / "epoch_002.png"))
    assert grid is not None and grid.shape[0] >= 32 and grid.shape[1] >= 3 * 32


def test_infer_on_a_jpeg_keeps_its_size(trained, tmp_path):
    cv2.imwrite(str(tmp_path / "photo.jpg"), synthetic_photo(np.random.default_rng(5), 57, 83),
                [cv2.IMWRITE_JPEG_QUALITY, 15])
    result = run("infer", "--task", TASK, "--checkpoint", trained / "best", tmp_path / "photo.jpg",
                 "--output", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "out.png")).shape == (57, 83, 3)


@pytest.mark.parametrize("quality", [None, 10])
def test_infer_on_a_png_as_given_or_re_encoded(trained, tmp_path, quality):
    cv2.imwrite(str(tmp_path / "photo.png"), synthetic_photo(np.random.default_rng(6), 41, 29))
    extra = () if quality is None else ("--quality", quality)
    result = run("infer", "--task", TASK, "--checkpoint", trained / "best", tmp_path / "photo.png",
                 "--output", tmp_path / "out.png", "--steps", 2, *extra)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "out.png")).shape == (41, 29, 3)


def test_infer_on_a_text_file_named_jpg_is_a_one_line_error(trained, tmp_path):
    (tmp_path / "note.jpg").write_text("not a picture")
    result = run("infer", "--task", TASK, "--checkpoint", trained / "best", tmp_path / "note.jpg",
                 "--output", tmp_path / "out.png")
    assert_one_line_error(result, "not a readable image", str(tmp_path / "note.jpg"))
    assert not (tmp_path / "out.png").exists()


def test_train_rejects_a_minimum_above_the_maximum(tmp_path):
    cv2.imwrite(str(tmp_path / "ok.png"), synthetic_photo(np.random.default_rng(0), 20, 20))
    result = run("train", "--task", TASK, "--data", tmp_path, "--preset", "tiny", "--no-wandb",
                 "--out", tmp_path / "run", "--quality-min", 50, "--quality-max", 10)
    assert_one_line_error(result, "--quality-min (50)", "--quality-max (10)")
    assert not (tmp_path / "run").exists()


def test_train_help_lists_the_task_options():
    result = run("train", "--task", TASK, "--help")
    assert result.returncode == 0, result.stderr
    assert "--quality-min" in result.stdout and "--quality-max" in result.stdout
