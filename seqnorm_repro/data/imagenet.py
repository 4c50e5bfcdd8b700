"""ImageNet as ImageFolder trees, with the three ImageNetV2 test sets beside them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from torchvision.datasets import ImageFolder

from seqnorm_repro.config import DatasetConfig, PathsConfig
from seqnorm_repro.data.errors import DatasetNotFound, DatasetUnusable
from seqnorm_repro.data.source import Source
from seqnorm_repro.data.stats import MEAN_STD

log = logging.getLogger(__name__)

# test-set key -> folder under paths.imagenet_dir
IMAGENET_V2 = {
    "imagenetv2-matched-frequency": "imagenetv2-matched-frequency-format-val",
    "imagenetv2-threshold-0.7": "imagenetv2-threshold0.7-format-val",
    "imagenetv2-top-images": "imagenetv2-top-images-format-val",
}


class ImageNetV2Folder(ImageFolder):
    """ImageNetV2's class folders are named by class index ("0".."999"): the label is int(folder name).

    ImageFolder would number them in string order ("0", "1", "10", "100", ...), mislabelling most images.
    """

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        names = [e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith(".")]
        if stray := sorted(name for name in names if not name.isdigit()):
            raise DatasetUnusable(
                f"{directory} holds folders that are not class indices ({', '.join(stray[:3])}): "
                "ImageNetV2's class folders are named 0..999; move the others away"
            )
        classes = sorted(names, key=int)
        return classes, {name: int(name) for name in classes}


def imagenet_folders(paths: PathsConfig) -> tuple[Path, Path]:
    """train/ and val/ under paths.imagenet_dir, or DatasetNotFound (without reading what they hold)."""
    root = Path(paths.imagenet_dir)
    train_dir, val_dir = root / "train", root / "val"
    if not (train_dir.is_dir() and val_dir.is_dir()):
        expected = f"{train_dir}/ and {val_dir}/, one folder of JPEGs per wnid"
        raise DatasetNotFound.at("imagenet", root, expected, "is never downloaded", "paths.imagenet_dir")
    return train_dir, val_dir


def load_imagenet(dataset: DatasetConfig, paths: PathsConfig) -> Source:
    """train/ for training, val/ for validation (dataset.val_size is not used), ImageNetV2 as the tests."""
    root = Path(paths.imagenet_dir)
    train_dir, val_dir = imagenet_folders(paths)
    train, val = ImageFolder(str(train_dir)), ImageFolder(str(val_dir))
    if val.classes != train.classes:
        differ = sorted(set(val.classes) ^ set(train.classes))
        raise DatasetUnusable(
            f"{val_dir} has {len(val.classes)} class folders and {train_dir} {len(train.classes)}, "
            f"{len(differ)} named in one only (e.g. {differ[0]}): val/ needs the same wnid folders "
            "(sort ImageNet's flat validation images into them)"
        )
    tests = {}
    for key, folder in IMAGENET_V2.items():
        if not (root / folder).is_dir():
            log.warning("ImageNetV2 test set %s not found at %s/: skipping it", key, root / folder)
            continue
        tests[key] = ImageNetV2Folder(str(root / folder))
        if max(tests[key].targets) >= len(train.classes):
            raise DatasetUnusable(
                f"{root / folder} has class folders beyond the {len(train.classes)} classes of train/"
            )
    mean, std = MEAN_STD["imagenet"]
    return Source(
        train=train,
        val=val,
        tests=tests,
        val_indices=[],
        num_classes=len(train.classes),
        mean=mean,
        std=std,
        image_size=None,
    )
