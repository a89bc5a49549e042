"""Training that survives: a run killed with SIGKILL resumes bit-identically; two gloo processes
train in step and write one run folder; bad resumes are one-line errors that change nothing."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from palette_kit.testing import assert_one_line_error, palette_kit_exe
from palette_kit.training.state import find_checkpoints, load_state

MAX_STEPS = 12


def train_args(data: Path, out: Path, *extra) -> list[str]:
    """A tiny colorization run: 11 training photos, batch 2 -> 6 steps per epoch; stops after 12."""
    return [palette_kit_exe(), "train", "--task", "colorization", "--data", str(data), "--out", str(out),
            "--preset", "tiny", "--epochs", "3", "--batch-size", "2", "--sample-steps", "2", "--val-samples", "1",
            "--max-steps", str(MAX_STEPS), "--checkpoint-every", "2", "--keep-last", "10", "--ema-decay", "0.99",
            "--warmup-steps", "3", "--no-wandb", *map(str, extra)]


ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=ENV, **kwargs)


def epoch_rows(out: Path) -> dict[int, dict]:
    """metrics.jsonl by epoch (the last row of an epoch wins), without the timing."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {row["epoch"]: {k: v for k, v in row.items() if k != "seconds"} for row in rows}


def assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}: {key} differs"


def optimizer_tensors(state: dict) -> dict[str, torch.Tensor]:
    return {f"{i}.{name}": v for i, per in state["state"].items() for name, v in per.items()
            if isinstance(v, torch.Tensor)}


def test_killed_run_resumes_bit_identically(photo_folder, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    result = run(train_args(photo_folder, whole))
    assert result.returncode == 0, result.stderr

    process = subprocess.Popen(train_args(photo_folder, killed), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoints" / "step_00000004" / "manifest.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    steps_done = load_state(find_checkpoints(killed)[-1]).progress["step"]
    assert 4 <= steps_done < MAX_STEPS

    result = run(train_args(photo_folder, killed, "--resume", "latest"))
    assert result.returncode == 0, result.stderr
    assert f"resuming step {steps_done}" in result.stdout

    a, b = load_state(find_checkpoints(whole)[-1]), load_state(find_checkpoints(killed)[-1])
    assert a.progress["step"] == b.progress["step"] == MAX_STEPS
    assert_same_tensors(a.model, b.model, "weights")
    assert_same_tensors(a.ema, b.ema, "EMA")
    assert_same_tensors(optimizer_tensors(a.optimizer), optimizer_tensors(b.optimizer), "optimizer")
    assert a.lr_scheduler == b.lr_scheduler
    assert epoch_rows(whole) == epoch_rows(killed)  # same losses and validation MAE, epoch by epoch


def test_two_gloo_processes_train_in_step_and_write_one_run(photo_folder, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "run"
    args = train_args(photo_folder, out, "--device", "cpu", "--max-steps", "3")[1:]  # after the executable
    result = run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "palette_kit", *args],
                 cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 process(es) on cpu" in result.stdout
    assert "weights and EMA identical on all 2 processes" in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "run"]  # rank 1 wrote nothing anywhere
    [checkpoint, *_] = find_checkpoints(out)[-1:]
    assert load_state(checkpoint).progress["step"] == 3
    assert (out / "best" / "model.safetensors").is_file()


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    from palette_kit.testing import synthetic_photo
    import cv2
    import numpy as np

    root = tmp_path_factory.mktemp("resume-errors")
    rng = np.random.default_rng(0)
    (root / "data").mkdir()
    for i in range(6):
        cv2.imwrite(str(root / "data" / f"p{i}.png"), synthetic_photo(rng, 36, 40))
    result = run(train_args(root / "data", root / "run", "--max-steps", 2))
    assert result.returncode == 0, result.stderr
    return root / "data", root / "run"


def test_bad_resumes_are_one_line_errors_that_change_nothing(finished_run, tmp_path):
    data, out = finished_run
    before = snapshot(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run(train_args(data, empty, "--resume", "latest")), "no complete checkpoint", str(empty))
    no_out = [palette_kit_exe(), "train", "--task", "colorization", "--data", str(data), "--resume", "latest"]
    assert_one_line_error(run(no_out), "--resume latest needs --out")
    other_task = train_args(data, out, "--resume", "latest")
    other_task[other_task.index("colorization")] = "inpainting"
    assert_one_line_error(run(other_task), "task 'colorization'")
    assert_one_line_error(run(train_args(data, out, "--resume", "latest", "--image-size", 64)), "config")
    assert snapshot(out) == before

    newest = find_checkpoints(out)[-1]
    weights = newest / "model.safetensors"
    damaged = bytearray(weights.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    weights.write_bytes(bytes(damaged))
    before = snapshot(out)
    assert_one_line_error(run(train_args(data, out, "--resume", str(newest))), str(weights))
    assert snapshot(out) == before
    damaged[len(damaged) // 2] ^= 0xFF  # the run is shared with the next test: mend it
    weights.write_bytes(bytes(damaged))


def test_resuming_a_finished_run_does_nothing_even_from_inside_its_checkpoints(finished_run):
    data, out = finished_run
    before = snapshot(out)
    env = {**ENV, "WANDB_MODE": "offline"}
    args = [a for a in train_args(data, out, "--max-steps", 2, "--resume", "latest") if a != "--no-wandb"]
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "already finished" in result.stdout, result.stderr
    newest = find_checkpoints(out)[-1]
    inside = train_args(data, out, "--max-steps", 2, "--resume", newest.name)
    inside.remove("--out")
    inside.remove(str(out))
    result = run(inside, cwd=newest.parent)
    assert result.returncode == 0 and "already finished" in result.stdout, result.stderr
    assert snapshot(out) == before and not (out / "wandb").exists()  # no new wandb run, nothing written


def test_a_resumed_run_continues_its_wandb_run(photo_folder, tmp_path):
    from wandb_log import read_run

    out = tmp_path / "run"
    env = {**ENV, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb-home")}
    args = [a for a in train_args(photo_folder, out, "--log-every", 1) if a != "--no-wandb"]
    first = subprocess.run(args + ["--max-steps", "6"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    wandb_id = load_state(find_checkpoints(out)[-1]).progress["wandb_id"]
    assert wandb_id
    second = subprocess.run(args + ["--resume", "latest"], capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr
    runs = sorted((out / "wandb").glob(f"offline-run-*-{wandb_id}/run-{wandb_id}.wandb"))
    assert len(runs) == 2  # the same wandb run, continued
    steps = [sorted({row["_step"] for row in read_run(run)[1] if "train_loss" in row}) for run in runs]
    assert steps == [list(range(1, 7)), list(range(7, MAX_STEPS + 1))]  # no step dropped or repeated
