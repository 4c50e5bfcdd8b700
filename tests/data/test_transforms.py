"""Training and evaluation pipelines: shapes, Cutout's square, and deterministic evaluation."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

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


def test_randaugment_gets_num_ops_from_n_and_magnitude_from_m():
    transform = train_transform(AugmentConfig(randaugment_n=1, randaugment_m=14), (0.5,), (0.25,), 28)
    (randaugment,) = [step for step in transform.transforms if isinstance(step, v2.RandAugment)]
    assert (randaugment.num_ops, randaugment.magnitude) == (1, 14)


def test_pad_crop_pads_with_black():
    """Zero padding, as in the paper and the device loader: reflecting would copy the image's own pixels."""
    white = Image.fromarray(np.full((8, 8), 255, dtype=np.uint8))
    transform = train_transform(AugmentConfig(pad_crop=4), (0.5,), (0.25,), 8)
    black = (0 - 0.5) / 0.25
    outs = [transform(white) for _ in range(50)]
    assert all(((out == black) | (out == (1 - 0.5) / 0.25)).all() for out in outs)
    assert any((out == black).any() for out in outs)


def test_flip_mirrors_left_right_only():
    pixels = np.zeros((8, 8), dtype=np.uint8)
    pixels[:4, 0] = 255  # the top half of the first column: a row flip would move it down
    transform = train_transform(AugmentConfig(flip=True), (0.0,), (1.0,), 8)
    original = torch.from_numpy(pixels / 255).float()[None]
    flipped = []
    for _ in range(50):
        out = transform(Image.fromarray(pixels))
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))
        flipped.append(bool(out[0, 0, -1] == 1))
    assert any(flipped) and not all(flipped)


def test_eval_resize_sets_the_shorter_side_and_keeps_the_aspect():
    transform = eval_transform(AugmentConfig(eval_resize=32), (0.5,) * 3, (0.25,) * 3, 40)
    assert transform(RGB).shape == (3, 32, 39)  # 36 x 44 -> 32 x 39.1
