"""build_data: one call from the dataset, augment and paths configs to the loaders of a run."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from seqnorm_repro.config import AugmentConfig, DatasetConfig, PathsConfig
from seqnorm_repro.data.device_loader import DeviceTrainLoader, device_train_loader
from seqnorm_repro.data.imagenet import imagenet_folders, load_imagenet
from seqnorm_repro.data.loaders import DataBundle, eval_loader, train_loader
from seqnorm_repro.data.mnist5k import load_mnist5k
from seqnorm_repro.data.source import Source
from seqnorm_repro.data.torchvision_sets import load_torchvision
from seqnorm_repro.data.transforms import eval_transform, train_transform
from seqnorm_repro.data.views import Augmented, Transformed


def load_source(dataset: DatasetConfig, paths: PathsConfig) -> Source:
    """The untransformed splits of `dataset.name`."""
    if dataset.name == "mnist5k":
        return load_mnist5k(dataset)
    if dataset.name == "imagenet":
        return load_imagenet(dataset, paths)
    return load_torchvision(dataset, paths)


def find_dataset(dataset: DatasetConfig, paths: PathsConfig) -> None:
    """Find (or download) `dataset.name`'s files without building loaders; ImageNet's folders only, not
    a scan of its 1.28M files. Raises DatasetNotFound as a run would."""
    if dataset.name == "imagenet":
        imagenet_folders(paths)
    elif dataset.name != "mnist5k":
        load_torchvision(dataset, paths)


def build_data(
    dataset: DatasetConfig,
    augment: AugmentConfig,
    paths: PathsConfig,
    *,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str = "cpu",
) -> DataBundle:
    """The loaders of this process. `batch_size` is per process; `seed` (the run's) fixes the training order
    and augmentation of every epoch, `dataset.split_seed` the validation split. With dataset.loader=gpu the
    training set lives on `device` (the trainer's) and its batches are made there.

    Raises DatasetNotFound when the files are missing and cannot be downloaded.
    """
    source = load_source(dataset, paths)
    evaluate = eval_transform(augment, source.mean, source.std, source.image_size)
    shared = {
        "num_workers": dataset.num_workers,
        "pin_memory": pin_memory,
        "rank": rank,
        "world_size": world_size,
    }

    def evaluation(split: Dataset) -> DataLoader:
        return eval_loader(Transformed(split, evaluate), batch_size=eval_batch_size, **shared)

    train: DataLoader | DeviceTrainLoader
    if dataset.loader == "gpu":
        train = device_train_loader(
            source, augment, device, batch_size=batch_size, seed=seed, rank=rank, world_size=world_size
        )
        input_shape = train.sample_shape
    else:
        augmented = Augmented(
            source.train, train_transform(augment, source.mean, source.std, source.image_size)
        )
        train = train_loader(augmented, batch_size=batch_size, seed=seed, **shared)
        input_shape = tuple(augmented[(0, 0)][0].shape)
    return DataBundle(
        train=train,
        val=None if source.val is None else evaluation(source.val),
        tests={name: evaluation(split) for name, split in source.tests.items()},
        num_classes=source.num_classes,
        input_shape=input_shape,
        val_indices=source.val_indices,
    )
