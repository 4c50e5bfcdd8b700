"""The real conf/ composed with Hydra's compose API, shrunk to a few updates of SimpleNet on mnist5k."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from seqnorm_repro.config import register_configs
from seqnorm_repro.tracking.provenance import REPO_ROOT

register_configs()
# 2 epochs of 3 updates of 64 digits: enough for a probe per update and a test error per epoch
SMALL = [
    "trainer.progress=false",
    "trainer.epochs=2",
    "trainer.batch_size=64",
    "trainer.limit_train_batches=3",
    "dataset.val_size=0",
    "gm=4",
]


@pytest.fixture
def probe_config():
    """compose(run_dir, overrides): SimpleNet on mnist5k with landscape=mnist, no W&B, in `run_dir`."""

    def compose_probe_config(run_dir: Path, overrides: list[str], landscape: str = "mnist"):
        with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
            overrides = [
                *SMALL,
                f"landscape={landscape}",
                *overrides,
                "logger=none",
                f"paths.output_dir={run_dir}",
            ]
            return compose("config", overrides=overrides)

    return compose_probe_config
