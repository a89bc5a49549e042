"""Training checkpoints: exact round trip of every part, atomic writes, `latest`, pruning, clear errors."""
import copy
import errno
import json
import math
import os
import random
import shutil

import numpy as np
import pytest
import torch

import palette_kit.training.state as state_module
from palette_kit.errors import CheckpointError
from palette_kit.model import Palette
from palette_kit.tasks import load_task
from palette_kit.training.state import (
    MANIFEST,
    TrainingState,
    capture_rng,
    check_compatible,
    find_checkpoints,
    load_state,
    prune,
    resolve_resume,
    restore_rng,
    save_state,
)


def tiny_model() -> Palette:
    torch.manual_seed(0)
    task = load_task("colorization")()
    return Palette.create(task, "tiny", steps=4)


def fake_steps(net: torch.nn.Module, optimizer: torch.optim.Optimizer, seeds: range) -> None:
    """Optimizer steps on gradients drawn from ``seeds``: the same on any copy of ``net``."""
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        for p in net.parameters():
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


@pytest.fixture(scope="module")
def model() -> Palette:
    return tiny_model()


def make_state(model: Palette, step: int = 3, **progress) -> TrainingState:
    optimizer = torch.optim.Adam(model.net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10))
    fake_steps(model.net, optimizer, range(2))
    schedule.step()
    ema = {k: v * 0.5 for k, v in model.net.state_dict().items()}
    return TrainingState(
        model=model.net.state_dict(), ema=ema, optimizer=optimizer.state_dict(), lr_scheduler=schedule.state_dict(),
        scaler=torch.amp.GradScaler("cpu").state_dict(), rng=capture_rng(), config=model.config,
        progress={"step": step, "epoch": 2, "batch_in_epoch": 5, "best_val_mae": math.inf, "best_epoch": 0,
                  "wandb_id": "abc123", **progress})


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k, value in a.items():
        assert value.dtype == b[k].dtype and torch.equal(value, b[k]), k


def test_every_part_round_trips_exactly(tmp_path, model):
    state = make_state(model)
    path = save_state(tmp_path, state)
    assert path == tmp_path / "checkpoints" / "step_00000003"
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["format"] == "palette-kit-training/1" and manifest["step"] == 3
    assert sorted(manifest["files"]) == sorted(p.name for p in path.iterdir() if p.name != MANIFEST)
    loaded = load_state(path)
    assert_same_tensors(loaded.model, state.model)
    assert_same_tensors(loaded.ema, state.ema)
    assert loaded.optimizer["param_groups"] == state.optimizer["param_groups"]  # betas stay a tuple
    assert loaded.optimizer["state"].keys() == state.optimizer["state"].keys()
    for i, saved in state.optimizer["state"].items():
        assert_same_tensors(loaded.optimizer["state"][i], saved)
    assert loaded.optimizer["state"][0]["step"].dtype == torch.float32
    assert loaded.lr_scheduler == state.lr_scheduler and loaded.scaler == state.scaler
    assert loaded.progress == state.progress and loaded.config == state.config
    assert loaded.rng["python"] == state.rng["python"]


def test_optional_scaler_and_fresh_optimizer(tmp_path, model):
    net = copy.deepcopy(model.net)
    optimizer = torch.optim.AdamW(net.parameters())
    state = TrainingState(net.state_dict(), net.state_dict(), optimizer.state_dict(), {}, None, capture_rng(),
                          {"step": 0}, model.config)
    loaded = load_state(save_state(tmp_path, state))
    assert loaded.scaler is None and loaded.optimizer == state.optimizer
    torch.optim.AdamW(net.parameters()).load_state_dict(loaded.optimizer)


