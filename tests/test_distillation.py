"""Progressive distillation: the student's grid is DDIM's, the target is exact, and `palette-kit distill`
makes an ordinary checkpoint that records its teacher, resumes exactly after a kill and refuses bad plans."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from palette_kit.checkpoint import read_config
from palette_kit.diffusion.ddim import DDIM
from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.presets import schedule_preset
from palette_kit.distillation.loss import DistillationLoss, StudentGrid, ddim_step
from palette_kit.distillation.rounds import Plan
from palette_kit.errors import InputError
from palette_kit.model import Palette
from palette_kit.nn.unet import UNet, preset
from palette_kit.tasks import load_task
from palette_kit.testing import assert_one_line_error, palette_kit_exe, run_cli
from palette_kit.training.state import find_checkpoints

ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}


class ConstantY0(torch.nn.Module):
    """A 'network' whose y_0 is ``value`` everywhere, at any noise level (eps follows from it)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, y_t, y_cond, gamma, context=None, output="eps"):
        y_0 = torch.full_like(y_t, self.value)
        if output == "y_0":
            return y_0
        g = gamma.reshape(-1, 1, 1, 1)
        return (y_t - g.sqrt() * y_0) / (1 - g).sqrt()


def test_grid_is_the_ddim_schedulers_and_matches_the_schedule_at_integer_steps():
    gammas = schedule_preset("ddpm").sample.gammas()
    grid = StudentGrid(gammas, 4)
    ddim = DDIM(gammas)
    ddim.set_timesteps(4)
    k = torch.arange(4, 0, -1)
    gamma_t, _, gamma_s = grid.interval(k)
    torch.testing.assert_close(gamma_t, gammas[ddim.timesteps], rtol=1e-12, atol=0)
    torch.testing.assert_close(gamma_s[:-1], gamma_t[1:])  # each step ends where the next begins
    assert gamma_s[-1] == 1.0  # the last step ends on the clean target
    mid = grid.gamma(torch.tensor([62.5]))  # between two integer steps: log-linear
    assert gammas[63] < mid < gammas[62]


def test_an_exact_teacher_makes_the_clean_target_the_target():
    """Two DDIM steps with the same y_0 are one DDIM step: the target is that y_0, whatever the noise."""
    loss = DistillationLoss(ConstantY0(0.3), schedule_preset("ddpm").sample.gammas(), 4)
    y_0, y_cond = torch.full((6, 2, 8, 8), 0.3), torch.zeros(6, 1, 8, 8)
    generator = torch.Generator().manual_seed(0)
    assert loss(ConstantY0(0.3), y_0, y_cond, generator).item() < 1e-8
    assert loss(ConstantY0(0.5), y_0, y_cond, torch.Generator().manual_seed(0)).item() > 0.04  # weight >= 1


def test_one_student_step_to_the_target_lands_where_two_teacher_steps_do():
    torch.manual_seed(0)
    teacher = EpsModel(UNet(preset("tiny", 3, 2, image_size=16))).eval()
    gamma_t, gamma_s = torch.tensor(0.2).view(1, 1, 1, 1), torch.tensor(0.7).view(1, 1, 1, 1)
    gamma_mid = (gamma_t * gamma_s).sqrt()
    y_t, y_cond = torch.randn(2, 2, 16, 16), torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        y_mid = ddim_step(y_t, teacher(y_t, y_cond, gamma_t.flatten().expand(2), output="y_0"), gamma_t, gamma_mid)
        y_s = ddim_step(y_mid, teacher(y_mid, y_cond, gamma_mid.flatten().expand(2), output="y_0"), gamma_mid,
                        gamma_s)
    ratio = ((1 - gamma_s) / (1 - gamma_t)).sqrt()
    target = (y_s - ratio * y_t) / (gamma_s.sqrt() - ratio * gamma_t.sqrt())
    torch.testing.assert_close(ddim_step(y_t, target, gamma_t, gamma_s), y_s, rtol=1e-5, atol=1e-5)


