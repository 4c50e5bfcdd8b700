"""`dataset.loader=gpu`: the CIFAR training set held on the training device and batched there.

A CPU DataLoader decodes, augments and copies every image every epoch; 45k CIFAR images are 138 MB of
uint8, so one copy lives on the device instead (airbench-style) and each batch is a gather plus a few
elementwise kernels (DeviceAugment). The epoch's order and augmentation come from generators on the
device seeded by (seed, epoch) only, so a resumed run repeats them (on the same kind of device: CUDA's
random streams are not promised to match across GPU models or CPU). With several processes each draws
the same permutation and the same augmentation for the whole epoch and takes its contiguous slice of
every global batch (samplers.take_shard), as the CPU path does: together the processes see exactly the
single-process batches, augmentation included.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from seqnorm_repro.config import AugmentConfig
from seqnorm_repro.data.device_augment import DeviceAugment
from seqnorm_repro.data.samplers import AUGMENT, ORDER, epoch_generator, take_shard
from seqnorm_repro.data.source import Source


class DeviceTrainLoader:
    """Batches of (normalised float32 images, int64 labels) on `device`, the last partial batch dropped.

    Iterating gives one epoch; `set_epoch` picks which. `images` is uint8 (N, C, H, W), labels (N,).
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        augment: DeviceAugment,
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.sample_shape = tuple(images.shape[1:])
        self.images = augment.prepare(images)
        self.labels, self.augment, self.device = labels, augment, images.device
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels) // (self.batch_size * self.world_size)

    def plan(self) -> tuple[Tensor, Tensor]:
        """This process's sample indices for the epoch in batch order, and their augmentation draws."""
        count = len(self.labels)
        order = torch.randperm(
            count, generator=epoch_generator(ORDER, self.seed, self.epoch, self.device), device=self.device
        )
        draws = self.augment.draw(count, epoch_generator(AUGMENT, self.seed, self.epoch, self.device))
        positions = torch.arange(count, device=self.device)  # in the global order, which the draws follow
        mine = take_shard(positions, self.batch_size, self.rank, self.world_size)
        mine = mine[: len(self) * self.batch_size]  # world_size 1: drop the last partial batch
        return order[mine], draws[mine]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        indices, draws = self.plan()
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start : start + self.batch_size]
            yield self.augment(self.images, batch, draws[start : start + self.batch_size]), self.labels[batch]


def cifar_arrays(split: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 (N, H, W, C) images and the labels of a torchvision CIFAR split, or of a Subset of one
    (the training part that splits.split_off_val leaves): the arrays, without decoding N PIL images."""
    indices: slice | list[int] = slice(None)
    if isinstance(split, Subset):
        split, indices = split.dataset, split.indices
    return split.data[indices], np.asarray(split.targets)[indices]


def device_train_loader(
    source: Source,
    augment: AugmentConfig,
    device: torch.device | str,
    *,
    batch_size: int,
    seed: int,
    rank: int,
    world_size: int,
) -> DeviceTrainLoader:
    """The training split of a CIFAR `source`, copied to `device` once as uint8 (N, C, H, W)."""
    images, labels = cifar_arrays(source.train)
    return DeviceTrainLoader(
        torch.from_numpy(images).to(device).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(labels).to(device, torch.int64),
        DeviceAugment(augment, source.mean, source.std, source.image_size, device),
        batch_size=batch_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
    )
