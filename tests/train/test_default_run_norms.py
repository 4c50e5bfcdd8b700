"""`python train.py norm=<each norm>` as a user types it: the default experiment learns with every norm.

Slow (about 30 s per norm on 2 cores): `make test-slow`, which CI runs after the fast suite.
"""

import json
import subprocess
import sys

import pytest

from seqnorm_repro.tracking.provenance import REPO_ROOT


@pytest.mark.slow
@pytest.mark.parametrize(
    "norm", [["norm=batchnorm"], ["norm=ghostnorm", "gm=8"], ["norm=seqnorm", "gc=4", "gm=8"], ["norm=none"]]
)
def test_default_experiment_reaches_85_percent_with_every_norm(norm, tmp_path):
    command = [
        sys.executable,
        "train.py",
        *norm,
        "logger=none",
        "trainer.progress=false",
        f"hydra.run.dir={tmp_path}",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "results.json").read_text())["test_acc"]["test"] >= 0.85
