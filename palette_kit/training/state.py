"""Training checkpoints: everything a run needs to continue exactly, as safetensors + JSON."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from palette_kit.checkpoint import checkpoint_folder, sha256_file
from palette_kit.errors import CheckpointError

MANIFEST = "manifest.json"
FORMAT = "palette-kit-training/1"
TEMP = ".tmp-"  # prefix of folders being written or deleted; never a checkpoint
_STEP = re.compile(r"step_(\d+)")
# JSON stand-ins for what JSON lacks: tensors (stored in the safetensors file beside), tuples,
# numpy arrays and dicts whose keys are not strings (the optimizer's parameter ids).
_TENSOR, _TUPLE, _ARRAY, _ITEMS = "__tensor__", "__tuple__", "__ndarray__", "__items__"


@dataclass
class TrainingState:
    model: dict[str, torch.Tensor]  # raw weights (float32), the EpsModel's state_dict
    ema: dict[str, torch.Tensor]  # EMA weights, same keys
    optimizer: dict[str, Any]  # optimizer.state_dict()
    lr_scheduler: dict[str, Any]  # LR scheduler .state_dict()
    scaler: dict[str, Any] | None  # GradScaler.state_dict() or None
    rng: dict[str, Any]  # from capture_rng()
    progress: dict[str, Any]  # JSON-able: step, epoch, batch_in_epoch, best_val_mae, wandb_id, ...
    config: dict[str, Any]  # the model's JSON config (Palette.config)


def capture_rng() -> dict[str, Any]:
    """python `random`, numpy global, torch CPU and (when available) every CUDA device's RNG state."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def restore_rng(rng: dict[str, Any]) -> None:
    """Put back the generators ``capture_rng`` saw; CUDA states only for the devices this machine has."""
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        for device, state in enumerate(rng["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)


def _encode(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``obj`` as JSON, its tensors moved to ``tensors`` under their path (``state.3.exp_avg``)."""
    def sub(name: Any) -> str:
        return f"{key}.{name}" if key else str(name)

    if isinstance(obj, torch.Tensor):
        if key in tensors:
            raise ValueError(f"two tensors would be stored as {key!r}")
        tensors[key] = obj
        return {_TENSOR: key}
    if isinstance(obj, np.ndarray):
        return {_ARRAY: obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, sub(i), tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, sub(i), tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and k not in (_TENSOR, _TUPLE, _ARRAY, _ITEMS) for k in obj):
            return {k: _encode(v, sub(k), tensors) for k, v in obj.items()}
        return {_ITEMS: [[k, _encode(v, sub(k), tensors)] for k, v in obj.items()]}
    return obj


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if _TENSOR in obj:
        return tensors[obj[_TENSOR]]
    if _TUPLE in obj:
        return tuple(_decode(v, tensors) for v in obj[_TUPLE])
    if _ARRAY in obj:
        return np.array(obj[_ARRAY], dtype=obj["dtype"])
    if _ITEMS in obj:
        return {k: _decode(v, tensors) for k, v in obj[_ITEMS]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def _write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, path)


def _write_tree(folder: Path, name: str, obj: Any) -> None:
    """``name.json``, plus ``name.safetensors`` when ``obj`` holds tensors."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(obj, "", tensors)
    if tensors:
        _write_tensors(folder / f"{name}.safetensors", tensors)
    _write_json(folder / f"{name}.json", encoded)


def save_state(root: Path, state: TrainingState) -> Path:
    """Write ``root/checkpoints/step_{step:08d}`` atomically and return it; the manifest is written last.

    On failure (disk full, no permission) the partial folder is removed, existing checkpoints are left
    untouched, and a one-line CheckpointError says why.
    """
    final = Path(root) / "checkpoints" / f"step_{state.progress['step']:08d}"
    with checkpoint_folder(final, hidden=f"{TEMP}{final.name}") as tmp:
        _write_tensors(tmp / "model.safetensors", state.model)
        _write_tensors(tmp / "ema.safetensors", state.ema)
        _write_tree(tmp, "optimizer", state.optimizer)
        _write_tree(tmp, "rng", state.rng)
        _write_tree(tmp, "training", {"lr_scheduler": state.lr_scheduler, "scaler": state.scaler,
                                      "progress": state.progress, "config": state.config})
        files = {f.name: sha256_file(f) for f in sorted(tmp.iterdir())}
        _write_json(tmp / MANIFEST, {"format": FORMAT, "step": state.progress["step"], "files": files})
    return final


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"unreadable checkpoint manifest {path / MANIFEST}: {exc}") from exc
    valid = isinstance(manifest, dict) and manifest.get("format") == FORMAT and isinstance(manifest.get("files"), dict)
    if not valid:
        raise CheckpointError(f"not a palette-kit training checkpoint (format is not {FORMAT!r}): {path / MANIFEST}")
    return manifest


def _incomplete(path: Path) -> str | None:
    """Why ``path`` is not a complete checkpoint, or None when it is (checksums are not read)."""
    if not (path / MANIFEST).is_file():
        return f"checkpoint is incomplete (no {MANIFEST}): {path}"
    try:
        manifest = _read_manifest(path)
    except CheckpointError as exc:
        return str(exc)
    missing = [name for name in manifest["files"] if not (path / name).is_file()]
    return f"checkpoint is incomplete (missing {path / missing[0]})" if missing else None


def find_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root/checkpoints``, oldest to newest; partial and temporary folders are ignored."""
    folder = Path(root) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _STEP.fullmatch(p.name) and p.is_dir() and _incomplete(p) is None]
    return sorted(found, key=lambda p: int(_STEP.fullmatch(p.name)[1]))


def _latest(root: Path) -> Path:
    found = find_checkpoints(root)
    if not found:
        raise CheckpointError(f"no complete checkpoint in {Path(root) / 'checkpoints'}")
    return found[-1]


def resolve_resume(value: str, root: Path | None) -> Path:
    """``--resume``: 'latest' (newest complete checkpoint of the run ``root``), a checkpoint folder, or a run folder."""
    if value == "latest":
        return _latest(root)
    path = Path(value)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if (path / MANIFEST).exists() or _STEP.fullmatch(path.name):
        reason = _incomplete(path)
        if reason:
            raise CheckpointError(reason)
        return path
    return _latest(path)


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable checkpoint file {path}: {exc}") from exc


def _load_tree(path: Path, name: str, files: dict[str, str]) -> Any:
    tensors = _load_tensors(path / f"{name}.safetensors") if f"{name}.safetensors" in files else {}
    try:
        return _decode(json.loads((path / f"{name}.json").read_text()), tensors)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"unreadable checkpoint file {path / name}.json: {exc}") from exc


def load_state(path: Path) -> TrainingState:
    """Read a checkpoint folder written by ``save_state``, every file checked against the manifest."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not (path / MANIFEST).is_file():
        raise CheckpointError(f"checkpoint is incomplete (no {MANIFEST}): {path}")
    files = _read_manifest(path)["files"]
    for name in ("model.safetensors", "ema.safetensors", "optimizer.json", "rng.json", "training.json"):
        if name not in files:
            raise CheckpointError(f"checkpoint manifest does not list {name}: {path / MANIFEST}")
    for name, digest in files.items():
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint is incomplete (missing {path / name})")
        if sha256_file(path / name) != digest:
            raise CheckpointError(f"checkpoint file is corrupt (checksum mismatch): {path / name}")
    training = _load_tree(path, "training", files)
    try:
        return TrainingState(
            model=_load_tensors(path / "model.safetensors"), ema=_load_tensors(path / "ema.safetensors"),
            optimizer=_load_tree(path, "optimizer", files), lr_scheduler=training["lr_scheduler"],
            scaler=training["scaler"], rng=_load_tree(path, "rng", files), progress=training["progress"],
            config=training["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"unreadable checkpoint file {path / 'training.json'}: no {exc}") from exc


def prune(root: Path, keep_last: int) -> None:
    """Delete all but the ``keep_last`` newest complete checkpoints, and temporary folders left by crashes."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1")
    folder = Path(root) / "checkpoints"
    for path in folder.glob(f"{TEMP}*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in find_checkpoints(root)[:-keep_last]:
        doomed = folder / f"{TEMP}{path.name}.deleted"
        os.replace(path, doomed)  # out of sight at once: a crash mid-delete leaves no half checkpoint
        shutil.rmtree(doomed)


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(config, dict):
        return {k: v for key, value in config.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: config}


def check_compatible(state_config: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """CheckpointError unless the checkpoint's task (name, options), UNet and noise schedule are ``config``'s."""
    saved, current = json.loads(json.dumps(state_config)), json.loads(json.dumps(config))  # tuples as lists
    name, want = saved.get("task", {}).get("name"), current["task"]["name"]
    if name != want:
        raise CheckpointError(f"checkpoint {path} is for task {name!r}, not {want!r}")
    parts = ("task", "unet", "schedule")
    a, b = _flatten({k: saved.get(k) for k in parts}), _flatten({k: current.get(k) for k in parts})

    def show(flat: dict[str, Any], key: str) -> str:
        return repr(flat[key]) if key in flat else "missing"

    diffs = [f"{k}: {show(a, k)} vs {show(b, k)}" for k in sorted(a.keys() | b.keys())
             if k not in a or k not in b or a[k] != b[k]]
    if diffs:
        raise CheckpointError(f"checkpoint {path} was trained with another model config ({', '.join(diffs)})")
