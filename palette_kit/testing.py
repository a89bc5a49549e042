"""The plugin author's kit: contract tests every task plugin's test suite subclasses.

    from palette_kit.testing import TaskContractTest
    from my_plugin import MyTask

    class TestMyTask(TaskContractTest):
        task_class = MyTask

pytest then runs every ``test_*`` check below against ``MyTask``. Requires pytest.
"""
from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
import torch

from palette_kit.imageio import square
from palette_kit.model import Palette
from palette_kit.tasks.base import Task


def synthetic_photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colourful BGR picture: a smooth two-colour gradient with a disc of a third colour."""
    colours = rng.integers(0, 256, size=(3, 3))
    ramp = np.linspace(0, 1, width)[None, :, None]
    image = np.repeat((1 - ramp) * colours[0] + ramp * colours[1], height, axis=0)
    yy, xx = np.mgrid[:height, :width]
    cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.integers(4, max(5, min(height, width) // 2))
    image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = colours[2]
    return image.clip(0, 255).astype(np.uint8)


def untrained_checkpoint(path: Path, task: Task, steps: int = 2) -> Path:
    """A ``tiny`` model of ``task`` with random non-zero weights (results differ from picture to picture, and no
    training is needed), sampling with DDIM in ``steps``, saved at ``path``."""
    torch.manual_seed(0)
    model = Palette.create(task, "tiny", sampler="ddim", steps=steps)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model.save(path)
    return path


def palette_kit_exe() -> str:
    """The ``palette-kit`` console script installed next to the running interpreter."""
    exe = Path(sys.executable).with_name("palette-kit")
    assert exe.exists(), f"palette-kit is not installed in this environment: {exe} (pip install -e .)"
    return str(exe)


def run_cli(*args: Any, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``palette-kit ARGS`` run in this process, as a ``CompletedProcess`` (exit status, stdout, stderr).

    Much cheaper than the executable (no interpreter start-up, torch already imported), for tests of what
    a command does rather than of how it starts. ``env`` replaces the environment while it runs; an
    unexpected exception's traceback lands on stderr, as the executable would print it.
    """
    from click.testing import CliRunner

    from palette_kit.cli import main

    args = [str(a) for a in args]
    before = Path.cwd()
    os.chdir(cwd or before)
    try:
        result = CliRunner().invoke(main, args, env=None if env is None else _env_changes(env))
    finally:
        os.chdir(before)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["palette-kit", *args], result.exit_code, result.stdout, stderr)


def _env_changes(env: dict[str, str]) -> dict[str, str | None]:
    """``env`` as changes to this process's environment (click's runner takes changes; None unsets)."""
    return {**{name: None for name in os.environ if name not in env}, **env}


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A command's failure as users should see it: exit status 1, no traceback, and exactly one
    ``Error:`` line on stderr (progress bars aside) holding every fragment."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), result.stderr


