"""ImageNet: wnid folders for train/val, ImageNetV2 class folders that are the class index."""

import logging
import shutil
from pathlib import Path

import pytest

from seqnorm_repro.config import AugmentConfig, DatasetConfig, PathsConfig
from seqnorm_repro.data import DatasetNotFound, build_data
from seqnorm_repro.data.errors import DatasetUnusable

AUGMENT = AugmentConfig(random_resized_crop=32, eval_resize=36, eval_crop=32)


def test_imagenetv2_label_is_the_folder_number(make_bundle):
    bundle = make_bundle("imagenet", augment=AUGMENT)
    for key, loader in bundle.tests.items():
        folder_set = loader.dataset.dataset
        pairs = {(Path(path).parent.name, label) for path, label in folder_set.samples}
        assert all(int(folder) == label for folder, label in pairs), key
        assert ("10", 10) in pairs  # string order would have made it 2
        labels = [label for _, batch in loader for label in batch.tolist()]
        assert sorted(set(labels)) == list(range(12))


def test_imagenet_val_uses_the_wnid_order_of_train(make_bundle):
    bundle = make_bundle("imagenet", augment=AUGMENT)
    val = bundle.val.dataset.dataset
    assert val.classes == [f"n{i:08d}" for i in range(12)] == bundle.train.dataset.dataset.classes
    assert bundle.val_indices == []


def test_missing_imagenetv2_set_is_skipped_with_a_warning(imagenet_root, tmp_path, caplog):
    for folder in ("train", "val", "imagenetv2-top-images-format-val"):
        (tmp_path / folder).symlink_to(imagenet_root / folder)
    with caplog.at_level(logging.WARNING):
        bundle = build_data(
            DatasetConfig(name="imagenet", num_workers=0),
            AUGMENT,
            PathsConfig(imagenet_dir=str(tmp_path)),
            batch_size=8,
            eval_batch_size=8,
            seed=0,
        )
    assert list(bundle.tests) == ["imagenetv2-top-images"]
    assert bundle.val is not None
    assert "imagenetv2-matched-frequency not found" in caplog.text
    assert "imagenetv2-threshold-0.7 not found" in caplog.text


def test_imagenet_without_val_folder_is_not_found(imagenet_root, tmp_path):
    (tmp_path / "train").symlink_to(imagenet_root / "train")
    with pytest.raises(DatasetNotFound, match=r"expected .*/train/ and .*/val/"):
        build_data(
            DatasetConfig(name="imagenet"),
            AUGMENT,
            PathsConfig(imagenet_dir=str(tmp_path)),
            batch_size=8,
            eval_batch_size=8,
            seed=0,
        )


def _imagenet_copy(imagenet_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(imagenet_root, tmp_path / "imagenet", symlinks=True)
    return tmp_path / "imagenet"


def _build(root: Path) -> None:
    dataset = DatasetConfig(name="imagenet", num_workers=0)
    build_data(dataset, AUGMENT, PathsConfig(imagenet_dir=str(root)), batch_size=8, eval_batch_size=8, seed=0)


def test_imagenetv2_skips_hidden_folders_and_rejects_other_names(imagenet_root, tmp_path):
    root = _imagenet_copy(imagenet_root, tmp_path)
    v2 = root / "imagenetv2-top-images-format-val"
    (v2 / ".ipynb_checkpoints").mkdir()
    _build(root)
    (v2 / "extra").mkdir()
    with pytest.raises(DatasetUnusable, match=r"not class indices \(extra\): ImageNetV2's class folders"):
        _build(root)


def test_imagenet_val_missing_a_class_folder_is_one_line(imagenet_root, tmp_path):
    root = _imagenet_copy(imagenet_root, tmp_path)
    shutil.rmtree(root / "val" / "n00000003")
    with pytest.raises(
        DatasetUnusable,
        match=r"val has 11 class folders and .*train 12, 1 named in one only .*: val/ needs the same",
    ):
        _build(root)


def test_imagenetv2_folder_numbered_the_class_count_is_rejected(imagenet_root, tmp_path):
    """Label 12 of 12 classes would only fail at test time, deep in the loss."""
    root = _imagenet_copy(imagenet_root, tmp_path)
    v2 = root / "imagenetv2-matched-frequency-format-val"
    shutil.copytree(v2 / "11", v2 / "12")
    with pytest.raises(DatasetUnusable, match=r"has class folders beyond the 12 classes of train/"):
        _build(root)


def test_imagenet_val_with_a_wnid_not_in_train_is_one_line(imagenet_root, tmp_path):
    """Same count, other names: val/ labels would silently shift against train/'s."""
    root = _imagenet_copy(imagenet_root, tmp_path)
    (root / "val" / "n00000003").rename(root / "val" / "n99999999")
    with pytest.raises(
        DatasetUnusable, match=r"2 named in one only \(e.g. n00000003\): val/ needs the same wnid"
    ):
        _build(root)
