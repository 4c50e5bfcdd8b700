"""A target end to end at SCALE=smoke: Hydra multirun sweeps, then the table; running it again trains
nothing. (CI runs the whole of `make reproduce-table1 SCALE=smoke` and `make tune-seqnorm SCALE=smoke`.)
Both tests take half a minute each on 2 cores: `slow`, run by `make test-slow` (and CI)."""

import json

import pytest

from seqnorm_repro.data import synthetic
from seqnorm_repro.reproduce import aggregate, cli
from seqnorm_repro.reproduce.scales import scale_overrides, write_smoke_data
from seqnorm_repro.reproduce.sweep import run_target
from seqnorm_repro.reproduce.targets import Target, table1


def _mini_table1(tmp_path, name: str, rows: int):
    """A target of Table 1's first `rows` rows, its smoke data written; (target, runs root, overrides)."""
    smoke_data = tmp_path / "smoke-data"
    write_smoke_data(smoke_data, "cifar100")
    target = Target(name, f"The first {rows} row(s) of Table 1", table1().rows[:rows], "cifar100")
    return target, tmp_path / "runs", scale_overrides("smoke", "cifar100", smoke_data)


@pytest.mark.slow
def test_two_rows_sweep_aggregate_and_skip_on_rerun(tmp_path):
    target, runs, extra = _mini_table1(tmp_path, "mini_table1", rows=2)
    assert run_target(target, "smoke", [0, 1], runs, extra, None) == {
        "batchnorm": [0, 1],
        "noisy_batchnorm": [0, 1],
    }
    rows = aggregate.collect(target, "smoke", [0, 1], runs, extra)
    markdown, payload = aggregate.render(target, "smoke", [0, 1], rows, "test")
    assert [row["completed_seeds"] for row in payload["rows"]] == [[0, 1], [0, 1]]
    assert "| BatchNorm |" in markdown and "80.6 ± 0.2" in markdown  # the paper's number beside ours
    assert "\n## Missing or failed runs\n\nnone\n" in markdown
    stamps = {p: p.stat().st_mtime_ns for p in runs.rglob("results.json")}
    assert run_target(target, "smoke", [0, 1], runs, extra, None) == {}  # nothing trained again
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("results.json")} == stamps


def test_cli_writes_tables_and_the_section_2_2_example(tmp_path):
    assert cli.main(["example", "--results", str(tmp_path)]) == 0
    example = json.loads((tmp_path / "example_section_2_2.json").read_text())
    assert example["ranking_kept"] == {"batchnorm": True, "ghostnorm_gm2": False}
    assert cli.main(["table1", "--scale", "smoke", "--aggregate-only", "--runs", str(tmp_path / "none"),
                           "--results", str(tmp_path)]) == 0  # fmt: skip
    table = (tmp_path / "table1.md").read_text()
    assert table.count("missing (not run yet)") == 28  # 14 rows x 2 seeds, listed, not dropped


@pytest.mark.slow
def test_torchrun_launcher_runs_each_seed_in_its_run_directory(tmp_path):
    target, runs, extra = _mini_table1(tmp_path, "mini_torchrun", rows=1)
    extra = (*extra, "trainer.batch_size=128")  # 64 per process
    assert run_target(target, "smoke", [0], runs, extra, "torchrun", processes=2) == {"batchnorm": [0]}
    results = json.loads(
        (runs / "mini_torchrun" / "smoke" / "batchnorm" / "seed0" / "results.json").read_text()
    )
    assert results["status"] == "completed" and results["norm_groups"]["world_size"] == 2
    assert run_target(target, "smoke", [0], runs, extra, "torchrun", processes=2) == {}


