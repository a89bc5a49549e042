"""One process per device, as ``torchrun`` starts them: torch.distributed with NCCL on GPUs, gloo on CPUs.

A plain ``palette-kit train`` is a world of one: nothing is initialised and every helper is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from palette_kit.runtime import pick_device


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

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
    return World(dist.get_rank(), dist.get_world_size(), dev)


def leave(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
