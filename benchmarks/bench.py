"""Speed of palette-kit's UNet against the tutorial's model code, in one process, on the same inputs.

For a preset, resolution, batch, device and dtype: sampling and training images/s, peak memory, FLOPs per
forward (``torch.utils.flop_counter``), achieved TFLOP/s and its fraction of the peak matmul rate measured
in the same run. The tutorial's code (``tutorial_unet.py``: float32, einsum attention, checkpointed
attention) gets the same weights, condition, noise, scheduler and steps; the bench prints the speed-up and
the largest difference between the two networks' outputs.

    python benchmarks/bench.py --preset seed --batch 1 --steps 20            # a 2-core CPU: about a minute
    python benchmarks/bench.py --device cuda --batch 64 --train-batch 32     # H100 / H200, bf16

With ``--checkpoint DIR`` it measures instead how fast a saved model samples at its own sampler and steps
(encoder and task included, as ``infer`` runs it) on a batch of random conditions.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diffusers
import torch
from torch.utils.flop_counter import FlopCounterMode

from palette_kit.diffusion.eps_model import EpsModel
from palette_kit.diffusion.loss import PaletteLoss
from palette_kit.diffusion.presets import SAMPLERS, make_scheduler, schedule_preset
from palette_kit.diffusion.sampler import EpsFn, restore
from palette_kit.model import Palette
from palette_kit.nn.unet import PRESETS, UNet, preset
from palette_kit.runtime import Runtime

sys.path.insert(0, str(Path(__file__).parent))
from tutorial_unet import TutorialUNet, load_unet_weights, randomize, restoration, tutorial_config

COND_CHANNELS, TARGET_CHANNELS = 1, 2  # colorization: L -> ab


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock times cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 1) -> tuple[float, Any]:
    """Seconds per call of ``fn`` over ``repeats`` calls, and the last call's result."""
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        result = fn()
    sync(device)
    return (time.perf_counter() - start) / repeats, result


def peak_matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, repeats: int, rounds: int = 3) -> float:
    """The best rate of an n x n x n matmul in ``dtype`` over a few timed rounds (TFLOP/s)."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.matmul(a, b, out=out)
    seconds = min(timed(lambda: torch.matmul(a, b, out=out), device, repeats)[0] for _ in range(rounds))
    return 2 * n**3 / seconds / 1e12


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of the matmuls, convolutions and attention that ``fn`` runs (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float:
    """CUDA: the most memory allocated since the last reset; CPU: the process's peak resident set so far."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    return f"{models[0] if models else platform.processor() or 'CPU'} ({os.cpu_count()} cores)"


