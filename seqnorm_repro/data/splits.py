"""Stratified, seeded splits, so validation (and mnist5k's test set) hold every class in proportion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset, Subset

from seqnorm_repro.config import ConfigError


def stratified_split(labels: Sequence[int] | np.ndarray, sizes: dict[str, int], seed: int) -> list[list[int]]:
    """Disjoint, class-balanced index lists of `sizes` (config key -> size), then the rest, sorted.

    Each class's indices are shuffled and spread evenly through one ordering (the j-th of a class of n sits
    at (j + 0.5) / n), so every run of that ordering holds each class in proportion, to about one sample.
    The sized parts (validation, test) keep that order, so that any prefix of them, such as the batches
    trainer.limit_eval_batches evaluates, does too: sorted, a class-ordered dataset such as mnist5k's
    would put one digit first. The same labels and seed give the same split, and the first split does
    not depend on the later sizes.
    """
    labels = np.asarray(labels)
    if sum(sizes.values()) >= len(labels):
        asked = " + ".join(f"{key}={size}" for key, size in sizes.items())
        raise ConfigError(f"{asked} leaves none of the {len(labels)} samples available for training")
    rng = np.random.default_rng(seed)
    position = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    order = np.lexsort((rng.random(len(labels)), position))  # ties between classes broken at random
    *sized, rest = np.split(order, np.cumsum(list(sizes.values())))
    return [part.tolist() for part in sized] + [sorted(rest.tolist())]


def split_off_val(
    train: Dataset, labels: Sequence[int] | np.ndarray, val_size: int, seed: int
) -> tuple[Dataset, Dataset | None, list[int]]:
    """(train, val, val indices): `val_size` stratified samples of `train` held out; no val when it is 0."""
    if val_size == 0:
        return train, None, []
    val_indices, train_indices = stratified_split(labels, {"dataset.val_size": val_size}, seed)
    return Subset(train, train_indices), Subset(train, val_indices), val_indices
