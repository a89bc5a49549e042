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
from typing import Any, Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from palette_kit.atomic import atomic_folder
from palette_kit.errors import CheckpointError, reason
from palette_kit.schema import MAX_CONFIG_BYTES, validate_config

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


def read_config(path: Path) -> dict[str, Any]:
    """The checkpoint folder's config, parsed (size and nesting limited) and checked against the schema."""
    file = Path(path) / CONFIG
    try:
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"invalid checkpoint config {file}: larger than {MAX_CONFIG_BYTES} bytes")
        config = json.loads(file.read_text())
    except RecursionError:
        raise CheckpointError(f"invalid checkpoint config {file}: nested too deeply") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"unreadable checkpoint config {file}: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"not a palette-kit checkpoint (format is not {FORMAT!r}): {file}")
    return validate_config(config, file)


def check_shapes(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """CheckpointError unless the weights' safetensors header lists exactly ``shapes`` (nothing is allocated)."""
    file = Path(path) / WEIGHTS
    try:
        with safe_open(file, framework="pt") as weights:
            stored = {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable checkpoint weights {file}: {exc}") from exc
    for key in sorted(stored.keys() | shapes.keys()):
        if stored.get(key) != shapes.get(key):
            have = "missing" if key not in stored else f"shape {list(stored[key])}"
            want = "no such tensor" if key not in shapes else f"shape {list(shapes[key])}"
            raise CheckpointError(f"checkpoint weights do not match its config: {key} is {have} in {file}, "
                                  f"the config needs {want}")


def load_checkpoint(path: Path, shapes: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]] | None = None
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint folder: its validated config and its float32 weights, verified against their
    checksum. ``shapes`` maps the config to the tensor shapes it implies; the weights' header is checked
    against them before any weight is read."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(f"not a palette-kit checkpoint (needs {CONFIG} and {WEIGHTS}): {path}")
    config = read_config(path)
    if shapes is not None:
        check_shapes(path, shapes(config))
    if config["weights_sha256"] != sha256_file(path / WEIGHTS):
        raise CheckpointError(f"checkpoint weights are corrupt (checksum mismatch): {path / WEIGHTS}")
    try:
        state = load_file(path / WEIGHTS)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"unreadable checkpoint weights {path / WEIGHTS}: {exc}") from exc
    return config, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
