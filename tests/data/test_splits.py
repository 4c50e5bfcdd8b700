"""Stratified, seeded splits: sizes, class balance, disjointness and reproducibility."""

import numpy as np
import pytest
import torch

from seqnorm_repro.config import ConfigError
from seqnorm_repro.data.splits import stratified_split

# 1,000 samples, unbalanced: class c has 55 + 10c samples
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(10), 55 + 10 * np.arange(10)))
SIZES = {"dataset.test_size": 200, "dataset.val_size": 100}


def test_split_sizes_and_class_proportions():
    test, val, rest = stratified_split(LABELS, SIZES, seed=0)
    assert (len(test), len(val), len(rest)) == (200, 100, 700)
    share = np.bincount(LABELS, minlength=10) / len(LABELS)
    for part in (test, val):
        counts = np.bincount(LABELS[part], minlength=10)
        assert np.abs(counts - share * len(part)).max() <= 1.5


def test_every_prefix_of_a_sized_split_holds_the_classes_in_proportion():
    ordered = np.sort(LABELS)  # a dataset stored class by class, as mnist5k's is
    test, val, rest = stratified_split(ordered, SIZES, seed=0)
    share = np.bincount(ordered, minlength=10) / len(ordered)
    for prefix in (test[:20], test[:50], val[:30]):
        counts = np.bincount(ordered[prefix], minlength=10)
        assert np.abs(counts - share * len(prefix)).max() <= 1.5
    assert rest == sorted(rest)  # the training split's order, which its shuffle starts from


def test_splits_are_disjoint_and_cover_every_sample():
    parts = stratified_split(LABELS, SIZES, seed=0)
    assert sorted(i for part in parts for i in part) == list(range(len(LABELS)))


def test_same_seed_same_split_other_seed_other_split():
    assert stratified_split(LABELS, SIZES, seed=3) == stratified_split(LABELS, SIZES, seed=3)
    assert stratified_split(LABELS, SIZES, seed=3)[0] != stratified_split(LABELS, SIZES, seed=4)[0]


def test_first_split_does_not_depend_on_later_sizes():
    few_val = stratified_split(LABELS, {"dataset.test_size": 200, "dataset.val_size": 10}, seed=0)
    assert few_val[0] == stratified_split(LABELS, SIZES, seed=0)[0]


@pytest.mark.parametrize("val_size", [100, 200])
def test_asking_for_all_there_is_or_more_names_the_keys(val_size):
    with pytest.raises(
        ConfigError,
        match=rf"dataset\.test_size=900 \+ dataset\.val_size={val_size} leaves none of the 1000 samples",
    ):
        stratified_split(LABELS, {"dataset.test_size": 900, "dataset.val_size": val_size}, seed=0)


def test_mnist5k_default_split_has_3500_balanced_train_digits(make_bundle):
    bundle = make_bundle("mnist5k", val_size=500, test_size=1000)
    train_labels = torch.tensor([label for _, label in bundle.train.dataset.dataset])
    assert len(train_labels) == 3500
    assert torch.bincount(train_labels).tolist() == [350] * 10
    assert len(bundle.val.dataset) == 500 == len(bundle.val_indices)
    assert len(bundle.tests["test"].dataset) == 1000
    test_indices = set(bundle.tests["test"].dataset.dataset.indices)
    assert not test_indices & set(bundle.val_indices)
    assert not set(bundle.train.dataset.dataset.indices) & (test_indices | set(bundle.val_indices))


def test_validation_split_is_stratified_and_fixed_by_split_seed(make_bundle):
    bundle = make_bundle("cifar10", val_size=50, split_seed=7)
    val_labels = torch.tensor([label for _, label in bundle.val.dataset.dataset])
    assert torch.bincount(val_labels).tolist() == [5] * 10
    assert bundle.val_indices == make_bundle("cifar10", val_size=50, split_seed=7, seed=1).val_indices
    assert bundle.val_indices != make_bundle("cifar10", val_size=50, split_seed=8).val_indices
    train_indices = set(bundle.train.dataset.dataset.indices)
    assert len(train_indices) == 150 and not train_indices & set(bundle.val_indices)
