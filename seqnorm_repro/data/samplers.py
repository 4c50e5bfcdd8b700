"""Training order and augmentation seeds that depend only on (run seed, epoch), so resuming repeats them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

ORDER, AUGMENT, _WORKERS = 0, 1, 2  # keep the streams apart (the device loader draws ORDER and AUGMENT too)


def derive_seed(*keys: int) -> int:
    """A 64-bit seed mixing every key, so (seed, epoch) pairs never share a stream as seed + epoch would."""
    entropy = [key % 2**64 for key in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])


def epoch_generator(
    stream: int, seed: int, epoch: int, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A generator on `device` for one stream of one epoch, seeded by (stream, seed, epoch) only."""
    return torch.Generator(device).manual_seed(derive_seed(stream, seed, epoch))


def take_shard(order: Tensor, batch_size: int, rank: int, world_size: int) -> Tensor:
    """`rank`'s part of `order` (on any device): cut into global batches of batch_size * world_size, the
    last partial one dropped, and its contiguous slice of each. With world_size 1, all of `order`."""
    if world_size == 1:
        return order
    batches = len(order) // (batch_size * world_size)
    return order[: batches * batch_size * world_size].view(-1, world_size, batch_size)[:, rank].reshape(-1)


class EpochShuffle(Sampler[int]):
    """A permutation per epoch: torch.randperm under a generator seeded by (seed, epoch) only.

    With world_size > 1 every process draws the same permutation, cut into global batches of
    batch_size * world_size, and takes its own contiguous slice of each: the processes' batches
    together are exactly the single-process batch, so unsynchronised BatchNorm on D processes
    normalises the same contiguous groups as GhostNorm(gm=D) on one (the paper's Section 2.3).
    """

    def __init__(self, size: int, seed: int, batch_size: int = 1, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.epoch = size, seed, 0
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=epoch_generator(ORDER, self.seed, self.epoch))
        return iter(take_shard(order, self.batch_size, self.rank, self.world_size).tolist())

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.size
        return self.size // (self.batch_size * self.world_size) * self.batch_size


class EvalShard(Sampler[int]):
    """Every world_size-th sample from `rank`, in order and without padding: summed over processes,
    evaluation counts every sample exactly once (DistributedSampler would repeat some)."""

    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.indices = range(rank, size, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SeededIndices(Sampler[tuple[int, int]]):
    """Pairs each index of `order` with the seed of its augmentation, a function of (seed, epoch, index).

    Augmentation then depends on nothing else: not on num_workers, not on persistent workers (seeded once,
    when they start) and not on the trainer's global RNG, which reseeding the DataLoader's generator alone
    would not achieve. That generator, which seeds worker processes, is reseeded from (seed, epoch) too.
    """

    def __init__(self, order: EpochShuffle, seed: int, generator: torch.Generator) -> None:
        self.order, self.seed, self.generator = order, seed, generator
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.order.set_epoch(epoch)
        self.generator.manual_seed(derive_seed(_WORKERS, self.seed, epoch))
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        base = derive_seed(AUGMENT, self.seed, self.epoch)
        return ((index, (base + index) % 2**64) for index in self.order)

    def __len__(self) -> int:
        return len(self.order)
