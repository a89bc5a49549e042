"""Checkpoints: a folder holding ``config.json`` and ``model.safetensors``; nothing is ever unpickled.

Writes are atomic and durable (``palette_kit.atomic.atomic_folder``): the folder is built under a
temporary name beside its target, synced and renamed into place when complete, so an interrupted save
leaves the previous checkpoint intact. A failed write is one ``CheckpointError`` line.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from palette_kit.atomic import atomic_folder
from palette_kit.errors import CheckpointError, reason

FORMAT = "palette-kit/1"
CONFIG, WEIGHTS = "config.json", "model.safetensors"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def checkpoint_folder(path: Path, hidden: str | None = None) -> Iterator[Path]:
    """``atomic_folder(path, hidden)`` for a checkpoint: an ``OSError`` or safetensors error while writing
    (disk full, read-only folder) becomes one ``CheckpointError`` line naming the checkpoint."""
    try:
        with atomic_folder(path, hidden) as tmp:
            yield tmp
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {reason(exc)}") from exc


def save_checkpoint(
    path: Path, config: dict[str, Any], state: dict[str, torch.Tensor], dtype: torch.dtype | None = None
) -> None:
    """Write ``config`` and ``state`` (optionally cast to ``dtype``, e.g. float16) to the folder ``path``."""
    path = Path(path)
    with checkpoint_folder(path) as tmp:
        tensors = {k: (v.to(dtype) if dtype and v.is_floating_point() else v).detach().cpu().contiguous()
                   for k, v in state.items()}
        save_file(tensors, tmp / WEIGHTS)
        full = {"format": FORMAT, **config, "weights_sha256": sha256_file(tmp / WEIGHTS)}
        (tmp / CONFIG).write_text(json.dumps(full, indent=2) + "\n")


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint folder: its config and its float32 weights, verified against their checksum."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(f"not a palette-kit checkpoint (needs {CONFIG} and {WEIGHTS}): {path}")
    try:
        config = json.loads((path / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"unreadable checkpoint config {path / CONFIG}: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"not a palette-kit checkpoint (format is not {FORMAT!r}): {path / CONFIG}")
    if config.get("weights_sha256") != sha256_file(path / WEIGHTS):
        raise CheckpointError(f"checkpoint weights are corrupt (checksum mismatch): {path / WEIGHTS}")
    try:
        state = load_file(path / WEIGHTS)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable checkpoint weights {path / WEIGHTS}: {exc}") from exc
    return config, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
