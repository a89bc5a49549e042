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
    """Writes ``metrics.jsonl`` and ``samples/epoch_NNN.png`` under ``root``, mirrored to wandb when enabled."""

    def __init__(self, root: Path, config: dict[str, Any], use_wandb: bool, project: str = "palette-kit") -> None:
        self.root = Path(root)
        (self.root / "samples").mkdir(parents=True, exist_ok=True)
        (self.root / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        self.wandb = None
        if use_wandb:
            import wandb  # slow to import: only when asked for

            self.wandb = wandb.init(project=project, config=config, dir=self.root, mode=wandb_mode())

    def log(self, metrics: dict[str, Any]) -> None:
        with open(self.root / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self.wandb is not None:
            self.wandb.log(metrics, step=metrics["epoch"])

    def log_images(self, epoch: int, cond: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> Path:
        """Save the (condition | prediction | ground truth) grid, and log the pictures to wandb."""
        path = self.root / "samples" / f"epoch_{epoch:03d}.png"
        write_image(path, grid([cond, pred, truth]))
        if self.wandb is not None:
            import wandb

            def images(batch: np.ndarray, what: str) -> list[wandb.Image]:
                return [wandb.Image(cv2.cvtColor(x, cv2.COLOR_BGR2RGB), caption=f"epoch {epoch} {what} {i}")
                        for i, x in enumerate(batch)]

            self.wandb.log({"prediction": images(pred, "prediction"),
                            "ground_truth": images(truth, "ground truth")}, step=epoch)
        return path

    def finish(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