@pytest.mark.parametrize("optimizer_class", [torch.optim.Adam, torch.optim.AdamW])
def test_optimizer_continues_bit_identically(tmp_path, model, optimizer_class):
    net = copy.deepcopy(model.net)
    optimizer = optimizer_class(net.parameters(), lr=1e-3, weight_decay=0.01)
    fake_steps(net, optimizer, range(3))
    state = TrainingState(net.state_dict(), {}, optimizer.state_dict(), {}, None, capture_rng(), {"step": 3}, {})
    loaded = load_state(save_state(tmp_path, state))
    again = copy.deepcopy(model.net)
    again.load_state_dict(loaded.model)
    again_optimizer = optimizer_class(again.parameters(), lr=0.5)
    again_optimizer.load_state_dict(loaded.optimizer)
    fake_steps(net, optimizer, range(3, 6))
    fake_steps(again, again_optimizer, range(3, 6))
    for a, b in zip(net.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_rng_draws_repeat_after_restore(tmp_path, model):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.gauss(0, 1), np.random.standard_normal()  # cached gaussians are part of the state
    path = save_state(tmp_path, make_state(model))  # make_state captures the RNG after its own work

    def draws():
        return (random.random(), random.gauss(0, 1), np.random.standard_normal(), np.random.rand(3).tolist(),
                torch.rand(3).tolist())

    restore_rng(load_state(path).rng)
    first = draws()
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng(load_state(path).rng)
    assert draws() == first


def test_partial_and_temporary_folders_are_ignored(tmp_path, model):
    good = save_state(tmp_path, make_state(model, step=1))
    folder = tmp_path / "checkpoints"
    no_manifest = folder / "step_00000002"
    shutil.copytree(good, no_manifest)
    (no_manifest / MANIFEST).unlink()
    missing_file = folder / "step_00000003"
    shutil.copytree(good, missing_file)
    (missing_file / "ema.safetensors").unlink()
    shutil.copytree(good, folder / ".tmp-step_00000004-x1y2")
    assert find_checkpoints(tmp_path) == [good]
    assert resolve_resume("latest", tmp_path) == good
    assert resolve_resume(str(tmp_path), None) == good
    assert resolve_resume(str(good), None) == good
    with pytest.raises(CheckpointError, match="ema.safetensors"):
        resolve_resume(str(missing_file), None)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        resolve_resume(str(no_manifest), None)


@pytest.mark.parametrize("fail_in", ["save_file", "_write_json"])
def test_interrupted_write_leaves_the_previous_checkpoint_latest(tmp_path, model, monkeypatch, fail_in):
    previous = save_state(tmp_path, make_state(model, step=1))
    real = getattr(state_module, fail_in)
    calls = []

    def fail_after_first(*args, **kwargs):
        if calls:
            raise OSError(errno.EIO, "Input/output error")
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(state_module, fail_in, fail_after_first)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*step_00000002: Input/output error"):
        save_state(tmp_path, make_state(model, step=2))
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == [previous.name]
    assert resolve_resume("latest", tmp_path) == previous
    load_state(previous)


def test_killed_write_leaves_nothing(tmp_path, model, monkeypatch):
    save_state(tmp_path, make_state(model, step=1))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(state_module, "_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        save_state(tmp_path, make_state(model, step=2))
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_00000001"]


def test_disk_full_says_so_and_keeps_the_last_checkpoint(tmp_path, model, monkeypatch):
    previous = save_state(tmp_path, make_state(model, step=1))
    before = {p.name: p.read_bytes() for p in previous.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state_module, "save_file", full)
    with pytest.raises(CheckpointError, match="No space left on device") as error:
        save_state(tmp_path, make_state(model, step=2))
    assert "\n" not in str(error.value)
    assert {p.name: p.read_bytes() for p in previous.iterdir()} == before
    assert find_checkpoints(tmp_path) == [previous]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_folder_says_so(tmp_path, model):
    previous = save_state(tmp_path, make_state(model, step=1))
    os.chmod(tmp_path / "checkpoints", 0o500)
    try:
        with pytest.raises(CheckpointError, match="Permission denied"):
            save_state(tmp_path, make_state(model, step=2))
    finally:
        os.chmod(tmp_path / "checkpoints", 0o700)
    assert find_checkpoints(tmp_path) == [previous]


def test_same_step_saved_again_replaces_it(tmp_path, model):
    save_state(tmp_path, make_state(model, step=4, epoch=1))
    path = save_state(tmp_path, make_state(model, step=4, epoch=2))
    assert load_state(path).progress["epoch"] == 2
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == [path.name]


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors", "rng.json", "training.json"])
def test_corrupt_file_is_named(tmp_path, model, name):
    path = save_state(tmp_path, make_state(model))
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / name).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"corrupt.*{name}"):
        load_state(path)


def test_unreadable_safetensors_with_matching_checksum_is_named(tmp_path, model):
    path = save_state(tmp_path, make_state(model))
    (path / "ema.safetensors").write_bytes(b"not safetensors at all")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"]["ema.safetensors"] = state_module.sha256_file(path / "ema.safetensors")
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="unreadable checkpoint file .*ema.safetensors"):
        load_state(path)


def test_bad_manifest_is_named(tmp_path, model):
    path = save_state(tmp_path, make_state(model))
    (path / MANIFEST).write_text("{not json")
    with pytest.raises(CheckpointError, match="manifest.json"):
        load_state(path)
    assert find_checkpoints(tmp_path) == []


def test_no_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint in .*checkpoints"):
        resolve_resume("latest", tmp_path)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint in"):
        resolve_resume(str(tmp_path), None)
    with pytest.raises(CheckpointError, match="not found"):
        resolve_resume(str(tmp_path / "nowhere"), None)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        load_state(tmp_path)


def test_prune_keeps_the_newest(tmp_path, model):
    for step in (1, 2, 10, 11):
        save_state(tmp_path, make_state(model, step=step))
    (tmp_path / "checkpoints" / ".tmp-step_00000012-crashed").mkdir()
    prune(tmp_path, 2)
    assert [p.name for p in find_checkpoints(tmp_path)] == ["step_00000010", "step_00000011"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000010", "step_00000011"]


def test_check_compatible(tmp_path, model):
    config = model.config
    check_compatible(json.loads(json.dumps(config)), config, tmp_path)
    other_task = {**config, "task": {"name": "inpainting", "options": {"fill": "noise"}}}
    with pytest.raises(CheckpointError, match="is for task 'inpainting', not 'colorization'"):
        check_compatible(other_task, config, tmp_path)
    other_unet = {**config, "unet": {**config["unet"], "inner_channels": 64}}
    with pytest.raises(CheckpointError, match=r"another model config \(unet.inner_channels: 64 vs 32\)"):
        check_compatible(other_unet, config, tmp_path)
    other_options = {**config, "task": {"name": "colorization", "options": {"space": "lab"}}}
    with pytest.raises(CheckpointError, match="task.options.space: 'lab' vs missing"):
        check_compatible(other_options, config, tmp_path)
    check_compatible({**config, "sampling": {"scheduler": "ddim", "steps": 50}}, config, tmp_path)