def test_v_prediction_gives_y_0_without_dividing_by_gamma():
    net = EpsModel(UNet(preset("tiny", 3, 2, image_size=16)), "v").eval()
    y_t, y_cond, gamma = torch.randn(2, 2, 16, 16), torch.randn(2, 1, 16, 16), torch.tensor([1e-12, 0.5])
    with torch.no_grad():
        y_0 = net(y_t, y_cond, gamma, output="y_0")
        eps = net(y_t, y_cond, gamma)
    assert torch.isfinite(y_0).all()
    g = gamma[1]
    torch.testing.assert_close(y_0[1], (y_t[1] - (1 - g).sqrt() * eps[1]) / g.sqrt(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("teacher_steps, steps, total, why", [
    (6, 4, 1000, "power of two"), (4, 4, 1000, "power of two"), (12, 3, 1000, "must divide"),
    (4096, 4, 1000, "at most"),
])
def test_bad_plans_are_refused(teacher_steps, steps, total, why):
    with pytest.raises(InputError, match=why):
        Plan(teacher_steps, steps).rounds(total)
    assert Plan(16, 4).rounds(1000) == [8, 4]


@pytest.fixture
def teacher(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "teacher"
    Palette.create(load_task("colorization")(), "tiny", "palette", "ddim", 8).save(path)
    return path


def distill_args(teacher: Path, data: Path, out: Path, *extra) -> list[str]:
    """Two rounds (4 -> 2 -> 1 steps) of 3 steps each, a checkpoint after every step."""
    return [palette_kit_exe(), "distill", "--checkpoint", str(teacher), "--data", str(data), "--out", str(out),
            "--steps", "1", "--teacher-steps", "4", "--schedule", "ddpm", "--epochs", "1", "--batch-size", "2",
            "--samples-per-epoch", "6", "--val-samples", "1", "--checkpoint-every", "1", "--no-wandb",
            *map(str, extra)]


def test_distill_makes_an_ordinary_student_and_resumes_exactly(teacher, photo_folder, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    result = subprocess.run(distill_args(teacher, photo_folder, whole), capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    student = whole / "student"
    config = read_config(student)
    assert config["sampling"] == {"sampler": "ddim", "steps": 1} and config["prediction"] == "v"
    assert config["distillation"]["teacher_sha256"] == read_config(teacher)["weights_sha256"]
    assert config["distillation"]["rounds"] == [2, 1] and config["schedule"]["sample"]["beta_end"] == 0.02
    for extra in ([], ["--sampler", "dpmsolver", "--steps", "3"]):  # its defaults, or any sampler
        out = tmp_path / f"out{len(extra)}.png"
        done = run_cli("infer", "--task", "colorization", "--checkpoint", student, photo_folder / "a" / "img1.png",
                       "--output", out, *extra)
        assert done.returncode == 0 and out.stat().st_size > 0, done.stderr

    process = subprocess.Popen(distill_args(teacher, photo_folder, killed), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    second = killed / "round-2-1-steps"
    deadline = time.monotonic() + 300
    while not (second / "checkpoints" / "step_00000001" / "manifest.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "student").exists() and find_checkpoints(second)
    result = subprocess.run(distill_args(teacher, photo_folder, killed, "--resume"), capture_output=True, text=True,
                            env=ENV)
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" in result.stdout and result.stdout.count("val_mae") == 1  # round 1 was not redone
    assert read_config(killed / "student")["weights_sha256"] == config["weights_sha256"]
    rows = [json.loads(line) for line in (second / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [3]


def test_distill_refuses_bad_options_in_one_line(teacher, photo_folder, tmp_path):
    assert_one_line_error(run_cli(*distill_args(teacher, photo_folder, tmp_path / "r")[1:], "--teacher-steps", "6"),
                          "--teacher-steps (6)", "power of two")
    assert_one_line_error(run_cli(*distill_args(teacher, photo_folder, tmp_path / "r")[1:], "--steps", "3",
                                  "--teacher-steps", "12"), "--steps (3)", "1000")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert_one_line_error(run_cli(*distill_args(teacher, photo_folder, tmp_path / "full")[1:]), "not empty")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert_one_line_error(run_cli("distill", "--checkpoint", tmp_path / "nothing", "--data", photo_folder),
                          "nothing")
