"""Shared test setup: deterministic seeds for every test, and small datasets in their real on-disk formats.

The dataset fixtures return a root directory to use as paths.data_dir (paths.imagenet_dir for
imagenet_root); the files are what torchvision and ImageFolder read in a full run, only smaller
(seqnorm_repro.data.synthetic writes them).
"""

from pathlib import Path

import pytest
import torch

from seqnorm_repro.data import synthetic


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    """<root>/MNIST/raw/ with 200 train and 100 test real digits, every class."""
    return synthetic.write_mnist(tmp_path_factory.mktemp("mnist"), "MNIST")


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory) -> Path:
    """<root>/FashionMNIST/raw/ in the same IDX format (digits standing in for clothes)."""
    return synthetic.write_mnist(tmp_path_factory.mktemp("fashion_mnist"), "FashionMNIST")


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory) -> Path:
    """<root>/cifar-10-batches-py/: 5 training batches of 40 and a test batch of 100, every class in each.

    Real CIFAR pickles in layout, not in md5: load them with dataset.verify_checksums=false.
    """
    return synthetic.write_cifar10(tmp_path_factory.mktemp("cifar10"))


@pytest.fixture(scope="session")
def cifar100_root(tmp_path_factory) -> Path:
    """<root>/cifar-100-python/: 300 training images (3 per class) and 100 test images (1 per class)."""
    return synthetic.write_cifar100(tmp_path_factory.mktemp("cifar100"))


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory) -> Path:
    """<root>/train/ (4 JPEGs per class) and <root>/val/ (2 per class) with 12 wnid folders "n00000000"..,
    and the three ImageNetV2 trees (2 per class) with class folders "0".."11" that are the class index."""
    return synthetic.write_imagenet(tmp_path_factory.mktemp("imagenet"), classes=12)
