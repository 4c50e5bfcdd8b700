"""Flip, pad-crop and Cutout as batched tensor ops on the device that holds the images (airbench-style).

The semantics are the CPU pipeline's (transforms.train_transform), per sample: a random 32 x 32 window
of the image zero-padded by `augment.pad_crop` in uint8 (so the padding normalises to -mean/std, as
PIL's black border does), a horizontal mirror with probability 1/2, Normalize, then Cutout's square,
its centre uniform over the image and clipped at the borders, set to zero. Only the random draws
differ: they come from one generator per epoch, not from a seed per sample.
"""

from __future__ import annotations

from dataclasses import fields

import torch
from torch import Tensor

from seqnorm_repro.config import AugmentConfig, ConfigError

ON_DEVICE = ("flip", "pad_crop", "cutout")
# Applied elsewhere, so loader=gpu allows them: mixup by the trainer, eval_* by the evaluation loaders;
# randaugment_m is read only when randaugment_n > 0.
ELSEWHERE = ("mixup_alpha", "eval_resize", "eval_crop", "randaugment_m")


def check_supported(augment: AugmentConfig) -> None:
    """ConfigError for any training augmentation that is set and not implemented on the device."""
    defaults = AugmentConfig()
    for name in (f.name for f in fields(AugmentConfig)):
        value = getattr(augment, name)
        if name not in ON_DEVICE + ELSEWHERE and value != getattr(defaults, name):
            raise ConfigError(
                f"augment.{name}={value} is not implemented by dataset.loader=gpu (only "
                f"{', '.join(ON_DEVICE)}): use dataset.loader=cpu"
            )


class DeviceAugment:
    """The training augmentation of `augment` and the normalisation, on uint8 (N, C, H, W) images.

    `prepare` pads the whole set once; `draw` makes the random choices of `count` samples; calling the
    object gathers, augments and normalises one batch in a few kernels, with no host synchronisation.
    """

    def __init__(
        self,
        augment: AugmentConfig,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        image_size: int,
        device: torch.device | str,
    ) -> None:
        check_supported(augment)
        self.flip, self.pad, self.cutout = augment.flip, augment.pad_crop, augment.cutout
        self.size = image_size
        self.mean = torch.tensor(mean, device=device).view(-1, 1, 1)
        self.std = torch.tensor(std, device=device).view(-1, 1, 1)
        self.span = torch.arange(image_size, device=device)

    def prepare(self, images: Tensor) -> Tensor:
        """The uint8 (N, C, H, W) set zero-padded by pad_crop on every side: padded once, not per batch."""
        return torch.nn.functional.pad(images, (self.pad,) * 4)

    def draw(self, count: int, generator: torch.Generator) -> Tensor:
        """(count, 5) int64 choices: mirror (0/1), crop top, crop left, Cutout centre y, centre x.

        Every column is drawn whatever is switched on, so turning one augmentation off leaves the
        others' choices unchanged.
        """
        device = generator.device

        def uniform(high: int) -> Tensor:
            return torch.randint(high, (count,), generator=generator, device=device)

        offsets = 2 * self.pad + 1  # RandomCrop's top and left range over [0, 2 * pad]
        mirror = uniform(2) * int(self.flip)
        crop = [uniform(offsets), uniform(offsets)]
        return torch.stack([mirror, *crop, uniform(self.size), uniform(self.size)], dim=1)

    def __call__(self, prepared: Tensor, indices: Tensor, draws: Tensor) -> Tensor:
        """The normalised float32 (B, C, size, size) batch of samples `indices` of `prepared`, augmented
        by their rows of `draws`: crop and mirror are one gather from the padded uint8 set."""
        mirror, top, left, centre_y, centre_x = draws.unbind(1)
        span = self.span
        columns = torch.where(mirror[:, None].bool(), self.size - 1 - span, span)  # mirror: right to left
        rows = (top[:, None] + span)[:, None, :, None]  # (B, 1, size, 1)
        cols = (left[:, None] + columns)[:, None, None]  # (B, 1, 1, size)
        channels = torch.arange(prepared.shape[1], device=prepared.device)[None, :, None, None]
        images = prepared[indices[:, None, None, None], channels, rows, cols]  # (B, C, size, size)
        # ToDtype(scale=True) then Normalize, op for op, so unaugmented batches equal the CPU path's bitwise
        images = images.to(torch.float32).mul_(1.0 / 255).sub_(self.mean).div_(self.std)
        if self.cutout:
            return images.masked_fill_(self._square(centre_y, centre_x)[:, None], 0.0)
        return images

    def _square(self, centre_y: Tensor, centre_x: Tensor) -> Tensor:
        """(B, size, size) masks of Cutout's square per sample, clipped at the borders."""
        top, left = centre_y - self.cutout // 2, centre_x - self.cutout // 2
        span = self.span
        in_rows = (span >= top[:, None]) & (span < top[:, None] + self.cutout)
        in_cols = (span >= left[:, None]) & (span < left[:, None] + self.cutout)
        return in_rows[:, :, None] & in_cols[:, None, :]
