"""What a researcher fluent in Hydra tries: --resolve, sweeps over presets, hydra.job.chdir, launchers."""

import json
import subprocess
import sys

import pytest

from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.train.cli import _asks_for_a_sweep
from seqnorm_repro.train.distributed import DistEnv, launch_env

TINY = ["trainer.progress=false", "logger=none", "trainer.epochs=1", "trainer.limit_train_batches=1"]


def _train(*args: str, cwd=REPO_ROOT) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO_ROOT / "train.py"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_cfg_job_resolve_prints_the_config_without_a_run_directory():
    done = _train("--cfg", "job", "--resolve", "-p", "paths")
    assert done.returncode == 0, done.stderr
    assert "output_dir: null" in done.stdout


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ("experiment=[cifar100_wrn28_10,mnist_simplenet]", "each preset is a whole setup"),
        ("paths.output_dir=elsewhere", "set hydra.run.dir=elsewhere instead"),
    ],
)
def test_overrides_that_would_mislead_are_one_line_errors(override, error, tmp_path):
    done = _train(*TINY, override, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and error in errors[0]
    assert not (tmp_path / "elsewhere").exists() and not (REPO_ROOT / "elsewhere").exists()


@pytest.mark.slow  # two trainings in a subprocess; `make test-slow` and CI run it
def test_a_sweep_over_presets_is_one_sweep_directory(tmp_path):
    """hydra.sweep.dir named each job's own preset: the jobs landed in as many sweep folders."""
    done = _train("-m", *TINY, "name=first,second", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (sweep,) = (tmp_path / "multirun").iterdir()
    names = [json.loads((sweep / job / "results.json").read_text())["config"]["name"] for job in "01"]
    assert names == ["first", "second"]


@pytest.mark.slow  # a training in a subprocess
def test_relative_data_dir_is_where_the_command_ran_under_hydra_job_chdir(mnist_root, tmp_path):
    done = _train(
        *TINY, "dataset=mnist", "dataset.download=false", f"paths.data_dir={mnist_root.name}",
        "hydra.job.chdir=true", f"hydra.run.dir={tmp_path / 'run'}", cwd=mnist_root.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("args", [["-m"], ["--multi"], ["++hydra.mode=multirun"], ["hydra.mode=MULTIRUN"]])
def test_every_spelling_of_a_sweep_is_seen(args):
    assert _asks_for_a_sweep([*args, "gm=4,8"])
    assert not _asks_for_a_sweep(["--cfg", "job", "gm=4"])


def test_submitit_local_tasks_are_the_ranks(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUBMITIT_LOCAL_NTASKS", "2")
    monkeypatch.setenv("SUBMITIT_LOCAL_GLOBALID", "1")
    monkeypatch.setenv("SUBMITIT_LOCAL_LOCALID", "1")
    assert launch_env() == DistEnv(1, 1, 2)
