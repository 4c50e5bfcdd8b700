"""SCALE=paper runs each preset as the paper did; SCALE=smoke runs every row on tiny data for one
step, to prove the sweep-to-table pipeline end to end in minutes (its tables say so)."""

from __future__ import annotations

from pathlib import Path

from seqnorm_repro.data import synthetic

SCALES = ("paper", "smoke")
_SMOKE_COMMON = (
    "trainer.epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.eval_batch_size=100",
    "dataset.num_workers=0",
    "logger=none",
    "trainer.progress=false",
    "trainer.amp=none",
)
# Tiny files in the real formats; batch 64 keeps the paper's 64-sample BatchNorm groups; WRN-10-1
# stands in for WRN-28-10 (the same code, 0.08M instead of 36.5M parameters).
_SMOKE_CIFAR = (
    "trainer.batch_size=64",
    "dataset.val_size=100",
    "dataset.verify_checksums=false",
    "model.depth=10",
    "model.widen_factor=1",
)
_SMOKE_DATA = {
    "cifar10": _SMOKE_CIFAR,
    "cifar100": _SMOKE_CIFAR,
    "imagenet": (
        "trainer.batch_size=256",
        "augment.random_resized_crop=32",
        "augment.eval_resize=36",
        "augment.eval_crop=32",
    ),
}


def scale_overrides(scale: str, dataset: str, smoke_root: Path) -> tuple[str, ...]:
    """Overrides appended to every run of a target at this scale."""
    if scale == "paper":
        return ()
    paths = (
        f"paths.imagenet_dir={smoke_root / 'imagenet'}"
        if dataset == "imagenet"
        else f"paths.data_dir={smoke_root}"
    )
    return (*smoke_changes(dataset), paths)


def smoke_changes(dataset: str) -> tuple[str, ...]:
    """What a smoke run changes in the paper's preset, besides where its data is: its tables print them,
    since their titles name the paper's setup."""
    return (*_SMOKE_COMMON, *_SMOKE_DATA[dataset])


def write_smoke_data(smoke_root: Path, dataset: str) -> None:
    """The tiny dataset a smoke target reads, written once."""
    marker = smoke_root / f".{dataset}-written"
    if marker.exists():
        return
    if dataset == "cifar10":
        synthetic.write_cifar10(smoke_root)
    elif dataset == "cifar100":
        synthetic.write_cifar100(smoke_root)
    else:  # 24 images per class: one 256-image step keeps ImageNet's 256-sample BatchNorm groups
        synthetic.write_imagenet(smoke_root / "imagenet", classes=12, train_per_class=24)
    marker.touch()
