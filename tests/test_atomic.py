"""Atomic, fsynced writes of a file and of a folder."""
import os
from pathlib import Path

import pytest

import palette_kit.atomic as atomic
from palette_kit.atomic import atomic_folder, umask_mode, write_file


@pytest.fixture
def synced(monkeypatch):
    """What ``fsync`` was called on, in order, with a file's contents at that moment."""
    calls = []

    def record(path):
        path = Path(path)
        calls.append((path, path.read_bytes() if path.is_file() else None))

    monkeypatch.setattr(atomic, "fsync", record)
    return calls


def test_write_file_syncs_the_data_before_the_rename_and_the_folder_after(tmp_path, synced):
    write_file(tmp_path / "a" / "note.txt", b"hello")
    (tmp, data), (folder, _) = synced
    assert tmp.parent == tmp_path / "a" and tmp.name.startswith(".note.txt.") and data == b"hello"
    assert folder == tmp_path / "a"
    assert os.listdir(tmp_path / "a") == ["note.txt"] and (tmp_path / "a" / "note.txt").read_bytes() == b"hello"
    assert (tmp_path / "a" / "note.txt").stat().st_mode & 0o777 == umask_mode(0o666)


def test_folder_replaces_the_old_one_after_syncing_everything(tmp_path, synced):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "old.txt").write_text("old")
    with atomic_folder(tmp_path / "ckpt") as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("b")
        (tmp / "a.txt").write_text("a")
    assert [(p.name, data) for p, data in synced[:3]] == [("a.txt", b"a"), ("sub", None), ("b.txt", b"b")]
    assert synced[3][0].name.startswith(".ckpt-") and synced[4][0] == tmp_path and len(synced) == 5
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no temporary, no .old
    assert sorted(p.name for p in (tmp_path / "ckpt").rglob("*")) == ["a.txt", "b.txt", "sub"]
    assert (tmp_path / "ckpt").stat().st_mode & 0o777 == umask_mode(0o777)


def test_failure_inside_leaves_the_old_folder_and_no_temporary(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(tmp_path / "ckpt", hidden=".tmp-ckpt") as tmp:
        assert tmp.name.startswith(".tmp-ckpt-")
        (tmp / "new.txt").write_text("new")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["ckpt"] and os.listdir(tmp_path / "ckpt") == ["old.txt"]


def test_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "old.txt").write_text("old")
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".ckpt-"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space"), atomic_folder(tmp_path / "ckpt") as tmp:
        (tmp / "new.txt").write_text("new")
    assert os.listdir(tmp_path) == ["ckpt"] and os.listdir(tmp_path / "ckpt") == ["old.txt"]
