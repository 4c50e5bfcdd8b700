"""Transforms applied on top of untransformed datasets, so one loaded copy serves train and validation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset


class Transformed(Dataset[tuple[Tensor, int]]):
    """`dataset`'s (image, label) pairs with `transform` applied to the image."""

    def __init__(self, dataset: Dataset, transform: Callable[..., Tensor]) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image, label = self.dataset[index]
        return self.transform(image), label


class Augmented(Transformed):
    """Indexed by (index, seed) from SeededIndices: the random transform draws from torch's CPU generator
    seeded with `seed`, which is restored afterwards, so the caller's RNG (CUDA's included) is untouched."""

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, int]:  # type: ignore[override]
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            return super().__getitem__(index)
