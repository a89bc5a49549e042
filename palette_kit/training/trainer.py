"""The epoch loop: Adam on Palette's loss, validation by loss and by restoring samples, best-by-MAE checkpoints."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm.auto import tqdm

from palette_kit.checkpoint import load_checkpoint
from palette_kit.model import Palette
from palette_kit.training.tracking import Run


@dataclass
class TrainSettings:
    epochs: int = 10
    batch_size: int = 4
    lr: float = 5e-5
    seed: int = 0
    workers: int = 0
    samples_per_epoch: int | None = None  # training items drawn per epoch; None: the dataset's size
    val_samples: int = 8  # validation images restored each epoch (MAE and picture grid)
    sample_steps: int | None = None  # steps of those restorations; None: the model's default
    device: str = "cpu"


@dataclass
class TrainResult:
    best_epoch: int
    best_val_mae: float
    run_dir: Path


def _batches(loader: Iterable[dict], device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for batch in loader:
        yield batch["y_0"].to(device), batch["y_cond"].to(device)


@torch.no_grad()
def evaluate(model: Palette, loader: DataLoader, device: torch.device, seed: int) -> float:
    """Mean loss over ``loader`` with fixed noise, so epochs compare."""
    model.net.eval()
    loss_fn, generator = model.loss(), torch.Generator(device=device).manual_seed(seed)
    losses = [loss_fn(model.net, y_0, y_cond, generator).item() for y_0, y_cond in _batches(loader, device)]
    return sum(losses) / len(losses)


def restore_validation(model: Palette, loader: Iterable[dict], count: int, steps: int | None,
                       device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Restore the first ``count`` validation targets: (y_cond, prediction, ground truth) on the CPU."""
    model.net.eval()
    pairs = list(_batches(loader, device))
    y_0 = torch.cat([p[0] for p in pairs])[:count]
    y_cond = torch.cat([p[1] for p in pairs])[:count]
    y_hat = model.sample(y_cond, steps=steps, generator=torch.Generator(device=device).manual_seed(seed))
    return y_cond.cpu(), y_hat.cpu(), y_0.cpu()


def train(model: Palette, train_data: Dataset, val_data: Dataset, settings: TrainSettings, run: Run) -> TrainResult:
    """Train ``model`` in place; at the end it holds the weights of the best epoch by validation MAE."""
    device = torch.device(settings.device)
    torch.manual_seed(settings.seed)
    model.net.to(device)
    loss_fn = model.loss()
    optimizer = torch.optim.Adam(model.net.parameters(), lr=settings.lr)
    sampler = RandomSampler(train_data, num_samples=settings.samples_per_epoch,
                            generator=torch.Generator().manual_seed(settings.seed))
    train_loader = DataLoader(train_data, settings.batch_size, sampler=sampler, num_workers=settings.workers)
    val_loader = DataLoader(val_data, settings.batch_size, shuffle=False, num_workers=settings.workers)
    val_few = list(islice(val_loader, math.ceil(settings.val_samples / settings.batch_size)))
    best = TrainResult(0, math.inf, run.root)

    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        model.net.train()
        total, count = 0.0, 0
        bar = tqdm(_batches(train_loader, device), total=len(train_loader), desc=f"epoch {epoch}/{settings.epochs}")
        for y_0, y_cond in bar:
            loss = loss_fn(model.net, y_0, y_cond)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(y_0), count + len(y_0)
            bar.set_postfix(loss=f"{total / count:.4f}")

        val_loss = evaluate(model, val_loader, device, settings.seed)
        y_cond, y_hat, y_0 = restore_validation(model, val_few, settings.val_samples, settings.sample_steps,
                                                device, settings.seed)
        val_mae = (y_hat - y_0).abs().mean().item()
        if val_mae < best.best_val_mae:
            best = TrainResult(epoch, val_mae, run.root)
            model.save(run.root / "best", epoch=epoch, val_mae=val_mae)
        model.save(run.root / "last", epoch=epoch, val_mae=val_mae)

        metrics = {"epoch": epoch, "train_loss": total / count, "val_loss": val_loss, "val_mae": val_mae,
                   "best_val_mae": best.best_val_mae, "seconds": round(time.perf_counter() - start, 2)}
        run.log(metrics)
        grid_path = run.log_images(epoch, model.task.cond_to_bgr(y_cond), model.task.to_bgr(y_cond, y_hat),
                                   model.task.to_bgr(y_cond, y_0))
        tqdm.write(f"epoch {epoch}/{settings.epochs}  train_loss {metrics['train_loss']:.4f}  "
                   f"val_loss {val_loss:.4f}  val_mae {val_mae:.4f}  best {best.best_val_mae:.4f} "
                   f"(epoch {best.best_epoch})  {metrics['seconds']:.1f}s  -> {grid_path}")

    model.net.load_state_dict(load_checkpoint(run.root / "best")[1])
    return best