class TaskContractTest:
    """Checks of the task contract; subclass it and set ``task_class`` (and options if needed)."""

    task_class: ClassVar[type[Task]]
    #: Options the task is built with, and options passed to ``prepare``.
    task_options: ClassVar[dict[str, Any]] = {}
    infer_options: ClassVar[dict[str, Any]] = {}
    image_size: ClassVar[int] = 32
    #: Mean absolute difference (8-bit levels) allowed when a picture goes to tensors and back.
    round_trip_tolerance: ClassVar[float] = 2.0

    def make_task(self) -> Task:
        return self.task_class(**self.task_options)

    def expected_output_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of ``finish``'s result for an input of ``image_shape`` (override if the task resizes)."""
        return image_shape

    @pytest.fixture
    def photos(self, tmp_path: Path) -> Path:
        rng = np.random.default_rng(0)
        for i in range(6):
            cv2.imwrite(str(tmp_path / f"photo{i}.png"), synthetic_photo(rng, 40 + 3 * i, 52))
        return tmp_path

    def batch(self, task: Task, photos: Path, split: str = "val", n: int = 2) -> dict[str, torch.Tensor]:
        data = task.dataset(photos, split, self.image_size, seed=0)
        items = [data[i % len(data)] for i in range(n)]
        return {key: torch.stack([item[key] for item in items]) for key in ("y_cond", "y_0")}

    def test_declares_its_channels_name_and_description(self):
        cls, task = self.task_class, self.make_task()
        assert isinstance(task.cond_channels, int) and task.cond_channels > 0  # a class attribute or a property
        assert isinstance(task.target_channels, int) and task.target_channels > 0
        assert isinstance(cls.name, str) and cls.name and isinstance(cls.description, str) and cls.description
        assert type(task)(**task.config).config == task.config  # its config rebuilds it

    def test_dataset_items_have_the_declared_shapes_and_range(self, photos):
        task = self.make_task()
        for split in ("train", "val"):
            item = task.dataset(photos, split, self.image_size, seed=0)[0]
            s = self.image_size
            assert item["y_cond"].shape == (task.cond_channels, s, s)
            assert item["y_0"].shape == (task.target_channels, s, s)
            for tensor in item.values():
                assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
                assert tensor.min() >= -1 and tensor.max() <= 1

    def test_dataset_is_deterministic_under_a_seed(self, photos):
        task = self.make_task()
        torch.manual_seed(7)
        first = self.batch(task, photos, "train", 4)
        torch.manual_seed(7)
        again = self.batch(task, photos, "train", 4)
        for key in first:
            torch.testing.assert_close(first[key], again[key], rtol=0, atol=0)

    def test_pairs_have_the_declared_shapes_and_validation_pairs_repeat(self):
        task, s = self.make_task(), self.image_size
        picture = square(synthetic_photo(np.random.default_rng(2), 40, 52), s)
        train = task.train_pair(picture, torch.Generator().manual_seed(0))
        again = task.train_pair(picture, torch.Generator().manual_seed(0))
        val, val_again = task.val_pair(picture), task.val_pair(picture.copy())
        for item in (train, val):
            assert item["y_cond"].shape == (task.cond_channels, s, s) and item["y_0"].shape == (task.target_channels, s, s)
        for key in ("y_cond", "y_0"):
            torch.testing.assert_close(train[key], again[key], rtol=0, atol=0)  # all randomness from rng
            torch.testing.assert_close(val[key], val_again[key], rtol=0, atol=0)  # fixed per picture

    def test_tensors_become_pictures(self, photos):
        task = self.make_task()
        batch = self.batch(task, photos)
        for pictures in (task.cond_to_bgr(batch["y_cond"]), task.to_bgr(batch["y_cond"], batch["y_0"])):
            assert pictures.shape == (2, self.image_size, self.image_size, 3) and pictures.dtype == np.uint8

    def test_ground_truth_round_trips_to_the_picture(self, tmp_path):
        """A validation item's target, drawn as a picture, is the photo's centre square."""
        task = self.make_task()
        picture = synthetic_photo(np.random.default_rng(1), 40, 52)
        cv2.imwrite(str(tmp_path / "only.png"), picture)
        item = task.dataset(tmp_path, "val", self.image_size, seed=0)[0]
        drawn = task.to_bgr(item["y_cond"][None], item["y_0"][None])[0].astype(int)
        expected = square(picture, self.image_size).astype(int)
        assert np.abs(drawn - expected).mean() <= self.round_trip_tolerance

    def test_prepare_and_finish_handle_any_size(self):
        task = self.make_task()
        image = synthetic_photo(np.random.default_rng(3), 45, 70)
        prepared = task.prepare(image, self.image_size, **self.infer_options)
        assert prepared.y_cond.shape == (task.cond_channels, self.image_size, self.image_size)
        assert prepared.y_cond.min() >= -1 and prepared.y_cond.max() <= 1
        y_0 = torch.zeros(task.target_channels, self.image_size, self.image_size)
        result = task.finish(prepared, y_0)
        assert result.dtype == np.uint8 and result.shape == self.expected_output_shape(image.shape)

    def test_one_training_step_and_a_short_sample(self, photos):
        torch.manual_seed(0)
        task = self.make_task()
        model = Palette.create(task, "tiny", steps=3, image_size=self.image_size)
        batch = self.batch(task, photos, "train")
        optimizer = torch.optim.Adam(model.net.parameters(), lr=1e-3)
        loss = model.loss()(model.net, batch["y_0"], batch["y_cond"])
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss) and loss.item() > 0
        model.net.eval()
        samples = [model.sample(batch["y_cond"], generator=torch.Generator().manual_seed(1)) for _ in range(2)]
        assert samples[0].shape == batch["y_0"].shape and samples[0].abs().max() <= 1
        torch.testing.assert_close(samples[0], samples[1], rtol=0, atol=0)
