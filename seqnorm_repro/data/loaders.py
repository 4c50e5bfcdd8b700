"""DataLoaders for one process of a run, and the DataBundle the trainer receives."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from seqnorm_repro.data.device_loader import DeviceTrainLoader
from seqnorm_repro.data.samplers import EpochShuffle, EvalShard, SeededIndices
from seqnorm_repro.data.views import Augmented


@dataclass
class DataBundle:
    """The loaders of one run, and what the model and the saved run need to know about the data."""

    train: DataLoader | DeviceTrainLoader  # drop_last; this process's batch_size; reshuffled by set_epoch
    val: DataLoader | None  # None without a validation split
    tests: dict[str, DataLoader]  # "test", or one entry per ImageNetV2 set found
    num_classes: int
    input_shape: tuple[int, ...]  # (C, H, W) of one training sample after its transforms
    val_indices: list[int]  # into the original training set

    def set_epoch(self, epoch: int) -> None:
        """Order and augmentation of `epoch`, a function of (seed, epoch) only: a resumed run repeats them."""
        # a DataLoader reshuffles through its sampler; the device loader draws its epochs itself
        epochs = self.train if isinstance(self.train, DeviceTrainLoader) else self.train.sampler
        epochs.set_epoch(epoch)


def train_loader(
    dataset: Augmented,
    *,
    batch_size: int,
    seed: int,
    num_workers: int,
    pin_memory: bool,
    rank: int,
    world_size: int,
) -> DataLoader:
    """Shuffled per epoch and sharded across `world_size` processes; the last partial batch is dropped."""
    order = EpochShuffle(len(dataset), seed, batch_size, rank, world_size)
    generator = torch.Generator()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=SeededIndices(order, seed, generator),
        drop_last=True,
        generator=generator,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def eval_loader(
    dataset: Dataset, *, batch_size: int, num_workers: int, pin_memory: bool, rank: int, world_size: int
) -> DataLoader:
    """In order, every sample; with world_size > 1 each process gets a disjoint shard."""
    sampler = EvalShard(len(dataset), rank, world_size) if world_size > 1 else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        generator=torch.Generator(),  # the loader draws a worker seed per pass: not from the global RNG
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
