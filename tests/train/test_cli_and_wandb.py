"""`python train.py` as a user types it, and the offline W&B run it leaves."""

import builtins
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wandb
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write

from seqnorm_repro import launch
from seqnorm_repro.config import LoggerConfig, validate
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.wandb_logger import make_logger, summary_values
from seqnorm_repro.train import cli, run
from seqnorm_repro.train.cli import _quiet_other_ranks
from seqnorm_repro.train.runner import _grouped, _run_name, _warn_unread_gm_gc
from seqnorm_repro.train.trainer import Trainer


def _train(*overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "trainer.progress=false", *overrides]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_train_py_trains_and_writes_the_run_dir(tmp_path):
    done = _train("logger=none", "trainer.epochs=1", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"
    assert (tmp_path / ".hydra" / "config.yaml").exists()


def test_help_starts_with_what_to_type_then_lists_the_groups():
    command = [sys.executable, "train.py", "--help"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seqnorm-repro: GhostNorm, SeqNorm")
    assert "python train.py norm=seqnorm gc=4 gm=8" in done.stdout
    assert "norm: batchnorm, ghostnorm" in done.stdout  # Hydra's own part follows


def test_bad_config_is_one_line_and_exit_code_2(tmp_path):
    done = _train("logger=none", "norm=ghostnorm", "gm=7", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "gm=7 does not divide the per-device batch of 128" in errors[0]
    assert "Traceback" not in done.stderr


def test_a_diverged_run_is_one_line_exit_code_1_and_recorded_failed(tmp_path):
    diverging = ["norm=none", "optim.lr=10000", "trainer.epochs=1"]
    done = _train("logger=none", *diverging, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 1
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "training loss is nan in epoch 1: lower optim.lr" in errors[0]
    assert "Traceback" not in done.stderr
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "failed"


def test_a_bad_job_of_a_sweep_fails_alone(tmp_path):
    """Hydra's own rule: the other jobs still run, and the sweep exits non-zero at its end."""
    sweep = [
        "-m",
        "norm=ghostnorm",
        "gm=7,8",
        "logger=none",
        "trainer.epochs=1",
        "trainer.limit_train_batches=1",
        f"hydra.sweep.dir={tmp_path}",
    ]
    done = subprocess.run(
        [sys.executable, "train.py", *sweep], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0
    assert "[ERROR] - gm=7 does not divide the per-device batch of 128" in done.stdout + done.stderr
    assert not (tmp_path / "0" / "results.json").exists()
    assert json.loads((tmp_path / "1" / "results.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("sweep", ["-m", "hydra.mode=MULTIRUN"])
def test_a_sweep_under_torchrun_is_refused(sweep):
    torchrun_rank = {**os.environ, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2"}
    done = subprocess.run([sys.executable, "train.py", sweep, "gm=4,8"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=torchrun_rank)  # fmt: skip
    assert done.returncode == 1 and "would run the whole sweep on every rank" in done.stderr


def test_ctrl_c_while_hydra_starts_exits_130(monkeypatch):
    def starting_up() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_train", starting_up)
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 130


def test_ctrl_c_while_torch_imports_exits_130(monkeypatch):
    """train.py and seqnorm-train start in a module that imports no torch, to catch a Ctrl-C there."""
    importing = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "seqnorm_repro.train.cli":
            raise KeyboardInterrupt
        return importing(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "seqnorm_repro.train.cli")
    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as stopped:
        launch.main()
    assert stopped.value.code == 130


@pytest.mark.parametrize("module", ["numpy._core._multiarray_umath", "seqnorm_repro.train.runner"])
def test_ctrl_c_while_torch_or_the_trainer_imports_exits_130(module, tmp_path):
    """torch's C init imports numpy and swallows a KeyboardInterrupt raised meanwhile (the run went on);
    the trainer is imported inside Hydra's job, once the command line is parsed."""
    code = (
        "import sys\n"
        "class InterruptInNumpy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == '{module}':\n"
        "            sys.meta_path.remove(self)\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, InterruptInNumpy())\n"
        f"sys.argv = ['train.py', 'logger=none', 'trainer.epochs=1', 'hydra.run.dir={tmp_path}']\n"
        "from seqnorm_repro.launch import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, timeout=300)
    assert done.returncode == 130 and not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("args", [[], ["--cfg", "job"], ["--help"]])
def test_the_command_line_imports_no_torch_until_something_trains(args):
    """torch, torchvision and timm take seconds to import: --help and --cfg answer without them."""
    code = (
        f"import sys\nsys.argv = ['train.py', *{args}]\nfrom seqnorm_repro.launch import main\n"
        "if sys.argv[1:]:\n    main()\nsys.exit('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_other_ranks_keep_out_of_the_log_file(tmp_path):
    """Under the SLURM launcher Hydra gives every task the run directory's log file."""
    root, level = logging.getLogger(), logging.getLogger().level
    log_file = logging.FileHandler(tmp_path / "train.log")
    root.addHandler(log_file)
    try:
        _quiet_other_ranks()
        assert log_file not in root.handlers and root.level == logging.WARNING
    finally:
        root.removeHandler(log_file)
        root.setLevel(level)


def test_wandb_logs_offline_into_the_run_dir(tmp_path, run_config, caplog, monkeypatch):
    cfg = run_config(tmp_path, ["trainer.epochs=1"], logger="wandb")
    caplog.set_level(logging.INFO, logger="seqnorm_repro")
    configs = []  # what W&B is given: only the settings the run reads
    trainer_run = sys.modules["seqnorm_repro.train.runner"]
    monkeypatch.setattr(
        trainer_run, "make_logger", lambda *args: configs.append(args[3]) or make_logger(*args)
    )
    run(cfg)
    assert "gm" not in configs[0] and "depth" not in configs[0]["model"] and configs[0]["norm"]["name"]
    offline_runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert (tmp_path / "wandb_id.txt").read_text().strip() in offline_runs[0].name
    assert f"to upload it: wandb sync {offline_runs[0]}\n" in caplog.text


def test_the_wandb_summary_holds_results_json_nested_values_as_logged():
    results = {
        "status": "completed",
        "best_val_acc": 0.9,
        "final_val_acc": None,
        "test_acc": {"imagenetv2-top-images": 0.7, "imagenetv2-threshold0.7": 0.6},
        "norm_groups": {"world_size": 2, "layers": {"samples_per_group": 8}},
        "config": {"seed": 0},
    }
    assert summary_values(results) == {
        "status": "completed",
        "best_val_acc": 0.9,
        "test_acc/imagenetv2-top-images": 0.7,
        "test_acc/imagenetv2-threshold0.7": 0.6,
        "norm_groups/world_size": 2,
        "norm_groups/layers/samples_per_group": 8,
    }


def test_a_resumed_offline_wandb_run_logs_its_earlier_epochs_again(tmp_path, run_config, monkeypatch):
    """Each launch's offline folder is uploaded on its own: the newest one must hold every epoch."""
    run(run_config(tmp_path, [], logger="wandb"), max_epochs=1)
    steps = []
    log_to_wandb = wandb.sdk.wandb_run.Run.log
    monkeypatch.setattr(
        wandb.sdk.wandb_run.Run,
        "log",
        lambda self, row, step: steps.append(step) or log_to_wandb(self, row, step=step),
    )
    run(run_config(tmp_path, [], logger="wandb"))  # epoch 2 of 2, then the test set
    history = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [history[0], history[1], history[1]]
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2


def test_a_run_that_starts_over_starts_a_new_wandb_run(tmp_path, run_config):
    """Resuming goes on in the same W&B run; epoch 1 again, whose steps W&B would drop, gets a new one."""
    run(run_config(tmp_path, [], logger="wandb"), max_epochs=1)
    first = (tmp_path / "wandb_id.txt").read_text()
    run(run_config(tmp_path, [], logger="wandb"), max_epochs=1)  # epoch 2 of 2
    assert (tmp_path / "wandb_id.txt").read_text() == first
    run(run_config(tmp_path, ["trainer.resume=never"], logger="wandb"), max_epochs=1)
    assert (tmp_path / "wandb_id.txt").read_text() != first


def test_a_run_stopped_in_its_first_epoch_goes_on_in_the_same_wandb_run(tmp_path, run_config, monkeypatch):
    """That W&B run logged nothing (a preempted job's usual fate), so the dashboard keeps one run, not an
    empty one beside the real one."""
    train_epoch = Trainer._run_epoch

    def interrupted(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(run_config(tmp_path, [], logger="wandb"))
    first = (tmp_path / "wandb_id.txt").read_text()
    monkeypatch.setattr(Trainer, "_run_epoch", train_epoch)
    run(run_config(tmp_path, [], logger="wandb"), max_epochs=1)
    assert (tmp_path / "wandb_id.txt").read_text() == first
    assert all(first.strip() in folder.name for folder in (tmp_path / "wandb").glob("offline-run-*"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, signum):
    command = [sys.executable, "train.py", "trainer.progress=false", "logger=none", "trainer.epochs=1000"]
    command.append(f"hydra.run.dir={tmp_path}")
    log = tmp_path / "train.out"
    with log.open("w") as out:
        child = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 300
            while (_read(tmp_path / "results.json").get("epochs_completed") or 0) < 1:
                assert child.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            assert _read(tmp_path / "results.json")["status"] == "running"  # refreshed every epoch
            child.send_signal(signum)
            code = child.wait(timeout=120)
        finally:
            child.kill()
    output = log.read_text()
    assert code == 128 + signum, output
    assert "Traceback" not in output
    results = _read(tmp_path / "results.json")
    epochs = len((tmp_path / "metrics.jsonl").read_text().splitlines())
    assert results["status"] == "interrupted" and results["epochs_completed"] == epochs >= 1
    hint = f"run the same command with hydra.run.dir={tmp_path} to resume"  # its directory holds a time
    assert f"interrupted after {epochs} of 1000 epochs: {hint}" in output


def test_a_command_of_another_config_leaves_the_run_dir_and_its_wandb_run_as_they_were(tmp_path):
    """Hydra rewrites .hydra/ before the run starts: the refused command puts it back, starts no W&B run."""
    one_step = ("trainer.epochs=1", "trainer.limit_train_batches=1")
    assert _train(*one_step, f"hydra.run.dir={tmp_path}").returncode == 0
    records = {
        path: path.read_bytes()
        for path in tmp_path.rglob("*")
        if path.is_file() and "wandb" not in path.parts
    }
    offline_runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    refused = {"norm=ghostnorm": "was written by a different config", "gm=7": "gm=7 does not divide"}
    for override, error in refused.items():
        done = _train(*one_step, "norm=ghostnorm", override, f"hydra.run.dir={tmp_path}")
        assert done.returncode == 2 and error in done.stdout + done.stderr
        assert sorted((tmp_path / "wandb").glob("offline-run-*")) == offline_runs
        for path, content in records.items():
            assert path.name == "train.log" or path.read_bytes() == content, path  # the log tells


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:  # not yet written; write_json replaces the file whole, never half-written
        return {}


@pytest.mark.parametrize(
    ("overrides", "warnings"),
    [
        (["gm=7"], ["gm=7 is ignored: norm=batchnorm takes no gm"]),
        (["norm=groupnorm", "gm=2", "gc=2"], ["gm=2 is ignored: norm=groupnorm takes no gm"]),
        (["norm=seqnorm", "gm=2", "gc=2"], []),
        (["experiment=cifar100_wrn28_10", "norm=batchnorm", "gm=4"], ["gm=4 is ignored: norm=batchnorm"]),
        (["norm=ghostnorm", "gm=4", "norm.gm=16"], ["gm=4 is ignored: norm.gm=16 is given too"]),
        (["norm=ghostnorm", "gm=4", "norm.gm=4"], []),
    ],
)
def test_a_command_line_gm_or_gc_the_norm_does_not_read_is_a_warning(overrides, warnings, caplog, tmp_path):
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        hydra_cfg = compose("config", overrides=overrides, return_hydra_config=True)
        cfg = compose("config", overrides=[*overrides, f"paths.output_dir={tmp_path}"])
    with read_write(hydra_cfg):
        hydra_cfg.hydra.runtime.output_dir = str(tmp_path)  # as the Hydra app sets it
    hydra_config = HydraConfig.instance()
    hydra_config.set_config(hydra_cfg)
    try:
        _warn_unread_gm_gc(validate(cfg))
    finally:
        hydra_config.cfg = None
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == len(warnings)
    assert all(message.startswith(warning) for message, warning in zip(messages, warnings, strict=True))


@pytest.mark.parametrize(
    ("norm", "name"),
    [
        ("seqnorm", "cifar100_wrn28_10: gc=4,gm=8,norm=seqnorm,seed=1"),
        ("ghostnorm", "cifar100_wrn28_10: gm=8,norm=ghostnorm,seed=1"),  # takes no gc
        ("batchnorm", "cifar100_wrn28_10: norm=batchnorm,seed=1"),
    ],
)
def test_wandb_run_names_carry_the_overrides_that_tell_a_sweeps_runs_apart(norm, name):
    overrides = ["experiment=cifar100_wrn28_10", f"norm={norm}", "gc=4", "gm=8", "seed=1",
                 "logger.group=table1-paper", "paths.data_dir=/data"]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    hydra_config = HydraConfig.instance()
    hydra_config.set_config(cfg)
    try:
        assert _run_name(cfg.name, cfg.norm) == name
    finally:
        hydra_config.cfg = None  # as outside a Hydra app, for the tests after this one
    assert _run_name("cifar100_wrn28_10", cfg.norm) == "cifar100_wrn28_10"


def test_a_sweeps_wandb_runs_are_grouped_by_its_directory_unless_a_group_is_set(tmp_path):
    """However the sweep directory is spelled: the resume hint gives it absolute."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["hydra.sweep.dir=multirun/grid"], return_hydra_config=True)
    logger = LoggerConfig()
    hydra_config = HydraConfig.instance()
    spellings = {
        "multirun/grid": "multirun/grid",
        str(tmp_path / "multirun" / "grid"): "multirun/grid",
        "./multirun/../multirun/grid": "multirun/grid",
        "/elsewhere/grid": "/elsewhere/grid",  # outside where the command ran: absolute
        ".": tmp_path.name,  # where the command ran: its name
    }
    try:
        with read_write(cfg.hydra):
            cfg.hydra.runtime.cwd = str(tmp_path)
        for mode, expected in ((RunMode.RUN, None), (RunMode.MULTIRUN, "multirun/grid")):
            with read_write(cfg.hydra):
                cfg.hydra.mode = mode
            hydra_config.set_config(cfg)
            assert _grouped(logger).group == expected
        for spelled, expected in spellings.items():
            with read_write(cfg.hydra):
                cfg.hydra.sweep.dir = spelled
            hydra_config.set_config(cfg)
            assert _grouped(logger).group == expected, spelled
        assert _grouped(dataclasses.replace(logger, group="table1-paper")).group == "table1-paper"
    finally:
        hydra_config.cfg = None


@pytest.mark.parametrize("mode", ["disabled", "dryrun"])  # dryrun: W&B's older name for offline
def test_wandb_takes_its_defaults_from_wandbs_environment_variables(monkeypatch, mode):
    monkeypatch.setenv("WANDB_MODE", mode)
    monkeypatch.setenv("WANDB_PROJECT", "elsewhere")
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        logger = validate(compose("config", overrides=["paths.output_dir=/tmp/unused"])).logger
    assert (logger.mode, logger.project, logger.entity) == (mode, "elsewhere", None)


def test_online_wandb_without_an_api_key_is_one_line_and_exit_code_2(tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("WANDB_")}
    environment["HOME"] = str(tmp_path)  # no ~/.netrc: no key
    command = [sys.executable, "train.py", "trainer.progress=false", "logger.mode=online", "trainer.epochs=1"]
    done = subprocess.run(
        [*command, f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=600, env=environment,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "logger.mode=online: W&B did not start (" in errors[0], errors
    assert not (tmp_path / "run" / "results.json").exists()
    assert not (tmp_path / "run" / ".hydra" / "trained_with").exists()  # nothing trained: no record kept
