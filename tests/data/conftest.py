"""build_data on the small on-disk datasets of tests/conftest.py."""

from collections.abc import Callable

import pytest

from seqnorm_repro.config import AugmentConfig, DatasetConfig, PathsConfig
from seqnorm_repro.data import DataBundle, build_data


@pytest.fixture
def make_bundle(request) -> Callable[..., DataBundle]:
    """make_bundle(name, augment=..., seed=..., batch_size=..., **DatasetConfig fields) -> DataBundle.

    Offline and in-process by default: download=false, num_workers=0, val_size=0, checksums off;
    `device` is where dataset.loader=gpu keeps the training set (cpu by default).
    """

    def make(
        name: str,
        *,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        batch_size: int = 16,
        eval_batch_size: int = 50,
        rank: int = 0,
        world_size: int = 1,
        device: str = "cpu",
        **fields,
    ) -> DataBundle:
        root = "unused" if name == "mnist5k" else str(request.getfixturevalue(f"{name}_root"))
        fields = {"download": False, "num_workers": 0, "val_size": 0, "verify_checksums": False} | fields
        return build_data(
            DatasetConfig(name=name, **fields),
            augment or AugmentConfig(),
            PathsConfig(data_dir=root, imagenet_dir=root),
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            seed=seed,
            rank=rank,
            world_size=world_size,
            device=device,
        )

    return make