@pytest.mark.slow
def test_gpus_run_the_seeds_side_by_side_in_their_run_directories(tmp_path):
    """--gpus 0,1 on a machine without GPUs: the runs train on the CPU, as CUDA_VISIBLE_DEVICES leaves it."""
    target, runs, extra = _mini_table1(tmp_path, "mini_gpus", rows=1)
    assert run_target(target, "smoke", [0, 1], runs, extra, None, gpu_groups=["0", "1"]) == {
        "batchnorm": [0, 1]
    }
    for seed in (0, 1):
        directory = runs / "mini_gpus" / "smoke" / "batchnorm" / f"seed{seed}"
        assert json.loads((directory / "results.json").read_text())["status"] == "completed"
        assert "results: {'status': 'completed'" in (directory / "console.log").read_text()  # its own log
    assert run_target(target, "smoke", [0, 1], runs, extra, None, gpu_groups=["0", "1"]) == {}


@pytest.mark.parametrize("target", ["table1", "tune-imagenet"])
def test_a_missing_dataset_stops_a_target_before_any_run_in_one_line(tmp_path, monkeypatch, capsys, target):
    monkeypatch.setattr(cli, "run_target", _no_run)
    nowhere = tmp_path / "nowhere"
    args = [target, f"paths.data_dir={nowhere}", "dataset.download=false", "--runs", str(tmp_path)]
    assert cli.main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {target.replace('-', '_')}") and error.count("\n") == 1, error
    assert f"not found under {nowhere}" in error and "(SCALE=smoke runs offline)" in error


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ("trainer.epochs=-1", "trainer.epochs=-1 must be >= 1"),
        ("+trainer.foo=1", "trainer.foo: no such setting"),
        ("gm=2", "gm=2 would replace a setting its rows make themselves"),  # the GM=8 row would train gm=2
        ("norm.gc=3", "norm.gc=3 would replace"),
        ("seed=5", "seed=5 would replace"),  # --seeds sets them
    ],
)
def test_a_bad_override_stops_a_target_before_any_run_in_one_line(
    tmp_path, monkeypatch, capsys, override, error
):
    monkeypatch.setattr(cli, "run_target", _no_run)
    runs = ["--runs", str(tmp_path)]
    for args in (["table1", override, *runs], ["table1", *runs, override]):  # before or after the options
        assert cli.main(args) == 2
        message = capsys.readouterr().err
        assert message.startswith("error: table1: ") and error in message, message
        assert message.count("\n") == 1, message


def test_rows_whose_groups_the_torchrun_processes_cannot_hold_stop_before_any_run(
    tmp_path, monkeypatch, capsys
):
    """Smoke scale's batch of 64 keeps the paper's 64-sample BatchNorm on one process, not on two."""
    monkeypatch.setattr(cli, "run_target", _no_run)
    args = ["table2", "--scale", "smoke", "--launcher", "torchrun", "--nproc", "2", "--runs", str(tmp_path)]
    assert cli.main(args) == 2
    assert "cannot be split into groups of the paper's 64 samples" in capsys.readouterr().err


def test_table2_stops_on_missing_imagenet_before_training_cifar10(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run_target", _no_run)
    synthetic.write_cifar10(tmp_path)
    overrides = [f"paths.data_dir={tmp_path}", "dataset.download=false", "dataset.verify_checksums=false",
                 "dataset.val_size=100"]  # fmt: skip
    assert cli.main(["table2", *overrides, "--runs", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.startswith(f"error: table2_imagenet: imagenet not found under {tmp_path}")


def _no_run(*args):
    raise AssertionError("a run started although the dataset is missing")


def test_cli_fails_when_a_run_it_started_did_not_complete(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cannot_start", lambda *args, **kwargs: None)  # as if CIFAR-100 were in data/
    monkeypatch.setattr(cli, "run_target", lambda *args: {})  # as if every run stopped on a config error
    args = ["table1", "--seeds", "0", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]
    assert cli.main(args) == 1
    assert "error: 14 run(s) did not complete with this command's config" in capsys.readouterr().err
    assert (tmp_path / "table1.md").read_text().count("seed 0: stopped before training") == 14
    assert cli.main([*args, "--aggregate-only"]) == 0  # a report of the runs so far
