"""The seams between core and tasks: pre-split data folders, channels a task works out from its options,
the restore loop ``infer`` and ``evaluate`` share (one failing file never stops the others), and
checkpoints from before the sampler rename."""
import json
from pathlib import Path

import click
import cv2
import numpy as np
import pytest
import torch

import palette_kit.model as model_module
from palette_kit.checkpoint import sha256_file
from palette_kit.data import split_paths
from palette_kit.diffusion.presets import Sampling
from palette_kit.errors import CheckpointError, InputError
from palette_kit.evaluate import evaluate
from palette_kit.inference import restore_files, run
from palette_kit.model import Palette
from palette_kit.nn.unet import preset
from palette_kit.outputs import plan
from palette_kit.tasks import Option, load_task
from palette_kit.testing import synthetic_photo

Colorization = type(load_task("colorization")())


def write_photos(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = [folder / name for name in names]
    for path in paths:
        cv2.imwrite(str(path), synthetic_photo(rng, 36, 44))
    return paths


# --- pre-split data folders --------------------------------------------------------------------------

def test_a_folder_with_train_and_val_is_split_by_them(tmp_path):
    train = write_photos(tmp_path / "train", [f"t{i}.png" for i in range(5)])
    val = write_photos(tmp_path / "val" / "deeper", ["v0.png", "v1.png"], seed=1)
    for seed in (0, 1):  # the seed does not matter: the folders decide
        assert split_paths(tmp_path, "train", seed) == train
        assert split_paths(tmp_path, "val", seed) == val
    task = Colorization()
    data = task.dataset(tmp_path, "val", 16, seed=0)
    assert [p.name for p in data.paths] == ["v0.png", "v1.png"] and data[0]["y_0"].shape == (2, 16, 16)


def test_a_train_folder_alone_is_just_a_subfolder(tmp_path):
    """Only both folders make a pre-split layout; otherwise every picture is in the seeded split."""
    write_photos(tmp_path / "train", [f"t{i}.png" for i in range(3)])
    write_photos(tmp_path / "other", [f"o{i}.png" for i in range(3)], seed=1)
    paths = split_paths(tmp_path, "train", 0) + split_paths(tmp_path, "val", 0)
    assert sorted(p.name for p in paths) == ["o0.png", "o1.png", "o2.png", "t0.png", "t1.png", "t2.png"]


def test_an_empty_val_folder_is_a_clear_error(tmp_path):
    write_photos(tmp_path / "train", ["t0.png"])
    (tmp_path / "val").mkdir()
    with pytest.raises(InputError, match="no images .* found in .*val"):
        split_paths(tmp_path, "val", 0)


# --- channels from options ---------------------------------------------------------------------------

class WiderColorization(Colorization):
    """Colorization whose condition carries ``extra`` more channels: channels from the options."""

    name = "wider-colorization"
    options = (*Colorization.options, Option("extra", click.IntRange(0, 4), 0, "extra condition channels"))

    @property
    def cond_channels(self) -> int:
        return 1 + self.settings["extra"]

    def train_pair(self, picture, rng):
        item = super().train_pair(picture, rng)
        extra = torch.zeros(self.settings["extra"], *item["y_cond"].shape[1:])
        return {"y_cond": torch.cat([item["y_cond"], extra]), "y_0": item["y_0"]}


def test_the_model_takes_its_channels_from_the_task_options(tmp_path, monkeypatch):
    write_photos(tmp_path, ["a.png", "b.png"])
    for extra in (0, 3):
        task = WiderColorization(extra=extra)
        model = Palette.create(task, "tiny", steps=1, image_size=16)
        assert (model.unet_config.in_channels, model.unet_config.out_channels) == (1 + extra + 2, 2)
        item = task.dataset(tmp_path, "train", 16, seed=0)[0]
        assert item["y_cond"].shape == (1 + extra, 16, 16)
        y_0 = model.sample(item["y_cond"][None], generator=torch.Generator().manual_seed(0))
        assert y_0.shape == (1, 2, 16, 16)
    monkeypatch.setattr(model_module, "load_task", lambda name: WiderColorization)
    model.save(tmp_path / "ckpt")
    again = Palette.load(tmp_path / "ckpt")
    assert again.task.settings == {"hints": False, "extra": 3} and again.unet_config.in_channels == 6


def test_a_unet_with_other_channels_than_the_task_is_refused():
    task = WiderColorization(extra=2)
    with pytest.raises(ValueError, match="has 3 -> 2 channels; task .* needs 5 -> 2"):
        Palette.build(task, preset("tiny", 3, 2), model_module.schedule_preset("palette"), Sampling())


# --- the shared restore loop -------------------------------------------------------------------------

class FinishFails(Colorization):
    """Colorization whose ``finish`` fails for pictures wider than they are tall (a plugin's bug)."""

    def finish(self, prepared, y_0):
        height, width = prepared.image.shape[:2]
        if width > height:
            raise InputError(f"cannot compose a {width}x{height} result")
        return super().finish(prepared, y_0)


@pytest.fixture
def flaky_model() -> Palette:
    torch.manual_seed(0)
    return Palette.create(FinishFails(), "tiny", sampler="ddim", steps=1, image_size=16)


@pytest.fixture
def inputs(tmp_path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = [tmp_path / name for name in ("tall.png", "wide.png", "broken.png", "tall2.png")]
    for path, (h, w) in zip(paths, [(40, 30), (30, 40), (0, 0), (50, 20)]):
        if h:
            cv2.imwrite(str(path), synthetic_photo(rng, h, w))
    paths[2].write_bytes(b"not a picture")
    return paths


def test_restore_files_isolates_reading_and_finishing_errors(flaky_model, inputs):
    restored = list(restore_files(flaky_model, inputs, seeds=[0, 1], batch_size=4))
    assert [r.source for r in restored] == inputs  # one per file, in order
    errors = {r.source.name: r.error for r in restored}
    assert errors["tall.png"] is None and errors["tall2.png"] is None
    assert "cannot compose the result: cannot compose a 40x30 result" == errors["wide.png"]
    assert "broken.png" in errors["broken.png"]
    for r in restored:
        if r.error is None:
            assert len(r.results) == 2 and r.results[0].shape == r.image.shape
            assert r.prepared.context["lightness"].shape == r.image.shape[:2]  # full-resolution L, once


def test_infer_and_evaluate_report_a_failing_finish_and_go_on(flaky_model, inputs, tmp_path):
    targets = plan(inputs, "colorization", tmp_path / "out", [0], "png", compare=True)
    report = run(flaky_model, targets, [0], None, None, 2, False, {}, {})
    assert sorted(p.name for p in report.written) == ["tall.colorization.png", "tall2.colorization.png"]
    assert {Path(name).name for name, _ in report.failed} == {"wide.png", "broken.png"}
    assert (tmp_path / "out" / "tall.colorization.compare.png").is_file()
    assert not (tmp_path / "out" / "wide.colorization.png").exists()
    rows, failures = evaluate(flaky_model, inputs, None, None, 0, 3, progress=False)
    assert [Path(row["image"]).name for row in rows] == ["tall.png", "tall2.png"]
    assert [path.name for path, _ in failures] == ["wide.png", "broken.png"]


# --- checkpoints from before the sampler rename ------------------------------------------------------

def test_the_shipped_model_loads_with_its_recorded_settings():
    folder = Colorization.default_checkpoint
    config = json.loads((folder / "config.json").read_text())
    assert config["weights_sha256"] == sha256_file(folder / "model.safetensors")
    model = Palette.load(folder)
    assert model.sampling == Sampling(config["sampling"]["sampler"], config["sampling"]["steps"])
    assert model.prediction == "v" and model.config["task"] == config["task"]


def test_old_sampling_key_loads_and_new_checkpoints_say_sampler(tmp_path):
    torch.manual_seed(0)
    model = Palette.create(Colorization(), "tiny", sampler="ddim", steps=3)
    model.save(tmp_path / "new")
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert config["sampling"] == {"sampler": "ddim", "steps": 3}
    config["sampling"] = {"scheduler": "ddim", "steps": 3}
    (tmp_path / "new" / "config.json").write_text(json.dumps(config))
    assert Palette.load(tmp_path / "new").sampling == Sampling("ddim", 3)
    config["sampling"] = {"scheduler": "euler", "steps": 3}
    (tmp_path / "new" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="sampling.scheduler: Input should be .*'dpmsolver' .*got 'euler'"):
        Palette.load(tmp_path / "new")
