"""The training loop: Adam on Palette's loss, EMA, mixed precision, gradient accumulation, any number of
processes, validation with the EMA weights, and checkpoints a killed run resumes from exactly."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from palette_kit.checkpoint import load_checkpoint
from palette_kit.model import Palette
from palette_kit.runtime import DTYPES, MIXED_PRECISION, Runtime
from palette_kit.training.distributed import World
from palette_kit.training.ema import EMA
from palette_kit.training.order import EpochOrder
from palette_kit.training.state import TrainingState, capture_rng, prune, restore_rng, save_state
from palette_kit.training.tracking import Run

#: A training objective: (net, y_0, y_cond, generator, context) -> scalar loss, e.g. ``PaletteLoss``.
Loss = Callable[..., torch.Tensor]


@dataclass
class TrainSettings:
    epochs: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps, even mid-epoch
    batch_size: int = 4  # per process and micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 5e-5
    warmup_steps: int = 0  # linear learning-rate warm-up
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    ema_decay: float = 0.9999
    mixed_precision: str = "no"  # no | fp16 (with a gradient scaler) | bf16
    seed: int = 0
    workers: int = 0
    samples_per_epoch: int | None = None  # training items drawn per epoch; None: the dataset's size
    val_samples: int = 8  # validation images restored each epoch (MAE and picture grid)
    sample_steps: int | None = None  # steps of those restorations; None: the model's default
    checkpoint_every: int | None = None  # optimizer steps between training checkpoints (also one per epoch)
    keep_last: int = 3  # training checkpoints kept
    log_every: int = 50  # optimizer steps between train-loss logs (the only host syncs of the hot loop)

    def finished(self, progress: dict[str, Any]) -> bool:
        """Whether a run at ``progress`` (a checkpoint's) has nothing left to do under these settings."""
        return progress["epoch"] > self.epochs or (self.max_steps is not None and progress["step"] >= self.max_steps)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_mae: float
    run_dir: Path | None
    step: int
    skipped: int = 0  # training pictures that failed to decode and were skipped (this process)


def _batches(loader: Iterable[dict], device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for batch in loader:
        yield batch["y_0"].to(device, non_blocking=True), batch["y_cond"].to(device, non_blocking=True)


@torch.no_grad()
def validation_loss(model: Palette, loader: DataLoader, device: torch.device, seed: int,
                    loss_fn: Loss | None = None) -> tuple[float, int]:
    """Summed ``loss_fn`` (default: the model's) over ``loader`` with fixed noise, so epochs compare, and
    the number of items."""
    model.net.eval()
    loss_fn, generator = loss_fn or model.loss(), torch.Generator(device=device).manual_seed(seed)
    total, count = 0.0, 0
    for y_0, y_cond in _batches(loader, device):
        y_cond, y_0, context = model.inputs(y_cond, y_0)
        loss = loss_fn(model.net, y_0, y_cond, generator, context)
        total, count = total + loss.item() * len(y_0), count + len(y_0)
    return total, count


def restore_validation(model: Palette, batches: list[dict], count: int, steps: int | None,
                       device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Restore the first ``count`` validation targets: (y_cond, prediction, ground truth) on the CPU."""
    model.net.eval()
    pairs = list(_batches(batches, device))
    y_0 = torch.cat([p[0] for p in pairs])[:count]
    y_cond = torch.cat([p[1] for p in pairs])[:count]
    generators = [torch.Generator().manual_seed(seed + i) for i in range(len(y_0))]
    y_hat = model.sample(y_cond, steps=steps, generator=generators)
    return model.at_model_size(y_cond).cpu(), y_hat.cpu(), model.at_model_size(y_0).cpu()


def _warmup(steps: int):
    return lambda step: min(1.0, (step + 1) / steps) if steps else 1.0


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


class Trainer:
    """One training run of ``model`` on this process's share of the data; see ``train``."""

    def __init__(self, model: Palette, train_data: Dataset, val_data: Dataset, settings: TrainSettings,
                 run: Run | None, world: World, loss_fn: Loss | None = None) -> None:
        if world.is_main and run is None:
            raise ValueError("rank 0 needs a Run: it writes the run folder")
        self.model, self.settings, self.run, self.world = model, settings, run, world
        self.root = run.root if run is not None else None
        self.train_data = train_data
        device = world.device
        _seed_everything(settings.seed + world.rank)
        self.net = model.net.to(device)
        if model.encoder is not None:
            model.encoder.to(device)
        self.ema = EMA(self.net, settings.ema_decay)
        self.ema_model = dataclasses.replace(model, net=self.ema.net)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.lr)
        self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _warmup(settings.warmup_steps))
        self.scaler = torch.amp.GradScaler(device.type, enabled=settings.mixed_precision == "fp16")
        self.autocast = Runtime(device, DTYPES[MIXED_PRECISION[settings.mixed_precision]]).autocast
        self.loss_fn = loss_fn or model.loss()
        samples = settings.samples_per_epoch or len(train_data)
        self.order = EpochOrder(len(train_data), samples, settings.seed, world.rank, world.size)
        val_share = Subset(val_data, range(world.rank, len(val_data), world.size))
        self.val_loader = DataLoader(val_share, settings.batch_size, num_workers=settings.workers)
        self.val_few = list(islice(self.val_loader, math.ceil(settings.val_samples / settings.batch_size)))
        self.progress: dict[str, Any] = {"step": 0, "epoch": 1, "batch_in_epoch": 0, "loss_sum": 0.0, "loss_count": 0,
                                         "best_val_mae": math.inf, "best_epoch": 0,
                                         "wandb_id": run.id if run is not None else None}
        self.loss_sum, self.loss_count = torch.zeros((), device=device), 0  # this epoch's, on the device

    @property
    def batches_per_epoch(self) -> int:
        share = (self.settings.samples_per_epoch or len(self.train_data)) // self.world.size
        return math.ceil(share / self.settings.batch_size)

    def resume(self, state: TrainingState) -> None:
        """Continue from a training checkpoint: weights, EMA, optimizer, schedules, RNG, position."""
        self.net.load_state_dict(state.model)
        self.ema.net.load_state_dict(state.ema)
        self.optimizer.load_state_dict(state.optimizer)
        self.lr_schedule.load_state_dict(state.lr_scheduler)
        if state.scaler is not None:
            self.scaler.load_state_dict(state.scaler)
        self.progress.update({k: v for k, v in state.progress.items() if k != "wandb_id" or v is not None})
        if self.world.is_main:
            restore_rng(state.rng)
        else:  # only rank 0's generators are saved; the others restart theirs from a known point
            _seed_everything(self.settings.seed + self.world.rank + 7919 * self.progress["step"])

    def save(self) -> None:
        """Write a training checkpoint (rank 0) and keep the newest ``keep_last``."""
        if not self.world.is_main:
            return
        state = TrainingState(
            model=self.net.state_dict(), ema=self.ema.net.state_dict(), optimizer=self.optimizer.state_dict(),
            lr_scheduler=self.lr_schedule.state_dict(), scaler=self.scaler.state_dict() if self.scaler.is_enabled()
            else None, rng=capture_rng(), config=self.model.config,
            progress={**self.progress, "loss_sum": float(self.loss_sum), "loss_count": self.loss_count})
        save_state(self.root, state)
        prune(self.root, self.settings.keep_last)

    def fit(self) -> TrainResult:
        s, p, world = self.settings, self.progress, self.world
        trained = self.net
        if world.size > 1:
            device_ids = [world.device] if world.device.type == "cuda" else None
            trained = DistributedDataParallel(self.net, device_ids=device_ids)
        while not s.finished(p):
            epoch, start = p["epoch"], time.perf_counter()
            self.order.set_epoch(epoch, skip=p["batch_in_epoch"] * s.batch_size)
            loader = DataLoader(self.train_data, s.batch_size, sampler=self.order, num_workers=s.workers,
                                pin_memory=world.device.type == "cuda",
                                generator=torch.Generator().manual_seed(s.seed + epoch))
            total = self.batches_per_epoch
            self.loss_sum = torch.tensor(float(p["loss_sum"]), device=world.device)
            self.loss_count = p["loss_count"]
            self.net.train()
            bar = tqdm(_batches(loader, world.device), total=total, initial=p["batch_in_epoch"],
                       desc=f"epoch {epoch}/{s.epochs}", disable=None if world.is_main else True)
            for y_0, y_cond in bar:
                p["batch_in_epoch"] += 1
                boundary = p["batch_in_epoch"] % s.grad_accum == 0 or p["batch_in_epoch"] == total
                sync = contextlib.nullcontext() if boundary or world.size == 1 else trained.no_sync()
                with sync:
                    with self.autocast():
                        y_cond, y_0, context = self.model.inputs(y_cond, y_0)
                        loss = self.loss_fn(trained, y_0, y_cond, context=context)
                    self.scaler.scale(loss / s.grad_accum).backward()
                self.loss_sum += loss.detach() * len(y_0)
                self.loss_count += len(y_0)
                if not boundary:
                    continue
                self._step()
                done = s.max_steps is not None and p["step"] >= s.max_steps
                last = done or (epoch == s.epochs and p["batch_in_epoch"] == total)
                if p["step"] % s.log_every == 0 or last:  # the last step too: every run has a steps.jsonl
                    self._log_train(bar)
                if s.checkpoint_every and p["step"] % s.checkpoint_every == 0 and not done:
                    self.save()
                if done:
                    break
            self._end_epoch(epoch, start)
            p.update(epoch=epoch + 1, batch_in_epoch=0, loss_sum=0.0, loss_count=0)
            self.loss_sum, self.loss_count = torch.zeros((), device=world.device), 0
            self.save()
        if not world.identical(list(self.net.parameters()) + list(self.ema.net.parameters())):
            raise RuntimeError("the processes ended with different weights: distributed training went out of step")
        if world.size > 1 and world.is_main:
            tqdm.write(f"weights and EMA identical on all {world.size} processes")
        if world.is_main and (self.root / "best").exists():
            self.model.net.load_state_dict(load_checkpoint(self.root / "best")[1])
        return TrainResult(p["best_epoch"], p["best_val_mae"], self.root, p["step"], self.skipped)

    @property
    def skipped(self) -> int:
        """Training pictures skipped so far because they failed to decode (``PictureDataset.skipped``)."""
        return len(getattr(self.train_data, "skipped", ()))

    def _step(self) -> None:
        """One optimizer step from the accumulated gradients, then the EMA and the learning rate."""
        s = self.settings
        if s.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), s.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.lr_schedule.step()
        self.progress["step"] += 1
        self.ema.update(self.net, self.progress["step"])

    def _log_train(self, bar: tqdm) -> None:
        p = self.progress
        count = torch.tensor(float(self.loss_count), device=self.world.device)
        totals = self.world.sum(torch.stack([self.loss_sum.float(), count]))
        loss = (totals[0] / totals[1]).item()
        bar.set_postfix(loss=f"{loss:.4f}", step=p["step"])
        if self.run is not None:
            self.run.log({"step": p["step"], "train_loss": loss, "lr": self.lr_schedule.get_last_lr()[0]},
                         step=p["step"], file="steps.jsonl")

    def _end_epoch(self, epoch: int, start: float) -> None:
        """Validate with the EMA weights (metrics summed over processes); rank 0 logs and saves best/last."""
        s, p, world = self.settings, self.progress, self.world
        val_loss, val_count = validation_loss(self.ema_model, self.val_loader, world.device, s.seed, self.loss_fn)
        if self.val_few:
            y_cond, y_hat, y_0 = restore_validation(self.ema_model, self.val_few, s.val_samples, s.sample_steps,
                                                    world.device, s.seed + 1000 * world.rank)
        else:  # more processes than validation pictures
            y_cond = y_hat = y_0 = torch.zeros(0)
        sums = world.sum(torch.tensor([float(self.loss_sum), self.loss_count, val_loss, val_count,
                                       (y_hat - y_0).abs().sum().item(), y_0.numel()],
                                      dtype=torch.float64, device=world.device)).tolist()
        train_loss, val_loss, val_mae = sums[0] / max(sums[1], 1), sums[2] / max(sums[3], 1), sums[4] / sums[5]
        if not world.is_main:
            return
        if val_mae < p["best_val_mae"]:
            p.update(best_val_mae=val_mae, best_epoch=epoch)
            self.ema_model.save(self.root / "best", epoch=epoch, step=p["step"], val_mae=val_mae)
        self.ema_model.save(self.root / "last", epoch=epoch, step=p["step"], val_mae=val_mae)
        metrics = {"epoch": epoch, "step": p["step"], "train_loss": train_loss, "val_loss": val_loss,
                   "val_mae": val_mae, "best_val_mae": p["best_val_mae"], "skipped_files": self.skipped,
                   "seconds": round(time.perf_counter() - start, 2)}
        task = self.model.task
        if self.run is not None:
            self.run.log(metrics, step=p["step"])
            grid = self.run.log_images(epoch, p["step"], task.cond_to_bgr(y_cond), task.to_bgr(y_cond, y_hat),
                                       task.to_bgr(y_cond, y_0))
        tqdm.write(f"epoch {epoch}/{s.epochs}  step {p['step']}  train_loss {train_loss:.4f}  val_loss {val_loss:.4f}"
                   f"  val_mae {val_mae:.4f}  best {p['best_val_mae']:.4f} (epoch {p['best_epoch']})"
                   f"  {metrics['seconds']:.1f}s" + (f"  -> {grid}" if self.run is not None else ""))


def train(model: Palette, train_data: Dataset, val_data: Dataset, settings: TrainSettings, run: Run | None,
          world: World = World(), resume: TrainingState | None = None, loss_fn: Loss | None = None) -> TrainResult:
    """Train ``model`` in place; at the end (on rank 0) it holds the weights of the best epoch by validation MAE.

    ``loss_fn``: the objective (default: ``model.loss()``, Palette's; distillation passes its own).

    ``run`` writes the run folder and wandb; only rank 0 has one. ``resume``: a training checkpoint's
    state (``load_state``), checked against ``model`` (``check_compatible``) by the caller.
    """
    trainer = Trainer(model, train_data, val_data, settings, run, world, loss_fn)
    if resume is not None:
        trainer.resume(resume)
    return trainer.fit()
