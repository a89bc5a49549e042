"""Training images/s with the trainer's features on and off, measured in one process.

"Off" is a bare Adam step on Palette's loss; "on" is the real ``Trainer`` step: autocast (when
asked), gradient scaler, gradient clipping, the LR schedule, the EMA update, and the running loss
kept on the device (read back only every ``--log-every`` steps). The two alternate in blocks, so a
busy machine slows both alike; the table gives the median over blocks.

    python benchmarks/train_overhead.py --preset small --batch 8 --device cpu
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from palette_kit.model import Palette
from palette_kit.runtime import pick_device
from palette_kit.tasks import load_task
from palette_kit.training.distributed import World
from palette_kit.training.tracking import Run
from palette_kit.training.trainer import Trainer, TrainSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block", type=int, default=5, help="steps per timed block")
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    task = load_task("colorization")()
    model = Palette.create(task, args.preset, sampler="ddim", steps=2)
    size = model.image_size
    batch = {"y_cond": torch.rand(args.batch, 1, size, size, device=device) * 2 - 1,
             "y_0": torch.rand(args.batch, 2, size, size, device=device) * 2 - 1}
    data = [{"y_cond": batch["y_cond"][0].cpu(), "y_0": batch["y_0"][0].cpu()}]

    bare = copy.deepcopy(model.net).to(device).train()
    bare_optimizer = torch.optim.Adam(bare.parameters(), lr=1e-4)
    loss_fn = model.loss()

    def bare_step() -> None:
        loss = loss_fn(bare, batch["y_0"], batch["y_cond"])
        bare_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        bare_optimizer.step()

    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainSettings(batch_size=args.batch, lr=1e-4, mixed_precision=args.mixed_precision,
                                 log_every=args.log_every, val_samples=1, warmup_steps=100)
        run = Run(Path(tmp) / "run", {}, use_wandb=False)
        trainer = Trainer(model, data, data, settings, run, World(device=device))
        trainer.net.train()

        def trainer_step() -> None:
            with trainer.autocast():
                loss = trainer.loss_fn(trainer.net, batch["y_0"], batch["y_cond"])
            trainer.scaler.scale(loss).backward()
            trainer.loss_sum += loss.detach() * args.batch
            trainer.loss_count += args.batch
            trainer._step()
            if trainer.progress["step"] % args.log_every == 0:
                trainer.loss_sum.item()  # the one host sync per logging interval

        def timed(step) -> float:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.block):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            return args.block * args.batch / (time.perf_counter() - start)

        bare_step(), trainer_step()  # warm-up
        rates: dict[str, list[float]] = {"bare Adam step": [], "Trainer step (EMA, clip, scaler, schedule)": []}
        for _ in range(args.rounds):
            rates["bare Adam step"].append(timed(bare_step))
            rates["Trainer step (EMA, clip, scaler, schedule)"].append(timed(trainer_step))

    bare_rate = statistics.median(rates["bare Adam step"])
    print(f"{args.preset} preset at {size} px, batch {args.batch}, {device}, mixed precision {args.mixed_precision}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| training step | images/s (median) | relative |")
    print("|---|---|---|")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"| {name} | {rate:.2f} | {rate / bare_rate:.3f} |")


if __name__ == "__main__":
    main()
