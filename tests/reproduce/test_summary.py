"""scripts/summarise.py on hand-written results.json files of a norm x gm grid (tables, not training)."""

import importlib.util
import json
from pathlib import Path

import pytest

from seqnorm_repro.reproduce.sweep import expected_config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "summarise.py"


def _summarise():
    spec = importlib.util.spec_from_file_location("summarise_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _write_run(directory: Path, overrides: list[str], status="completed", val=0.9, test=0.8, processes=1):
    directory.mkdir(parents=True)
    results = {
        "status": status,
        "epochs_completed": 2,
        "final_val_acc": val,
        "test_acc": {"test": test},
        "hardware": "a CPU",
        "git_commit": "abc123",
        "norm_groups": {"world_size": processes, "samples_per_group": {"GhostNorm": 64 // processes}},
        "config": expected_config(overrides, directory),
    }
    (directory / "results.json").write_text(json.dumps(results))


def test_a_grid_over_norms_gives_one_row_per_config_and_lists_what_it_left_out(tmp_path, capsys):
    sweep = tmp_path / "multirun"
    # the grid norm=batchnorm,ghostnorm gm=4,16 seed=0,1: BatchNorm reads no gm, so 2 of its 4 runs repeat
    for number, (norm, gm, seed, test) in enumerate(
        [
            ("batchnorm", 4, 0, 0.90),
            ("batchnorm", 4, 1, 0.92),
            ("batchnorm", 16, 0, 0.50),
            ("batchnorm", 16, 1, 0.50),
            ("ghostnorm", 4, 0, 0.80),
            ("ghostnorm", 4, 1, 0.84),
            ("ghostnorm", 16, 0, 0.70),
        ]
    ):
        _write_run(sweep / str(number), [f"norm={norm}", f"gm={gm}", f"seed={seed}"], test=test)
    _write_run(sweep / "7", ["norm=ghostnorm", "gm=16", "seed=1"], status="interrupted")
    (sweep / "8").mkdir()
    (sweep / "8" / "results.json").write_text('{"status": "compl')
    out = tmp_path / "summary.md"

    assert _summarise()([str(sweep), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert out.read_text() == table
    assert "| norm.name | norm.gm | seeds | val (final) | test: test |" in table  # no norm.impl column
    assert "| batchnorm | - | 0,1 | 90.00 ± 0.00 | 91.00 ± 1.41 |" in table
    assert "| ghostnorm | 4 | 0,1 | 90.00 ± 0.00 | 82.00 ± 2.83 |" in table
    assert "| ghostnorm | 16 | 0 | 90.00 | 70.00 |" in table
    assert table.index("| ghostnorm | 4 |") < table.index("| ghostnorm | 16 |")  # by value, not as text
    assert f"- {sweep / '2'}: the same config and seed as {sweep / '0'}" in table
    assert f"- {sweep / '7'}: interrupted (epochs completed: 2)" in table
    assert f"- {sweep / '8'}: results.json is unreadable" in table
    assert "- commits of the runs: abc123" in table


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    assert _summarise()([str(tmp_path / "absent")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert _summarise()([str(tmp_path)]) == 1
    assert f"no completed run under {tmp_path}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("runs", "header"),
    [
        (  # a quick check beside a full run: the column that says so stays
            [["norm=batchnorm"], ["norm=ghostnorm", "gm=4", "trainer.limit_train_batches=2"]],
            "| norm.name | norm.gm | trainer.limit_train_batches | seeds |",
        ),
        (
            [["optim.lr=0.1"], ["optim.lr=0.2", "trainer.grad_clip=1.0"]],
            "| optim.lr | trainer.grad_clip | seeds |",
        ),
        ([["experiment=cifar10_wrn28_10"], ["experiment=cifar100_wrn28_10"]], "| name | dataset.name |"),
    ],
)
def test_every_setting_that_differs_is_a_column(tmp_path, capsys, runs, header):
    for number, overrides in enumerate(runs):
        _write_run(tmp_path / str(number), overrides)
    assert _summarise()([str(tmp_path)]) == 0
    assert header in capsys.readouterr().out


def test_runs_on_other_process_counts_are_other_rows(tmp_path, capsys):
    """Without paper_device_batch, gm counts groups per device: the process count sets the group size."""
    for processes in (1, 4):
        _write_run(tmp_path / str(processes), ["norm=ghostnorm", "gm=4"], processes=processes)
    assert _summarise()([str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "| processes | samples per group | seeds |" in table
    assert '| 4 | {"GhostNorm": 16} | 0 |' in table and "Not counted\n\nnone" in table
