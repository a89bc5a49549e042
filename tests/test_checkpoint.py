"""Checkpoints: safetensors + JSON, exact round trip, atomic writes, clear errors for bad files."""
import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
import torch

import palette_kit.atomic as atomic
import palette_kit.checkpoint as checkpoint
from palette_kit.errors import CheckpointError
from palette_kit.model import Palette
from palette_kit.tasks import load_task


def tiny_model(seed: int = 0) -> Palette:
    torch.manual_seed(seed)
    task = load_task("colorization")()
    model = Palette.create(task, "tiny", steps=4)
    with torch.no_grad():  # leave the zero-initialised state so outputs differ between models
        for p in model.net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = tiny_model()
    model.net.eval()
    model.save(tmp_path / "ckpt", epoch=3)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["task"]["name"] == "colorization" and config["epoch"] == 3
    again = Palette.load(tmp_path / "ckpt")
    assert again.config == model.config
    y_cond = torch.rand(2, 1, 32, 32) * 2 - 1
    a = model.sample(y_cond, generator=torch.Generator().manual_seed(1))
    b = again.sample(y_cond, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fp16_storage_loads_as_float32(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "half", dtype=torch.float16)
    loaded = Palette.load(tmp_path / "half")
    params = dict(loaded.net.named_parameters())
    assert all(p.dtype == torch.float32 for p in params.values())
    for name, p in model.net.named_parameters():
        torch.testing.assert_close(params[name], p.detach().half().float())


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    first, second = tiny_model(0), tiny_model(1)
    first.save(tmp_path / "ckpt")
    before = (tmp_path / "ckpt" / "model.safetensors").read_bytes()

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", fail)
    with pytest.raises(CheckpointError, match="No space"):
        second.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary folder left behind


def test_full_disk_is_one_line_naming_the_checkpoint(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(CheckpointError) as error:
        tiny_model().save(tmp_path / "run" / "best")
    assert str(error.value) == f"cannot write checkpoint {tmp_path / 'run' / 'best'}: No space left on device"
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_read_only_folder_is_one_line_naming_the_checkpoint(tmp_path, monkeypatch, code):
    model = tiny_model()
    model.save(tmp_path / "last")
    before = (tmp_path / "last" / "model.safetensors").read_bytes()
    if os.geteuid() == 0 or code == errno.EROFS:  # root ignores permissions; no read-only mount here
        def refused(*args, **kwargs):
            raise OSError(code, os.strerror(code))
        monkeypatch.setattr(tempfile, "mkdtemp", refused)
    os.chmod(tmp_path, 0o500)
    try:
        with pytest.raises(CheckpointError) as error:
            model.save(tmp_path / "last", epoch=2)
    finally:
        os.chmod(tmp_path, 0o700)
    assert str(error.value) == f"cannot write checkpoint {tmp_path / 'last'}: {os.strerror(code)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    assert (tmp_path / "last" / "model.safetensors").read_bytes() == before


def test_saving_syncs_every_file_then_the_folder_then_its_parent(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(atomic, "fsync", lambda path: synced.append(Path(path)))
    tiny_model().save(tmp_path / "best")
    names = [p.name for p in synced]
    assert sorted(names[:2]) == ["config.json", "model.safetensors"]
    assert names[2].startswith(".best-") and synced[3] == tmp_path and len(synced) == 4
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == ["config.json", "model.safetensors"]


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Palette.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a palette-kit checkpoint"):
        Palette.load(tmp_path / "empty")
    tiny_model().save(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        Palette.load(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable checkpoint config"):
        Palette.load(tmp_path / "ckpt")
