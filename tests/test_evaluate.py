"""Evaluation: rows of metrics per picture with the task's baseline, means, reports, and the CLI command."""
import csv
import json
import math
import os
import subprocess

import cv2
import numpy as np
import pytest
import torch

from palette_kit.evaluate import evaluate, format_table, summarise, write_reports
from palette_kit.imageio import read_image, to_unit
from palette_kit.metrics import colourfulness, picture_metrics
from palette_kit.metrics.sets import unavailable
from palette_kit.model import Palette
from palette_kit.tasks import load_task
from palette_kit.tasks.base import Task
from palette_kit.testing import run_cli, synthetic_photo

METRICS = ["psnr", "ssim", "ciede2000", "colourfulness", "colourfulness_truth", "colourfulness_diff", "ab_mae"]


def tiny_model(seed: int = 0) -> Palette:
    torch.manual_seed(seed)
    task = load_task("colorization")()
    model = Palette.create(task, "tiny", steps=2)
    with torch.no_grad():  # leave the zero-initialised state so outputs vary
        for p in model.net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    model.net.eval()
    return model


@pytest.fixture(scope="module")
def model() -> Palette:
    return tiny_model()


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "truth"
    (root / "sub").mkdir(parents=True)
    paths = [root / "a.png", root / "sub" / "b.jpg", root / "c.png"]
    for i, path in enumerate(paths):
        cv2.imwrite(str(path), synthetic_photo(rng, 30 + 5 * i, 40))
    return paths


def run(*args) -> subprocess.CompletedProcess:
    return run_cli(*args, env={**os.environ, "WANDB_MODE": "disabled"})


# --- evaluate, summarise, reports ---------------------------------------------------------------------

def test_evaluate_measures_every_picture_and_the_baseline(model, pictures, tmp_path):
    broken = tmp_path / "truth" / "broken.png"
    broken.write_bytes(b"not a picture")
    rows, failures = evaluate(model, [*pictures, broken], steps=2, sampler=None, seed=0, batch_size=2,
                              progress=False)
    assert [row["image"] for row in rows] == [str(p) for p in pictures]
    assert len(failures) == 1 and failures[0][0] == broken
    assert failures[0][1].startswith(f"not a readable image: {broken}")
    for row in rows:
        assert list(row) == ["image", *METRICS, *("baseline_" + m for m in METRICS)]
        assert all(math.isfinite(row[m]) for m in list(row)[1:])
        assert 0 < row["ssim"] < 1 and row["ab_mae"] > 0
        assert row["baseline_colourfulness"] == 0  # the gray picture
        assert row["baseline_colourfulness_truth"] == row["colourfulness_truth"] > 0
    # Every picture has its own seeded generator: its row does not depend on the batch.
    alone, _ = evaluate(model, pictures[1:2], steps=2, sampler=None, seed=0, batch_size=1, progress=False)
    assert alone[0] == rows[1]
    other_seed, _ = evaluate(model, pictures[1:2], steps=2, sampler=None, seed=1, batch_size=1, progress=False)
    assert other_seed[0]["ab_mae"] != rows[1]["ab_mae"]


def test_evaluate_adds_every_result_truth_and_baseline_to_the_set_metrics(model, pictures):
    class Recorder:
        def __init__(self):
            self.added = []

        def add(self, output, truth, baseline=None, name=""):
            self.added.append((output, truth, baseline))
            assert name

    sets = Recorder()
    rows, _ = evaluate(model, pictures[:2], steps=1, sampler=None, seed=0, batch_size=2, progress=False, sets=sets)
    assert len(sets.added) == 2
    for (output, truth, baseline), path in zip(sets.added, pictures):
        np.testing.assert_array_equal(truth, read_image(path))
        assert output.shape == baseline.shape == truth.shape and colourfulness(baseline) == 0


def test_evaluate_without_a_task_baseline(model, pictures, monkeypatch):
    monkeypatch.setattr(model.task, "baseline", lambda prepared: None)
    rows, _ = evaluate(model, pictures[:1], steps=1, sampler="ddim", seed=0, batch_size=8, progress=False)
    assert list(rows[0]) == ["image", *METRICS]
    table = format_table(summarise(rows))
    assert "baseline" not in table and "ab_mae" in table


