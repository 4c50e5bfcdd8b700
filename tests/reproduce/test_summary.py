"""scripts/summarise.py on hand-written results.json files of a norm x gm grid (tables, not training)."""

import importlib.util
import json
from pathlib import Path

from seqnorm_repro.reproduce.sweep import expected_config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "summarise.py"


def _summarise():
    spec = importlib.util.spec_from_file_location("summarise_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _write_run(directory: Path, overrides: list[str], status="completed", val=0.9, test=0.8) -> None:
    directory.mkdir(parents=True)
    results = {
        "status": status,
        "epochs_completed": 2,
        "final_val_acc": val,
        "test_acc": {"test": test},
        "hardware": "a CPU",
        "git_commit": "abc123",
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
    assert f"- {sweep / '7'}: interrupted after 2 epochs" in table
    assert f"- {sweep / '8'}: results.json is unreadable" in table
    assert "- commits of the runs: abc123" in table


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    assert _summarise()([str(tmp_path / "absent")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert _summarise()([str(tmp_path)]) == 1
    assert f"no completed run under {tmp_path}" in capsys.readouterr().err
