"""Gaussian noise drawn from one generator for a batch, or from one generator per sample."""
from __future__ import annotations

from typing import Union

from palette_kit.lazy import lazy

torch = lazy("torch")

#: One generator for the batch, or one per sample (each sample's noise then depends on its own alone).
Generators = Union["torch.Generator", list["torch.Generator"], None]


def randn(shape: tuple[int, ...], generator: Generators, device: torch.device | str,
          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``device``, drawn where the generator lives and moved there.

    With a list, sample ``i`` (the first dimension) comes from ``generator[i]`` alone. The draws are
    those of diffusers' ``randn_tensor``, which diffusers' schedulers use, so our schedule and theirs
    see the same noise; written here so that sampling with our schedule does not import diffusers
    (a second or more of start-up on a small CPU). ``dtype`` defaults to float32.
    """
    dtype = dtype or torch.float32
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
        return torch.cat([randn((1, *shape[1:]), g, device, dtype) for g in generator])
    where = generator.device if generator is not None else torch.device(device)
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)
