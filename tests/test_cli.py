"""The installed ``palette-kit`` executable end to end, and its one-line errors for bad input."""
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from palette_kit.testing import assert_one_line_error, palette_kit_exe, run_cli, synthetic_photo as make_photo


def run(*args) -> subprocess.CompletedProcess:
    """The command in this process (``run_cli``); ``test_infer_uses_the_shipped_model_by_default`` runs the
    installed executable itself."""
    return run_cli(*args, env={**os.environ, "WANDB_MODE": "disabled"})


def run_exe(*args) -> subprocess.CompletedProcess:
    return subprocess.run([palette_kit_exe(), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "WANDB_MODE": "disabled"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny colorization model trained for two epochs through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(1)
    (root / "data").mkdir()
    for i in range(6):
        cv2.imwrite(str(root / "data" / f"p{i}.png"), make_photo(rng, 36, 44))
    result = run("train", "--task", "colorization", "--data", root / "data", "--preset", "tiny", "--epochs", 2,
                 "--batch-size", 2, "--lr", 1e-3, "--sample-steps", 4, "--val-samples", 1, "--out", root / "run",
                 "--no-wandb")
    assert result.returncode == 0, result.stderr
    assert "best val_mae" in result.stdout
    return root


def test_train_writes_a_run_folder(trained):
    run_dir = trained / "run"
    assert (run_dir / "best" / "model.safetensors").is_file() and (run_dir / "best" / "config.json").is_file()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run_dir / "samples" / "epoch_002.png").is_file()


def test_infer_keeps_size_and_l_channel(trained, tmp_path):
    color = make_photo(np.random.default_rng(5), 57, 83)
    gray = cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "in put.png"), gray)
    result = run("infer", "--task", "colorization", "--checkpoint", trained / "run" / "best",
                 tmp_path / "in put.png", "--output", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (57, 83, 3)
    l_in = cv2.cvtColor(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), cv2.COLOR_BGR2LAB)[..., 0].astype(int)
    l_out = cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[..., 0].astype(int)
    assert np.abs(l_in - l_out).mean() < 1.0 and np.abs(l_in - l_out).max() <= 8


def test_infer_default_output_name_and_several_inputs(trained, tmp_path):
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(tmp_path / name), make_photo(np.random.default_rng(2), 30, 30))
    result = run("infer", "--task", "colorization", "--checkpoint", trained / "run" / "best", "--steps", 2,
                 tmp_path / "a.jpg", tmp_path / "b.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.colorization.png").is_file() and (tmp_path / "b.colorization.png").is_file()


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmsolver"])
def test_infer_results_do_not_depend_on_the_batch(trained, tmp_path, sampler):
    """Every image gets --seed: alone, in a batch beside others, or split over batches, it comes out the same."""
    rng = np.random.default_rng(3)
    names = ["a.png", "b.png", "c.png"]
    for name in names:
        cv2.imwrite(str(tmp_path / name), make_photo(rng, 30, 40))
    ckpt, args = trained / "run" / "best", ("--sampler", sampler, "--steps", 4, "--seed", 7)
    result = run("infer", "--task", "colorization", "--checkpoint", ckpt, *args, "--batch-size", 2,
                 *[tmp_path / n for n in names], "--output", tmp_path / "batched")
    assert result.returncode == 0, result.stderr
    result = run("infer", "--task", "colorization", "--checkpoint", ckpt, *args, tmp_path / "c.png",
                 "--output", tmp_path / "alone.png")
    assert result.returncode == 0, result.stderr
    batched = cv2.imread(str(tmp_path / "batched" / "c.colorization.png")).astype(int)
    assert np.abs(batched - cv2.imread(str(tmp_path / "alone.png")).astype(int)).max() <= 1  # float rounding


