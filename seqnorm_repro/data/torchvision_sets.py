"""MNIST, FashionMNIST, CIFAR-10 and CIFAR-100 through torchvision, with a one-line error when missing."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST

from seqnorm_repro.config import DatasetConfig, PathsConfig
from seqnorm_repro.data.errors import DatasetNotFound, DatasetUnusable
from seqnorm_repro.data.source import Source
from seqnorm_repro.data.splits import split_off_val
from seqnorm_repro.data.stats import IMAGE_SHAPES, MEAN_STD
from seqnorm_repro.errors import one_line


def _no_md5(files: list[list[str]]) -> list[list[str | None]]:
    return [[name, None] for name, _ in files]


class UncheckedCIFAR10(CIFAR10):
    """CIFAR-10 that loads any files present: torchvision's check_integrity skips the md5 when it is None."""

    train_list: ClassVar = _no_md5(CIFAR10.train_list)
    test_list: ClassVar = _no_md5(CIFAR10.test_list)
    meta: ClassVar = {**CIFAR10.meta, "md5": None}


class UncheckedCIFAR100(CIFAR100):
    """CIFAR-100 that loads any files present (see UncheckedCIFAR10)."""

    train_list: ClassVar = _no_md5(CIFAR100.train_list)
    test_list: ClassVar = _no_md5(CIFAR100.test_list)
    meta: ClassVar = {**CIFAR100.meta, "md5": None}


# name -> (class, class with verify_checksums=false, torchvision's folder under data_dir)
_SETS: dict[str, tuple[type[Dataset], type[Dataset], str]] = {
    "mnist": (MNIST, MNIST, "MNIST/raw"),
    "fashion_mnist": (FashionMNIST, FashionMNIST, "FashionMNIST/raw"),
    "cifar10": (CIFAR10, UncheckedCIFAR10, CIFAR10.base_folder),
    "cifar100": (CIFAR100, UncheckedCIFAR100, CIFAR100.base_folder),
}


# How torchvision's MNIST and CIFAR begin the RuntimeErrors they raise when files are absent or a
# download failed; any other RuntimeError comes from reading files that are there.
_TORCHVISION_MISSING = ("Dataset ", "Error downloading")


def _open(dataset: DatasetConfig, root: Path, train: bool) -> Dataset:
    """One split as (PIL image, label) pairs; a missing or unreadable download becomes DatasetNotFound."""
    checked, unchecked, folder = _SETS[dataset.name]
    cls = checked if dataset.verify_checksums else unchecked
    try:
        return cls(str(root), train=train, download=dataset.download)
    except RuntimeError as err:
        if not str(err).startswith(_TORCHVISION_MISSING):  # e.g. MNIST reshaping a truncated IDX file
            raise _unreadable(dataset.name, root / folder, err) from err
        raise _not_found(dataset, root, folder, cls is not unchecked, err) from err
    except PermissionError as err:  # files there, but not this user's to read: a download would not help
        raise DatasetUnusable(
            f"{dataset.name} files under {root / folder}/ cannot be read ({one_line(err)}): give this user "
            "read access to them"
        ) from err
    except OSError as err:  # URLError when offline
        raise _not_found(dataset, root, folder, cls is not unchecked, err) from err
    # a truncated CIFAR file (md5 checks were off), or an MNIST file whose header torchvision asserts on
    except (pickle.UnpicklingError, EOFError, ValueError, AssertionError) as err:
        raise _unreadable(dataset.name, root / folder, err) from err


def _not_found(
    dataset: DatasetConfig, root: Path, folder: str, md5_checked: bool, err: Exception
) -> DatasetNotFound:
    """Absent files, or a failed download (with torchvision's reason); points at verify_checksums when an
    md5 check may be why."""
    reason = f"could not be downloaded ({one_line(err)})" if dataset.download else "dataset.download=false"
    if dataset.verify_checksums and md5_checked and (root / folder).is_dir():
        reason += (
            " (files that fail torchvision's md5 check count as missing: dataset.verify_checksums=false)"
        )
    return DatasetNotFound.at(dataset.name, root, f"{root / folder}/", reason, "paths.data_dir")


def _unreadable(name: str, folder: Path, err: Exception) -> DatasetUnusable:
    """Files that are there but cannot be read (truncated, damaged): only a fresh download helps."""
    return DatasetUnusable(
        f"{name} files under {folder}/ are unreadable ({one_line(err)}): delete them and download them again"
    )


def load_torchvision(dataset: DatasetConfig, paths: PathsConfig) -> Source:
    """torchvision's train and test sets under paths.data_dir, with a stratified validation split."""
    root = Path(paths.data_dir)
    full_train = _open(dataset, root, train=True)
    train, val, val_indices = split_off_val(
        full_train, np.asarray(full_train.targets), dataset.val_size, dataset.split_seed
    )
    mean, std = MEAN_STD[dataset.name]
    return Source(
        train=train,
        val=val,
        tests={"test": _open(dataset, root, train=False)},
        val_indices=val_indices,
        num_classes=len(full_train.classes),
        mean=mean,
        std=std,
        image_size=IMAGE_SHAPES[dataset.name][-1],
    )