def environment(runtime: Runtime) -> dict[str, Any]:
    """The machine and versions the numbers were measured with."""
    env = {"device": device_name(runtime.device), "runtime": runtime.name, "torch": torch.__version__,
           "diffusers": diffusers.__version__, "python": platform.python_version(),
           "threads": torch.get_num_threads()}
    if runtime.device.type == "cuda":
        env.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Workload:
    """The inputs both implementations get, and how their rates are measured."""

    args: argparse.Namespace
    device: torch.device
    y_cond: torch.Tensor  # sampling: condition (B, 1, H, W) and starting noise y_T (B, 2, H, W)
    y_T: torch.Tensor
    y_0: torch.Tensor  # training: targets and conditions
    y_cond_train: torch.Tensor
    loss_fn: PaletteLoss
    forward_flops: int = 0  # one forward at the sampling batch
    train_flops: int = 0  # one forward and backward at the training batch
    peak_tflops: float = 0.0

    def train_step(self, net: EpsModel, optimizer: torch.optim.Optimizer) -> None:
        """One step of Adam on Palette's loss."""
        loss = self.loss_fn(net, self.y_0, self.y_cond_train)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def measure(self, name: str, model: torch.nn.Module, eps_model: EpsFn,
                sample: Callable[[int], torch.Tensor]) -> tuple[dict[str, float], torch.Tensor]:
        """Sampling and training rates of one implementation, and the batch it restored.

        ``model`` holds the weights that ``eps_model`` runs; ``sample(steps)`` restores the batch.
        """
        args, device = self.args, self.device
        model.eval()
        log(f"{name}: warm-up sampling (1 step)")
        sample(1)
        log(f"{name}: sampling {args.batch} image(s), {args.steps} {args.sampler} steps")
        reset_peak_memory(device)
        sample_s, y_hat = timed(lambda: sample(args.steps), device)
        sample_mib = peak_memory_mib(device)

        log(f"{name}: training, {args.warmup} warm-up + {args.train_steps} timed steps at batch {args.train_batch}")
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-5)
        for _ in range(args.warmup):
            self.train_step(eps_model, optimizer)
        reset_peak_memory(device)
        train_s, _ = timed(lambda: self.train_step(eps_model, optimizer), device, args.train_steps)
        train_mib = peak_memory_mib(device)
        model.zero_grad(set_to_none=True)

        sample_tflops = self.forward_flops * args.steps / sample_s / 1e12
        train_tflops = self.train_flops / train_s / 1e12
        return {"sample_images_per_s": args.batch / sample_s, "sample_s_per_image": sample_s / args.batch,
                "sample_tflops": sample_tflops, "sample_peak_fraction": sample_tflops / self.peak_tflops,
                "sample_peak_mib": sample_mib, "train_images_per_s": args.train_batch / train_s,
                "train_tflops": train_tflops, "train_mfu": train_tflops / self.peak_tflops,
                "train_peak_mib": train_mib}, y_hat


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure everything; return the report as a JSON-ready dict."""
    if args.threads:
        torch.set_num_threads(args.threads)
    args.sampler, args.steps = args.sampler or "ddim", args.steps or 20
    runtime = Runtime.pick(args.device, args.dtype, compile=args.compile)
    device = runtime.device
    config = preset(args.preset, COND_CHANNELS + TARGET_CHANNELS, TARGET_CHANNELS,
                    **({"image_size": args.image_size} if args.image_size else {}))
    args.image_size, args.train_batch = config.image_size, args.train_batch or args.batch
    size, b, bt = config.image_size, args.batch, args.train_batch
    unet = randomize(UNet(config), args.seed)
    net = EpsModel(unet)
    reference = load_unet_weights(TutorialUNet(**tutorial_config(config)), unet).to(device) if args.reference else None
    fast = runtime.prepare(net)
    eager = dataclasses.replace(runtime, compile=False).prepare(net)
    report: dict[str, Any] = {"environment": environment(runtime), "args": vars(args),
                              "parameters": sum(p.numel() for p in unet.parameters())}
    log(f"{report['environment']['device']}, {runtime.name}, {report['parameters']:,} parameters")

    generator = torch.Generator(device).manual_seed(args.seed)

    def noise(batch: int, channels: int) -> torch.Tensor:
        return torch.randn(batch, channels, size, size, device=device, generator=generator)

    work = Workload(args, device, noise(b, COND_CHANNELS), noise(b, TARGET_CHANNELS),
                    noise(bt, TARGET_CHANNELS).clamp(-1, 1), noise(bt, COND_CHANNELS),
                    PaletteLoss(schedule_preset(args.schedule).train.gammas()))
    gamma = torch.full((b,), 0.5, device=device)
    scheduler = make_scheduler(args.sampler, schedule_preset(args.schedule).sample)

    log("peak matmul rate")
    work.peak_tflops = peak_matmul_tflops(device, runtime.dtype,
                                          args.matmul_size or (8192 if device.type == "cuda" else 2048),
                                          repeats=50 if device.type == "cuda" else 3)
    log("counting FLOPs")
    net.eval()
    with torch.inference_mode():
        work.forward_flops = count_flops(lambda: eager(work.y_T, work.y_cond, gamma))
    net.train()
    work.train_flops = count_flops(lambda: work.loss_fn(eager, work.y_0, work.y_cond_train).backward())
    net.zero_grad(set_to_none=True)
    report.update(peak_matmul_tflops=work.peak_tflops, forward_gflop_per_image=work.forward_flops / b / 1e9,
                  train_gflop_per_image=work.train_flops / bt / 1e9)

    def tutorial_eps(y_t: torch.Tensor, y_cond: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        return reference(torch.cat([y_cond, y_t], dim=1), gamma)

    if reference is not None:  # the networks' own outputs, both float32, before training moves the weights
        net.eval()
        reference.eval()
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # no TF32 convolutions
            eps_difference = (net(work.y_T, work.y_cond, gamma) - tutorial_eps(work.y_T, work.y_cond, gamma))
        report["comparison"] = {"eps_max_abs_diff_fp32": eps_difference.abs().max().item()}
        reference.cpu()  # off the device until its turn, so it is not in palette-kit's peak memory

    # Both restorations start from the same noise and draw the same scheduler noise.
    def ours(steps: int) -> torch.Tensor:
        generator = torch.Generator(device).manual_seed(args.seed)
        return restore(fast, work.y_cond, work.y_T, scheduler, steps, generator)

    def tutorial(steps: int) -> torch.Tensor:
        generator = torch.Generator(device).manual_seed(args.seed)
        return restoration(reference, work.y_cond, work.y_T, scheduler, steps, generator)

    report["palette_kit"], y_ours = work.measure("palette_kit", net, fast, ours)
    if reference is not None:
        unet.cpu()  # likewise, palette-kit's weights are not in the tutorial's
        reference.to(device)
        report["tutorial"], y_tutorial = work.measure("tutorial", reference, tutorial_eps, tutorial)
        report["comparison"].update(
            sample_speedup=report["palette_kit"]["sample_images_per_s"] / report["tutorial"]["sample_images_per_s"],
            train_speedup=report["palette_kit"]["train_images_per_s"] / report["tutorial"]["train_images_per_s"],
            restored_max_abs_diff=(y_ours - y_tutorial).abs().max().item())
    return report


def sample_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """How fast the model saved in ``args.checkpoint`` samples a batch at its own sampler and steps (or the
    given ones): images/s, and peak memory; the report as a JSON-ready dict."""
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime = Runtime.pick(args.device, args.dtype, compile=args.compile)
    model = Palette.load(args.checkpoint).to(runtime)
    model.net.eval()
    sampler, steps = args.sampler or model.sampling.sampler, args.steps or model.sampling.steps
    size, device = model.condition_size, runtime.device
    noise = torch.Generator().manual_seed(args.seed)
    y_cond = (torch.rand(args.batch, model.task.cond_channels, size, size, generator=noise) * 2 - 1).to(device)
    report: dict[str, Any] = {"environment": environment(runtime), "args": vars(args), "sampler": sampler,
                              "steps": steps, "image_size": model.image_size, "condition_size": size,
                              "parameters": sum(p.numel() for p in model.net.parameters())}
    log(f"{report['environment']['device']}, {runtime.name}: {args.checkpoint}, {steps} {sampler} steps")
    with torch.inference_mode():
        log("warm-up sampling (1 step)")
        model.sample(y_cond, 1, sampler)
        reset_peak_memory(device)
        log(f"sampling {args.batch} image(s)")
        seconds, _ = timed(lambda: model.sample(y_cond, steps, sampler), device)
    report.update(sample_images_per_s=args.batch / seconds, sample_s_per_image=seconds / args.batch,
                  sample_peak_mib=peak_memory_mib(device))
    return report


def checkpoint_markdown(report: dict[str, Any]) -> str:
    """The checkpoint report as two lines."""
    env, args = report["environment"], report["args"]
    return (f"device: {env['device']}; runtime: {env['runtime']}; torch {env['torch']}\n"
            f"{args['checkpoint']} ({report['parameters']:,} parameters, {report['image_size']} px): batch "
            f"{args['batch']}, {report['steps']} {report['sampler']} steps: {report['sample_images_per_s']:.4g} "
            f"images/s ({report['sample_s_per_image']:.4g} s/image), peak {report['sample_peak_mib']:.0f} MiB")


def markdown(report: dict[str, Any]) -> str:
    """The report as a header and a markdown table."""
    env, args = report["environment"], report["args"]
    versions = f"torch {env['torch']}, diffusers {env['diffusers']}, python {env['python']}"
    if "cuda" in env:
        versions += f", CUDA {env['cuda']}, cuDNN {env['cudnn']}"
    lines = [
        f"device: {env['device']}; runtime: {env['runtime']}; threads: {env['threads']}",
        versions,
        (f"preset {args['preset']} ({report['parameters']:,} parameters), {args['image_size']} px, "
         f"sampling: batch {args['batch']}, {args['steps']} {args['sampler']} steps; "
         f"training: batch {args['train_batch']}, {args['train_steps']} timed steps"),
        (f"forward: {report['forward_gflop_per_image']:.2f} GFLOP/image; training step (fwd+bwd): "
         f"{report['train_gflop_per_image']:.2f} GFLOP/image; measured peak matmul: "
         f"{report['peak_matmul_tflops']:.3f} TFLOP/s"),
        "",
        ("| implementation | sampling img/s | s/image | sampling TFLOP/s | % of peak | peak MiB "
         "| training img/s | training TFLOP/s | MFU | peak MiB |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("palette_kit", "tutorial"):
        if name in report:
            r = report[name]
            lines.append(f"| {name} | {r['sample_images_per_s']:.4g} | {r['sample_s_per_image']:.4g} "
                         f"| {r['sample_tflops']:.4g} | {100 * r['sample_peak_fraction']:.1f}% "
                         f"| {r['sample_peak_mib']:.0f} | {r['train_images_per_s']:.4g} | {r['train_tflops']:.4g} "
                         f"| {100 * r['train_mfu']:.1f}% | {r['train_peak_mib']:.0f} |")
    if "comparison" in report:
        c = report["comparison"]
        lines += [
            "",
            f"speed-up over the tutorial's code: sampling {c['sample_speedup']:.2f}x, "
            f"training {c['train_speedup']:.2f}x",
            (f"max |difference|, equal weights and inputs: eps (one forward, both fp32) "
             f"{c['eps_max_abs_diff_fp32']:.3g}; restored images ({env['runtime']} vs tutorial fp32) "
             f"{c['restored_max_abs_diff']:.3g}"),
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", default="seed", choices=list(PRESETS))
    parser.add_argument("--image-size", type=int, default=None, help="pixels; None: the preset's")
    parser.add_argument("--batch", type=int, default=1, help="images sampled at once")
    parser.add_argument("--train-batch", type=int, default=None, help="training batch; None: --batch")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="autocast dtype of palette-kit's path (auto: bf16 on CUDA, fp32 on a CPU; "
                             "fp16 trains without loss scaling: a speed figure only)")
    parser.add_argument("--sampler", default=None, choices=list(SAMPLERS),
                        help="None: ddim, or with --checkpoint the checkpoint's own")
    parser.add_argument("--schedule", default="palette", help="schedule preset (train and sample)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling steps; None: 20, or with --checkpoint the checkpoint's own")
    parser.add_argument("--train-steps", type=int, default=2, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    parser.add_argument("--compile", action="store_true", help="torch.compile palette-kit's network")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the tutorial's code and compare")
    parser.add_argument("--matmul-size", type=int, default=None,
                        help="n of the peak-rate matmul; None: 8192 on CUDA, 2048 on a CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads; None: torch's choice")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="measure this saved model's sampling instead (at --batch; no training, no tutorial)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = sample_checkpoint(args) if args.checkpoint else run(args)
    print(checkpoint_markdown(report) if args.checkpoint else markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