def test_the_task_contract_defaults_have_no_baseline_and_no_metrics():
    picture = np.zeros((4, 4, 3), np.uint8)
    assert Task.baseline(None, None) is None and Task.metrics(None, picture, picture) == {}


def test_summarise_means_and_infinite_psnr():
    rows = [{"image": "a", "psnr": 20.0, "ssim": 0.5}, {"image": "b", "psnr": math.inf, "ssim": 1.0},
            {"image": "c", "psnr": 30.0, "ssim": 0.6}]
    assert summarise(rows) == {"psnr": 25.0, "ssim": pytest.approx(0.7)}  # inf left out of the mean
    assert summarise(rows[1:2]) == {"psnr": math.inf, "ssim": 1.0}


def test_reports_and_table(tmp_path):
    rows = [{"image": "a.png", "psnr": 20.0, "ab_mae": 0.1, "baseline_psnr": 18.0, "baseline_ab_mae": 0.2},
            {"image": "b.png", "psnr": math.inf, "ab_mae": 0.0, "baseline_psnr": 16.0, "baseline_ab_mae": 0.3}]
    summary = summarise(rows)
    csv_path, json_path = write_reports(rows, summary, tmp_path / "out", [(tmp_path / "x.png", "unreadable")])
    with csv_path.open() as f:
        table = list(csv.DictReader(f))
    assert [r["image"] for r in table] == ["a.png", "b.png", "mean"]
    assert float(table[1]["psnr"]) == math.inf and float(table[2]["psnr"]) == 20.0
    assert float(table[2]["baseline_ab_mae"]) == pytest.approx(0.25)
    report = json.loads(json_path.read_text())
    assert report["images"][1]["psnr"] == "inf" and report["images"][0] == rows[0]
    assert report["mean"] == pytest.approx(summary)
    assert report["failed"] == [{"image": str(tmp_path / "x.png"), "error": "unreadable"}]
    lines = format_table(summary).splitlines()
    assert [cell.strip() for cell in lines[0].split("|")] == ["metric", "model", "baseline", "model - baseline"]
    assert lines[2].split() == ["psnr", "|", "20.0000", "|", "17.0000", "|", "+3.0000"]
    assert lines[3].split() == ["ab_mae", "|", "0.0500", "|", "0.2500", "|", "-0.2000"]


def test_the_difference_column_is_the_distance_to_the_truth_for_colourfulness():
    """Over-saturating (30 where the truth has 20) is not a gain of 30 over the gray baseline's 0: the
    model is 10 from the truth where the baseline is 20, so the column says -10 (closer)."""
    summary = {"colourfulness": 30.0, "colourfulness_truth": 20.0, "colourfulness_diff": 10.0,
               "baseline_colourfulness": 0.0, "baseline_colourfulness_truth": 20.0,
               "baseline_colourfulness_diff": -20.0}
    rows = {line.split()[0]: line.split() for line in format_table(summary).splitlines()[2:5]}
    assert rows["colourfulness"][-1] == "-10.0000" and rows["colourfulness_diff"][-1] == "-10.0000"
    assert rows["colourfulness_truth"][-1] == "|"  # no difference column: the truth is the same for both


# --- the colorization task's baseline and metrics -----------------------------------------------------

def test_colorization_baseline_is_gray_with_the_pictures_lightness():
    from palette_kit_colorization.lab import lightness

    task = load_task("colorization")()
    grays = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=-1)
    gray_levels = set(lightness(grays).ravel().tolist())
    photo = synthetic_photo(np.random.default_rng(3), 37, 45)
    for picture in (grays, photo):
        baseline = task.baseline(task.prepare(picture, 32))
        assert baseline.shape == picture.shape and baseline.dtype == np.uint8
        assert (baseline == baseline[..., :1]).all()  # B = G = R: no colour at all
        wanted, got = lightness(picture).astype(int), lightness(baseline).astype(int)
        reachable = np.isin(wanted, list(gray_levels))  # 238 of the 256 8-bit L levels are a gray's
        assert (got[reachable] == wanted[reachable]).all() and (np.abs(got - wanted) <= 1).all()
    assert len(gray_levels) == 238