def test_infer_bad_inputs(trained, tmp_path):
    ckpt = trained / "run" / "best"
    (tmp_path / "note.jpg").write_text("not a picture")
    (tmp_path / "broken.png").write_bytes(cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))[1][:40].tobytes())
    cases = {
        "missing.png": "no such file or folder",
        "note.jpg": "not a readable image",
        "broken.png": "not a readable image",
    }
    for name, message in cases.items():
        result = run("infer", "--task", "colorization", "--checkpoint", ckpt, tmp_path / name,
                     "--output", tmp_path / f"out-{name}.png")
        assert_one_line_error(result, message, str(tmp_path / name))
        assert "Traceback" not in result.stderr
        assert not (tmp_path / f"out-{name}.png").exists()
    assert_one_line_error(run("infer", "--task", "colorization", "--checkpoint", tmp_path / "nope", "x.png"),
                          "checkpoint not found")
    assert_one_line_error(run("infer", "--task", "colorization", "--checkpoint", ckpt, "x.png", "--steps", 5000),
                          "--steps must be at most 1000")
    result = run("infer", "--task", "colorization", "--checkpoint", ckpt, "x.png", "--sampler", "euler")
    assert result.returncode == 2 and "Traceback" not in result.stderr  # click's usage errors exit with 2
    assert "Error: Invalid value for '--sampler'" in result.stderr and "'euler'" in result.stderr, result.stderr


def test_train_bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("hello")
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((8, 8, 3), np.uint8))
    base = ["train", "--task", "colorization", "--no-wandb", "--out", tmp_path / "run"]
    assert_one_line_error(run(*base, "--data", tmp_path / "missing"), "data folder not found", "missing")
    assert_one_line_error(run(*base, "--data", tmp_path / "empty"), "no images", "empty")
    assert_one_line_error(run(*base, "--data", tmp_path / "texts"), "no images", "texts")
    for flag, value in (("--preset", "huge"), ("--schedule", "cosine"), ("--task", "paint")):
        result = run(*base, "--data", tmp_path, flag, value)
        assert result.returncode == 2 and "Traceback" not in result.stderr  # click's usage error
        assert f"Invalid value for '{flag}'" in result.stderr and f"'{value}'" in result.stderr, result.stderr
    assert not (tmp_path / "run").exists()


def test_bad_pictures_are_reported_up_front_or_skipped_mid_run_never_a_crash(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        cv2.imwrite(str(data / f"ok{i}.png"), make_photo(np.random.default_rng(i), 20, 20))
    (data / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")  # no header: found by the scan
    jpeg = cv2.imencode(".jpg", make_photo(np.random.default_rng(9), 160, 160))[1].tobytes()
    (data / "half.jpg").write_bytes(jpeg[:len(jpeg) * 3 // 4])  # a good header: fails only when decoded
    result = run("train", "--task", "colorization", "--data", data, "--preset", "tiny", "--epochs", 2,
                 "--batch-size", 2, "--no-wandb", "--out", tmp_path / "run", "--sample-steps", 2)  # val: ok2.png
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert sum("left out" in line and "bad.jpg" in line for line in warnings) == 1, result.stderr
    assert sum("skipped" in line and "half.jpg" in line for line in warnings) == 1, result.stderr  # once
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["skipped_files"] == 1 and "1 unreadable picture(s) skipped" in result.stdout


def test_infer_uses_the_shipped_model_by_default(tmp_path):
    """No --checkpoint: the colorization plugin's bundled model (checksum-verified at load) colours the sample."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "seeding-gray.jpg"
    result = run_exe("infer", "--task", "colorization", sample, "--output", tmp_path / "out.png", "--steps", 3)
    assert result.returncode == 0, result.stderr
    gray, out = cv2.imread(str(sample)), cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == gray.shape
    l_in = cv2.cvtColor(gray, cv2.COLOR_BGR2LAB)[..., 0].astype(int)
    l_out = cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[..., 0].astype(int)
    assert np.abs(l_in - l_out).max() <= 8 and np.abs(l_in - l_out).mean() < 1.0
    assert cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[..., 1:].astype(int).std() > 1  # it added colour
