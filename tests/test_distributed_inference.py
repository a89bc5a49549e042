"""`infer` and `evaluate` under torchrun: two gloo processes on the CPU share the files, write what one process
writes, byte for byte, and rank 0 alone reports for both (a bad file on one process does not stop the other)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from palette_kit.tasks import load_task
from palette_kit.testing import run_cli, synthetic_photo, untrained_checkpoint
from palette_kit.video.synthetic import pan_zoom, write_video

ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny", load_task("colorization")())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Five pictures, one of them a bad file (the third: in batches of two it falls to rank 1 of two), and two
    short videos."""
    root = tmp_path_factory.mktemp("files") / "in"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(str(root / f"p{i}.png"), synthetic_photo(rng, 30 + 2 * i, 40))
    (root / "p2.png").write_bytes(b"not a picture")
    for i in range(2):
        write_video(root / f"v{i}.mp4", pan_zoom(synthetic_photo(rng, 48, 64), 3, 24, 32), audio=False)
    return root


def torchrun(*args, cwd: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc-per-node", "2",
               "-m", "palette_kit", *map(str, args), "--device", "cpu"]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=ENV, timeout=600)


@pytest.fixture
def one_thread():
    """torch on one thread in this process, as torchrun starts each of several processes (OMP_NUM_THREADS=1):
    a CPU's float results depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_processes_write_the_bytes_one_writes_and_one_summary(checkpoint, files, tmp_path, one_thread):
    args = ("infer", "--task", "colorization", "--checkpoint", checkpoint, files, "--num-samples", "2",
            "--batch-size", "4")  # batches of two pictures (a batch of one computes other bits on a CPU)
    alone = run_cli(*args, "--output", tmp_path / "alone", env=ENV)
    assert alone.returncode == 1 and "12 written, 1 failed" in alone.stderr, alone.stderr
    shared = torchrun(*args, "--output", tmp_path / "shared", cwd=tmp_path)
    output = shared.stdout + shared.stderr
    assert shared.returncode != 0 and not re.search(r'File ".*palette_kit/', output), output  # torchrun's own only
    assert output.count("12 written, 1 failed") == 1, output  # one summary, over both processes
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "p2.png" in errors[0], output  # rank 1's bad file, reported once by rank 0
    assert output.count("v0.colorization.s0.mp4") == output.count("v1.colorization.s0.mp4") == 1  # one rank each
    written = contents(tmp_path / "shared")
    assert sorted(written) == sorted(contents(tmp_path / "alone")) and len(written) == 12
    assert written == contents(tmp_path / "alone")
    again = torchrun(*args, "--output", tmp_path / "shared", cwd=tmp_path)  # everything exists: skipped
    assert (again.stdout + again.stderr).count("0 written, 12 skipped") == 1


def test_two_processes_evaluate_as_one_and_write_the_reports_once(checkpoint, files, tmp_path, one_thread):
    args = ("evaluate", "--task", "colorization", "--checkpoint", checkpoint, "--data", files, "--batch-size", "2")
    alone = run_cli(*args, "--out", tmp_path / "alone", env=ENV)
    assert alone.returncode == 1 and "6 evaluated, 1 failed" in alone.stderr, alone.stderr
    shared = torchrun(*args, "--out", tmp_path / "shared", cwd=tmp_path)
    output = shared.stdout + shared.stderr
    assert output.count("6 evaluated, 1 failed") == 1 and output.count("reports: ") == 1, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "shared"]
    report, expected = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("shared", "alone"))
    names = ("p0.png", "p1.png", "p3.png", "p4.png", "v0.mp4", "v1.mp4")
    assert [row["image"] for row in report["images"]] == [str(files / name) for name in names]
    assert report["images"] == expected["images"] and report["mean"] == expected["mean"]
    assert report["failed"] == expected["failed"] and "p2.png" in report["failed"][0]["image"]
    assert "warp_error" in report["images"][-1] and "warp_error" not in report["images"][0]
    if "set" in expected:  # FID, KID and CA of the four pictures, gathered from both processes; numpy's BLAS
        # runs on one thread under torchrun, which moves the last bits of FID's eigendecompositions
        assert report["set"]["n"] == 4 and report["set"] == pytest.approx(expected["set"], rel=1e-12)