def test_colorization_ab_mae():
    task = load_task("colorization")()
    photo = synthetic_photo(np.random.default_rng(4), 20, 30)
    assert task.metrics(photo, photo) == {"ab_mae": 0.0}
    gray = task.baseline(task.prepare(photo, 32))
    true_ab = cv2.cvtColor(photo, cv2.COLOR_BGR2LAB)[..., 1:]
    neutral = to_unit(np.array(128))  # a gray's 8-bit a and b
    expected = np.abs(to_unit(true_ab).astype(np.float64) - neutral).mean()
    assert task.metrics(gray, photo)["ab_mae"] == pytest.approx(expected, rel=1e-6)
    assert picture_metrics(photo, photo)["ciede2000"] == 0


# --- the CLI ------------------------------------------------------------------------------------------

def test_cli_evaluate_end_to_end(model, pictures, tmp_path):
    model.save(tmp_path / "ckpt")
    out = tmp_path / "report"
    result = run("evaluate", "--task", "colorization", "--data", tmp_path / "truth", "--checkpoint",
                 tmp_path / "ckpt", "--steps", 2, "--limit", 2, "--batch-size", 1, "--device", "cpu", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "mean of 2 files" in result.stdout and "baseline" in result.stdout
    assert "ab_mae" in result.stdout and "ciede2000" in result.stdout
    assert f"reports: {out / 'metrics.csv'} {out / 'metrics.json'}" in result.stdout
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == [str(pictures[0]), str(pictures[2]), "mean"]  # sorted, first 2
    report = json.loads((out / "metrics.json").read_text())
    assert len(report["images"]) == 2 and set(report["mean"]) == set(rows[0]) - {"image"}
    expected, _ = evaluate(model, [pictures[0]], steps=2, sampler=None, seed=0, batch_size=1, progress=False)
    assert report["images"][0]["ab_mae"] == pytest.approx(expected[0]["ab_mae"], abs=1e-6)
    missing = unavailable()
    if missing:  # FID, KID and CA: one line saying how to get them
        assert missing in result.stdout and "set" not in report
    else:
        assert "whole set, n = 2 (FID is biased upward below ~2,000 pictures" in result.stdout
        names = ["fid", "kid", "kid_se", "ca"]
        assert list(report["set"]) == ["n", *names, *("baseline_" + name for name in names)]
        assert report["set"]["n"] == 2 and report["set"]["kid_se"] == "nan"  # a jackknife needs 3
        assert report["set"]["fid"] > 0 and 0 <= report["set"]["ca"] <= 1


def test_cli_evaluate_bad_options(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("evaluate", "--task", "colorization", "--data", tmp_path / "empty", "--checkpoint", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "no images" in errors[0] and str(tmp_path / "empty") in errors[0], result.stderr


def test_a_video_row_is_the_mean_of_its_frames_and_their_warp_error(model, tmp_path, monkeypatch):
    from palette_kit.video.io import VideoReader
    from palette_kit.video.synthetic import pan_zoom, write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, pan_zoom(synthetic_photo(np.random.default_rng(3), 48, 64), 3, 24, 32), audio=False)
    frames = []
    with VideoReader(clip) as reader:  # the frames as decoded, saved losslessly as pictures
        for i, frame in enumerate(reader):
            frames.append(tmp_path / f"f{i}.png")
            cv2.imwrite(str(frames[-1]), frame.picture)
    monkeypatch.setattr(model.task, "carry", lambda previous, result, frame: None)  # frames on their own
    [row], failures = evaluate(model, [clip], steps=2, sampler=None, seed=0, batch_size=1, progress=False)
    pictures, _ = evaluate(model, frames, steps=2, sampler=None, seed=0, batch_size=1, progress=False)
    assert failures == [] and row["image"] == str(clip)
    for name in METRICS:  # carrying nothing, each frame is restored as its picture is
        assert row[name] == pytest.approx(np.mean([p[name] for p in pictures]), rel=1e-9), name
        assert row["baseline_" + name] == pytest.approx(np.mean([p["baseline_" + name] for p in pictures]), rel=1e-9)
    assert row["warp_error"] > 0 and row["warp_error_ab"] > 0 and row["baseline_warp_error_ab"] < 1e-6
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:200])
    rows, failures = evaluate(model, [broken, frames[0]], steps=2, sampler=None, seed=0, batch_size=1, progress=False)
    assert [r["image"] for r in rows] == [str(frames[0])] and failures[0][0] == broken
    assert "cannot read the video" in failures[0][1]
