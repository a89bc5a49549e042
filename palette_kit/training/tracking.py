"""A training run's outputs: a local folder that is always written, and an optional wandb run."""
from __future__ import annotations

import json
import netrc
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from palette_kit.imageio import grid, write_image


def wandb_mode() -> str:
    """``$WANDB_MODE`` if set; else online when credentials exist, offline otherwise (never a key prompt)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        return "online" if netrc.netrc().authenticators("api.wandb.ai") else "offline"
    except (OSError, netrc.NetrcParseError):
        return "offline"


class Run:
    """Writes ``metrics.jsonl`` (per epoch), ``steps.jsonl`` (train loss every few steps) and
    ``samples/epoch_NNN.png`` under ``root``, mirrored to wandb when enabled."""

    def __init__(self, root: Path, config: dict[str, Any], use_wandb: bool, project: str = "palette-kit",
                 run_id: str | None = None) -> None:
        """``run_id``: continue that wandb run (a resumed training run), else start a new one."""
        self.root = Path(root)
        (self.root / "samples").mkdir(parents=True, exist_ok=True)
        (self.root / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        self.wandb = None
        if use_wandb:
            import wandb  # slow to import: only when asked for

            self.wandb = wandb.init(project=project, config=config, dir=self.root, mode=wandb_mode(), id=run_id,
                                    resume="allow" if run_id else None)

    @property
    def id(self) -> str | None:
        """The wandb run's id, kept in training checkpoints so a resumed run continues it."""
        return self.wandb.id if self.wandb is not None else None

    def log(self, metrics: dict[str, Any], step: int, file: str = "metrics.jsonl") -> None:
        """Append to ``file`` (epoch metrics by default) and log to wandb at the optimizer step ``step``."""
        with open(self.root / file, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)

    def log_images(self, epoch: int, step: int, cond: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> Path:
        """Save the (condition | prediction | ground truth) grid, and log the pictures to wandb."""
        path = self.root / "samples" / f"epoch_{epoch:03d}.png"
        write_image(path, grid([cond, pred, truth]))
        if self.wandb is not None:
            import wandb

            def images(batch: np.ndarray, what: str) -> list[wandb.Image]:
                return [wandb.Image(cv2.cvtColor(x, cv2.COLOR_BGR2RGB), caption=f"epoch {epoch} {what} {i}")
                        for i, x in enumerate(batch)]

            self.wandb.log({"prediction": images(pred, "prediction"),
                            "ground_truth": images(truth, "ground truth")}, step=step)
        return path

    def finish(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
