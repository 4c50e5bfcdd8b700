"""Flip, pad-crop and Cutout on the device: the CPU pipeline's semantics, exactly and in distribution."""

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from seqnorm_repro.config import AugmentConfig, ConfigError
from seqnorm_repro.data.device_augment import DeviceAugment
from seqnorm_repro.data.stats import MEAN_STD
from seqnorm_repro.data.transforms import Cutout

MEAN, STD = MEAN_STD["cifar10"]
BORDER = TF.normalize(torch.zeros(3, 1, 1), MEAN, STD)  # a black pixel, normalised


def _augment(**fields) -> DeviceAugment:
    return DeviceAugment(AugmentConfig(**fields), MEAN, STD, 32, "cpu")


def _batches(make_bundle, augment: AugmentConfig, epochs=3):
    """(augmented, clean) image pairs over `epochs` of the 180 synthetic CIFAR training images."""

    def loaders(augment):
        return make_bundle("cifar10", augment=augment, val_size=20, batch_size=30, loader="gpu")

    augmented, clean = loaders(augment), loaders(AugmentConfig())
    for epoch in range(epochs):
        augmented.set_epoch(epoch)
        clean.set_epoch(epoch)  # the order does not depend on the augmentation
        for (images, _), (plain, _) in zip(augmented.train, clean.train, strict=True):
            yield from zip(images, plain, strict=True)


def _cpu_pipeline(image, mirror, top, left, cutout_seed, pad, cutout):
    """torchvision's pad, crop and flip on the uint8 image, ToDtype and Normalize, then the CPU path's
    Cutout, its centre drawn from the global RNG seeded with `cutout_seed`."""
    out = TF.crop(TF.pad(image, [pad], fill=0), top, left, 32, 32)
    out = TF.horizontal_flip(out) if mirror else out
    out = TF.normalize(TF.to_dtype(out, torch.float32, scale=True), MEAN, STD)
    torch.manual_seed(cutout_seed)
    return Cutout(cutout)(out)


def _cutout_centre(seed: int) -> list[int]:
    torch.manual_seed(seed)
    return [int(torch.randint(32, ())), int(torch.randint(32, ()))]  # Cutout.forward's two draws


def test_batches_equal_the_cpu_transforms_applied_with_the_same_choices():
    augment = _augment(flip=True, pad_crop=4, cutout=16)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    draws = augment.draw(64, torch.Generator().manual_seed(1))
    draws[:4, 1:3] = torch.tensor([[0, 0], [8, 8], [0, 8], [8, 0]])  # the four extreme windows
    draws[:, 3:] = torch.tensor([_cutout_centre(seed) for seed in range(64)])  # the centres Cutout draws
    assert ((draws[:, 3:] < 8) | (draws[:, 3:] >= 24)).any(1).sum() > 32  # many squares clipped
    out = augment(augment.prepare(images), torch.arange(64), draws)
    for seed, (image, row, got) in enumerate(zip(images, draws.tolist(), out, strict=True)):
        assert torch.equal(got, _cpu_pipeline(image, *row[:3], cutout_seed=seed, pad=4, cutout=16))


def test_draws_are_uniform_over_their_ranges():
    draws = _augment(flip=True, pad_crop=4, cutout=16).draw(20_000, torch.Generator().manual_seed(0))
    for column, values in [(0, 2), (1, 9), (2, 9), (3, 32), (4, 32)]:
        counts = torch.bincount(draws[:, column], minlength=values)
        assert len(counts) == values
        assert (counts - 20_000 / values).abs().max() < 0.2 * 20_000 / values  # > 5 standard deviations
    assert not _augment(pad_crop=4).draw(100, torch.Generator())[:, 0].any()  # flip off: never mirrored


def test_pad_crop_output_is_a_shifted_window_of_the_zero_padded_image(make_bundle):
    offsets = set()
    for image, plain in _batches(make_bundle, AugmentConfig(pad_crop=4)):
        padded = torch.cat([BORDER.expand(3, 32, 4), plain, BORDER.expand(3, 32, 4)], dim=2)
        padded = torch.cat([BORDER.expand(3, 4, 40), padded, BORDER.expand(3, 4, 40)], dim=1)
        windows = [
            (y, x)
            for y in range(9)
            for x in range(9)
            if torch.equal(padded[:, y : y + 32, x : x + 32], image)
        ]
        assert len(windows) == 1
        offsets |= set(windows)
    assert len(offsets) > 60  # of the 81 windows, over 540 crops
    assert {y for y, _ in offsets} == set(range(9)) == {x for _, x in offsets}


def test_flip_mirrors_about_half_of_the_images(make_bundle):
    mirrored = []
    for image, plain in _batches(make_bundle, AugmentConfig(flip=True)):
        assert torch.equal(image, plain) or torch.equal(image, plain.flip(-1))
        mirrored.append(not torch.equal(image, plain))
    assert 0.4 < sum(mirrored) / len(mirrored) < 0.6  # 540 images


def test_cutout_zeroes_one_clipped_square_per_sample(make_bundle):
    sides, area = set(), []
    for image, plain in _batches(make_bundle, AugmentConfig(cutout=16)):
        zero = image == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])  # every channel
        rows, cols = zero[0].any(1).nonzero().flatten(), zero[0].any(0).nonzero().flatten()
        square = torch.zeros(32, 32, dtype=torch.bool)
        square[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert torch.equal(zero[0], square)  # one solid rectangle
        assert torch.equal(image[:, ~square], plain[:, ~square])  # the rest untouched
        sides |= {len(rows), len(cols)}
        area.append(int(square.sum()))
    assert sides == set(range(8, 17))  # a centre at the edge clips a side of 16 down to 8
    # the mean area of a clipped square with a uniform centre: (sum over centres of the clipped side / 32)^2
    side = sum(min(c + 8, 32) - max(c - 8, 0) for c in range(32)) / 32
    assert abs(sum(area) / len(area) - side**2) < 0.1 * side**2


def test_augmentations_not_on_the_device_are_refused():
    with pytest.raises(
        ConfigError, match=r"augment.randaugment_n=2 is not implemented by dataset.loader=gpu"
    ):
        _augment(randaugment_n=2)
    with pytest.raises(ConfigError, match=r"augment.random_resized_crop=24 .*use dataset.loader=cpu"):
        _augment(random_resized_crop=24)
    _augment(mixup_alpha=0.2, randaugment_m=14)  # the trainer's mixup and an unused magnitude are fine
