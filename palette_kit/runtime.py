"""How a network runs: device, autocast precision, memory format and compilation.

The model code stays plain float32 PyTorch; a :class:`Runtime` decides how fast it runs. On CUDA the
default is bf16 autocast (matmuls and convolutions in bf16; GroupNorm is float32 by construction and
SDPA keeps its softmax in float32) with channels-last tensors; on a CPU everything stays float32
(bf16 is about 100x slower there), also channels-last (sampling the bundled model about 10% faster on the
2-core CPU of docs/performance.md; training there is about 7% slower with it, so the trainer keeps the
default layout), and torch's intra-op threads use every core.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from palette_kit.choices import DEVICES
from palette_kit.errors import InputError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Training's ``--mixed-precision`` choices, as ``DTYPES`` keys.
MIXED_PRECISION = {"no": "fp32", "fp16": "fp16", "bf16": "bf16"}


def pick_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; asking for an absent CUDA is an error."""
    if name not in DEVICES:
        raise InputError(f"unknown device {name!r}; choose from: {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


@dataclass(frozen=True)
class Runtime:
    """Where and how an eps-model runs; ``dtype`` is the autocast dtype (float32: no autocast)."""

    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def pick(cls, device: str = "auto", dtype: str = "auto", compile: bool = False) -> Runtime:
        """The fast settings for sampling on ``device``: bf16 on CUDA, float32 on a CPU, channels-last on both."""
        dev = pick_device(device)
        if dtype == "auto":
            dtype = "bf16" if dev.type == "cuda" else "fp32"
        if dtype not in DTYPES:
            raise InputError(f"unknown dtype {dtype!r}; choose from: auto, {', '.join(DTYPES)}")
        return cls(dev, DTYPES[dtype], channels_last=True, compile=compile)

    @property
    def name(self) -> str:
        """Short description, e.g. ``cuda bf16 channels-last compiled``."""
        dtype = next(k for k, v in DTYPES.items() if v == self.dtype)
        flags = [self.device.type, dtype] + ["channels-last"] * self.channels_last + ["compiled"] * self.compile
        return " ".join(flags)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``dtype`` on this device, or nothing for float32."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def prepare(self, net: nn.Module) -> Callable[..., torch.Tensor]:
        """Move ``net`` here (in place, weights stay float32) and return the callable to run it with.

        The callable runs under autocast and returns float32, so samplers and losses do their
        arithmetic in float32 whatever the network computes in.
        """
        net.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        module = torch.compile(net) if self.compile else net

        def run(*args: torch.Tensor) -> torch.Tensor:
            with self.autocast():
                return module(*args).float()

        return run
