"""`python train.py` as a user types it, and the offline W&B run it leaves."""

import json
import subprocess
import sys

from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train import run


def _train(*overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "trainer.progress=false", *overrides]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_train_py_trains_and_writes_the_run_dir(tmp_path):
    done = _train("logger=none", "trainer.epochs=1", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"
    assert (tmp_path / ".hydra" / "config.yaml").exists()


def test_bad_config_is_one_line_and_exit_code_2(tmp_path):
    done = _train("logger=none", "norm=ghostnorm", "gm=7", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "gm=7 does not divide the per-device batch of 128" in errors[0]
    assert "Traceback" not in done.stderr


def test_wandb_logs_offline_into_the_run_dir(tmp_path, run_config):
    cfg = run_config(tmp_path, ["trainer.epochs=1"], logger="wandb")
    run(cfg)
    offline_runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert (tmp_path / "wandb_id.txt").read_text().strip() in offline_runs[0].name
