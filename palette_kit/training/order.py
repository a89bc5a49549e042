"""The order of training items: reproducible per epoch, dealt out to the processes, resumable mid-epoch."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochOrder(Sampler[int]):
    """Permutations of ``n`` items seeded by (seed, epoch), cycled to ``samples`` items, dealt round-robin.

    Every process gets ``samples // world_size`` items, so all take the same number of steps.
    ``set_epoch(epoch, skip)`` picks the epoch and drops the first ``skip`` items of this process's
    share: a resumed run sees exactly the items the interrupted one had still to see.
    """

    def __init__(self, n: int, samples: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if samples < world_size:
            raise ValueError(f"{samples} items per epoch cannot feed {world_size} processes")
        self.n, self.samples, self.seed, self.rank, self.world_size = n, samples, seed, rank, world_size
        self.epoch, self.skip = 1, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        cycles = -(-self.samples // self.n)
        order = np.concatenate([rng.permutation(self.n) for _ in range(cycles)])[:self.samples]
        share = order[self.rank::self.world_size][:self.samples // self.world_size]
        return iter(share[self.skip:].tolist())

    def __len__(self) -> int:
        return self.samples // self.world_size - self.skip
