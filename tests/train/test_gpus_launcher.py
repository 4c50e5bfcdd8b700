"""`hydra/launcher=gpus`: a sweep's jobs side by side, each on its own GPU, in the job directories and with
the job numbers Hydra's basic launcher gives them; a failed job is reported with where its output is, and
a `kill` of the sweep reaches its jobs. (On this CPU machine the jobs train on the CPU:
CUDA_VISIBLE_DEVICES leaves it alone.)"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from seqnorm_repro.tracking.provenance import REPO_ROOT

TINY = ["trainer.progress=false", "logger=none", "trainer.epochs=1", "trainer.limit_train_batches=1"]
# The launcher chosen in a config file, as Hydra users do, rather than on the command line.
CONFIG = """
defaults:
  - config
  - override hydra/launcher: gpus
  - _self_
hydra:
  launcher:
    gpus: [0, 1]
"""


def _command(*args: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "train.py"), "-m", *args]


def _sweep(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), cwd=cwd, capture_output=True, text=True, timeout=600)


def test_jobs_run_as_the_basic_launcher_runs_them_and_a_failed_one_is_reported(tmp_path):
    (tmp_path / "gpus.yaml").write_text(CONFIG)
    # ${now:} resolves at another time in a job's process than in the launcher's, which places console.log
    subdir = "hydra.sweep.subdir=gm${gm}_${now:%H%M%S%f}"
    args = ["-cd", str(tmp_path), "-cn", "gpus", "hydra.job.chdir=true", subdir]
    done = _sweep(*args, *TINY, "norm=ghostnorm", "gm=2,3", cwd=tmp_path)
    assert done.returncode == 1  # gm=3 does not divide the batch of 128
    (sweep,) = (tmp_path / "multirun").iterdir()
    (gm2,), (gm3,) = (list(sweep.glob(f"gm{gm}_*")) for gm in (2, 3))
    assert f"exited with 1; its output is in {gm3.relative_to(tmp_path)}/console.log" in done.stderr
    assert "choose a gm that divides 128" in (gm3 / "console.log").read_text()
    assert json.loads((gm2 / "results.json").read_text())["status"] == "completed"
    for num, (gm, job_dir) in enumerate(
        [(2, gm2), (3, gm3)]
    ):  # the subdir resolved per job, the sweep's numbers, the user's overrides
        job = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert job["job"]["num"] == num and job["job"]["chdir"] and f"gm={gm}" in job["overrides"]["task"]
    assert "gm=2,3" in yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["overrides"]["task"]


@pytest.mark.parametrize(
    ("gpus", "error"),
    [
        ("[0,0]", "give 'all' or distinct GPU ids such as 0,1,2,3"),
        ("[]", "give 'all' or distinct GPU ids such as 0,1,2,3"),
        ("3", "give 'all' or a list of ids such as [0,1,2,3]"),
    ],
)
def test_gpus_that_cannot_work_are_one_line_errors(gpus, error, tmp_path):
    done = _sweep("hydra/launcher=gpus", f"hydra.launcher.gpus={gpus}", "gm=2,4", cwd=tmp_path)
    assert done.returncode == 1 and f"hydra.launcher.gpus={gpus.replace(',', ', ')}: {error}" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_launchers_own_job_number_is_not_for_setting(tmp_path):
    """Set on a sweep, it would run the first job alone under that number."""
    done = _sweep("hydra/launcher=gpus", "hydra.launcher.job_num=5", "gm=2,4", cwd=tmp_path)
    assert (
        done.returncode == 1 and "hydra.launcher.job_num is the launcher's own: leave it unset" in done.stderr
    )


# Ctrl-C in `make test`; SIGTERM (a scheduler's stop, the same path in the launcher) in `make test-slow`
SIGNALS = [
    pytest.param(signal.SIGTERM, marks=pytest.mark.slow, id="kill"),
    pytest.param(signal.SIGINT, id="kill -INT"),
]


@pytest.mark.parametrize("signum", SIGNALS)
def test_a_signal_to_the_sweep_alone_reaches_its_jobs(signum, tmp_path):
    command = _command(
        "hydra/launcher=gpus", "hydra.launcher.gpus=[0]", "trainer.progress=false", "logger=none"
    )
    sweep = subprocess.Popen(
        [*command, "trainer.epochs=100", "seed=0,1"], cwd=tmp_path, start_new_session=True
    )
    try:
        for _ in range(1200):  # the first job has trained an epoch
            if any(p.read_text().count("epoch 1/100") for p in tmp_path.glob("multirun/*/0/console.log")):
                break
            time.sleep(0.1)
        os.kill(sweep.pid, signum)
        assert sweep.wait(timeout=20) == 128 + signum  # not INTERRUPT_GRACE_S (30 s) later
    finally:
        with contextlib.suppress(ProcessLookupError):  # the sweep, and any job it left training
            os.killpg(sweep.pid, signal.SIGKILL)
    (results,) = tmp_path.glob("multirun/*/0/results.json")
    assert json.loads(results.read_text())["status"] == "interrupted"
    assert not list(tmp_path.glob("multirun/*/1"))  # the job waiting for the GPU never started
