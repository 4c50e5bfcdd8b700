"""The real conf/, composed with Hydra's compose API and shrunk to seconds for trainer tests."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from seqnorm_repro.config import register_configs
from seqnorm_repro.tracking.provenance import REPO_ROOT

register_configs()
FAST = ["trainer.progress=false", "trainer.epochs=2", "trainer.batch_size=256"]


@pytest.fixture
def run_config():
    """compose(run_dir, overrides, logger="none"): two epochs, batch 256, no W&B unless asked."""

    def compose_run_config(run_dir: Path, overrides: list[str], logger: str = "none"):
        with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
            overrides = [*FAST, *overrides, f"logger={logger}", f"paths.output_dir={run_dir}"]
            return compose("config", overrides=overrides)

    return compose_run_config
