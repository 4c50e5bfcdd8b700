"""What every dataset loader hands to build_data: untransformed splits plus the facts transforms need."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass
class Source:
    """A dataset's splits as (PIL image, int label) datasets; build_data adds transforms and loaders."""

    train: Dataset
    val: Dataset | None
    tests: dict[str, Dataset]
    val_indices: list[int]  # into the original training set
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int | None  # side of every (square) image; None when sizes differ (ImageNet)
