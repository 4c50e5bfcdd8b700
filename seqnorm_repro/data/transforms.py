"""The training and evaluation image pipelines built from AugmentConfig, and Cutout."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from seqnorm_repro.config import AugmentConfig, ConfigError


class Cutout(nn.Module):
    """Zero one random `size` x `size` square of a (C, H, W) image (DeVries & Taylor 2017).

    The centre is uniform over the image and the square is clipped at the borders, so near an edge less
    than size x size pixels are zeroed. Applied after Normalize, zero is the dataset mean.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        centre_y = int(torch.randint(height, ()))
        centre_x = int(torch.randint(width, ()))
        top, left = centre_y - self.size // 2, centre_x - self.size // 2
        out = image.clone()
        out[..., max(top, 0) : max(top + self.size, 0), max(left, 0) : max(left + self.size, 0)] = 0
        return out

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _to_normalized_tensor(mean: tuple[float, ...], std: tuple[float, ...]) -> list[nn.Module]:
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean, std),
        v2.ToPureTensor(),
    ]


def train_transform(
    augment: AugmentConfig, mean: tuple[float, ...], std: tuple[float, ...], image_size: int | None
) -> v2.Compose:
    """PIL image -> augmented, normalised float tensor; `image_size` is None when images differ in size."""
    if augment.random_resized_crop:
        image_size = augment.random_resized_crop
    if image_size is None:
        raise ConfigError("this dataset's images differ in size: set augment.random_resized_crop (e.g. 224)")
    steps: list[nn.Module] = []
    if augment.randaugment_n:
        steps.append(v2.RandAugment(num_ops=augment.randaugment_n, magnitude=augment.randaugment_m))
    if augment.random_resized_crop:
        steps.append(v2.RandomResizedCrop(augment.random_resized_crop))
    if augment.pad_crop:
        steps.append(v2.RandomCrop(image_size, padding=augment.pad_crop))
    if augment.flip:
        steps.append(v2.RandomHorizontalFlip())
    steps += _to_normalized_tensor(mean, std)
    if augment.cutout:
        steps.append(Cutout(augment.cutout))
    return v2.Compose(steps)


def eval_transform(
    augment: AugmentConfig, mean: tuple[float, ...], std: tuple[float, ...], image_size: int | None
) -> v2.Compose:
    """PIL image -> normalised float tensor, deterministic; resize and centre-crop when configured."""
    if image_size is None and not augment.eval_crop:
        raise ConfigError("this dataset's images differ in size: set augment.eval_crop (e.g. 224)")
    steps: list[nn.Module] = []
    if augment.eval_resize:
        steps.append(v2.Resize(augment.eval_resize))
    if augment.eval_crop:
        steps.append(v2.CenterCrop(augment.eval_crop))
    return v2.Compose(steps + _to_normalized_tensor(mean, std))
