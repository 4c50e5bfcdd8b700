"""Training and evaluation pipelines: shapes, Cutout's square, and deterministic evaluation."""

import numpy as np
import pytest
import torch
from PIL import Image

from seqnorm_repro.config import AugmentConfig, ConfigError
from seqnorm_repro.data.stats import MEAN_STD
from seqnorm_repro.data.transforms import Cutout, eval_transform, train_transform


def test_cutout_zeroes_exactly_one_square_clipped_at_the_borders():
    sides = set()
    for _ in range(300):
        out = Cutout(4)(torch.ones(3, 10, 10))
        zero = out == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])  # all channels alike
        rows, cols = zero[0].any(dim=1).nonzero().flatten(), zero[0].any(dim=0).nonzero().flatten()
        square = torch.zeros(10, 10, dtype=torch.bool)
        square[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert torch.equal(zero[0], square)  # one solid rectangle, the rest untouched
        assert (out[~zero] == 1).all()
        sides |= {len(rows), len(cols)}
    assert sides == {2, 3, 4}  # a centre at the edge clips a side of 4 down to 2


def test_cutout_leaves_its_input_alone():
    image = torch.ones(1, 8, 8)
    Cutout(4)(image)
    assert (image == 1).all()


GREY = Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8))
RGB = Image.fromarray(np.random.default_rng(0).integers(0, 256, (36, 44, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("image", "size", "augment", "shape"),
    [
        (GREY, 28, AugmentConfig(pad_crop=4, flip=True), (1, 28, 28)),
        (GREY, 28, AugmentConfig(randaugment_n=2, randaugment_m=9, pad_crop=4, cutout=8), (1, 28, 28)),
        (RGB, None, AugmentConfig(randaugment_n=2, random_resized_crop=24, flip=True, cutout=8), (3, 24, 24)),
        (RGB, None, AugmentConfig(random_resized_crop=24, pad_crop=2), (3, 24, 24)),
    ],
)
def test_training_pipelines_keep_the_shape(image, size, augment, shape):
    channels = shape[0]
    transform = train_transform(augment, (0.5,) * channels, (0.25,) * channels, size)
    for _ in range(20):
        out = transform(image)
        assert type(out) is torch.Tensor
        assert out.shape == shape and out.dtype == torch.float32


def test_eval_pipeline_resizes_centre_crops_and_normalises():
    transform = eval_transform(AugmentConfig(eval_resize=32, eval_crop=24), (0.5,) * 3, (0.25,) * 3, None)
    out = transform(RGB)
    assert out.shape == (3, 24, 24)
    assert torch.equal(out, transform(RGB))


def test_images_of_different_sizes_need_a_crop():
    with pytest.raises(ConfigError, match=r"augment\.random_resized_crop"):
        train_transform(AugmentConfig(), (0.5,), (0.25,), None)
    with pytest.raises(ConfigError, match=r"augment\.eval_crop"):
        eval_transform(AugmentConfig(eval_resize=256), (0.5,), (0.25,), None)


def test_validation_uses_the_deterministic_eval_transform(make_bundle, cifar10_root):
    augment = AugmentConfig(flip=True, pad_crop=4, cutout=16, randaugment_n=2)
    bundle = make_bundle("cifar10", augment=augment, val_size=20)
    first = torch.cat([images for images, _ in bundle.val])
    assert torch.equal(first, torch.cat([images for images, _ in bundle.val]))
    raw = np.concatenate([bundle.val.dataset.dataset.dataset.data])[bundle.val_indices]  # (N, H, W, C)
    mean, std = (torch.tensor(values).view(1, 3, 1, 1) for values in MEAN_STD["cifar10"])
    expected = (torch.from_numpy(raw).permute(0, 3, 1, 2) / 255 - mean) / std
    torch.testing.assert_close(first, expected)
