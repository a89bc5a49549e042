"""One process per device, as ``torchrun`` starts them: torch.distributed with NCCL on GPUs, gloo on CPUs.

Training runs DDP in it; ``infer`` and ``evaluate`` share their inputs among the processes (``World.share``)
and gather what each did (``World.gather``). A plain ``palette-kit`` command is a world of one: nothing is
initialised and every helper is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from palette_kit.runtime import pick_device

T = TypeVar("T")
#: How long ``World.gather`` waits for the slowest process (infer and evaluate: its share may be long videos).
GATHER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class World:
    """This process's place among the processes torchrun started."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")
    #: A gloo group for ``gather`` that waits up to ``GATHER_TIMEOUT`` (the default group's NCCL gives up
    #: after minutes, while a process that finished its share may wait hours for the others).
    objects: Any = field(default=None, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, pictures and wandb."""
        return self.rank == 0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over all processes (a copy; unchanged in a world of one)."""
        values = values.detach().clone()
        if self.size > 1:
            dist.all_reduce(values)
        return values

    def barrier(self) -> None:
        """Wait until every process gets here (nothing to wait for in a world of one)."""
        if self.size > 1:
            dist.barrier()

    def identical(self, tensors: list[torch.Tensor]) -> bool:
        """Whether every process holds exactly rank 0's ``tensors`` (a check that DDP kept them in step)."""
        if self.size == 1:
            return True
        differ = torch.zeros((), device=self.device)
        for tensor in tensors:
            theirs = tensor.detach().clone()
            dist.broadcast(theirs, 0)
            differ += float(not torch.equal(theirs, tensor))
        return self.sum(differ).item() == 0

    def share(self, items: list[T], chunk: int = 1) -> list[T]:
        """This process's share of ``items``: every ``size``-th run of ``chunk`` consecutive items from its
        ``rank`` on, so each item goes to exactly one process and consecutive chunks (e.g. the batches of a
        folder's pictures, or its videos one by one) to different processes. Waits for every process first,
        so none writes an output while another still looks at what exists."""
        self.barrier()
        return [item for i, item in enumerate(items) if (i // chunk) % self.size == self.rank]

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (any picklable object), in rank order, on every process."""
        if self.size == 1:
            return [value]
        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value, group=self.objects)
        return values


def join(device: str) -> World:
    """Join the process group ``torchrun`` describes in the environment, or be a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device)
    if size == 1:
        return World(device=dev)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    objects = dist.new_group(backend="gloo", timeout=GATHER_TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), dev, objects)


def leave(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
