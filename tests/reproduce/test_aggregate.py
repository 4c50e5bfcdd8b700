"""The aggregator's arithmetic and its reporting of missing and failed runs (on hand-written results.json
files: this tests the table code, not any training)."""

import json
import statistics

import pytest

from seqnorm_repro.reproduce import aggregate
from seqnorm_repro.reproduce.sweep import expected_config, row_overrides, run_dir
from seqnorm_repro.reproduce.targets import Row, Target
from seqnorm_repro.tracking.run_files import config_hash

TARGET = Target(
    "demo",
    "Demo table",
    (
        Row("Complete", ("norm=batchnorm",), {"val": [80.0, 0.1], "test": [82.0, 0.2]}),
        Row("One failed", ("norm=ghostnorm", "gm=8"), {"val": [81.0, 0.1], "test": None}),
        Row("Never ran", ("norm=seqnorm",), {}),
        Row("Other config", ("norm=groupnorm",), {}),
    ),
    "cifar100",
)
IMAGENET = Target(
    "demo_imagenet", "Demo ImageNet table", (Row("BatchNorm", ("norm=batchnorm",), {}),), "imagenet"
)
V2 = ("imagenetv2-matched-frequency", "imagenetv2-threshold-0.7", "imagenetv2-top-images")


def _results(target, row, seed, runs, status="completed", val=None, tests=None, error=None, trained=()):
    """A results.json as the trainer writes it for `row` and `seed`, trained with the row's overrides and
    `trained`: its config and that config's hash."""
    directory = run_dir(runs, target, "paper", target.rows[row], seed)
    directory.mkdir(parents=True)
    overrides = [*row_overrides(target, "paper", target.rows[row], ()), f"seed={seed}", *trained]
    config = expected_config(overrides, directory)
    record = {"status": status, "final_val_acc": val, "test_acc": tests, "epochs_completed": 200,
              "hardware": "a GPU", "git_commit": "abc123", "config_hash": config_hash(config),
              "config": config}  # fmt: skip
    if error:
        record["error"] = error
    (directory / "results.json").write_text(json.dumps(record))
    return directory / "results.json"


@pytest.fixture
def rows(tmp_path):
    _results(TARGET, 0, 0, tmp_path, val=0.80, tests={"test": 0.82})
    _results(TARGET, 0, 1, tmp_path, val=0.82, tests={"test": 0.83})
    _results(TARGET, 1, 0, tmp_path, val=0.81, tests={"test": 0.825})
    _results(TARGET, 1, 1, tmp_path, status="failed", error="FloatingPointError('training loss is nan')")
    _results(TARGET, 3, 0, tmp_path, val=0.10, tests={"test": 0.10}, trained=["optim.lr=0.2"])
    return aggregate.collect(TARGET, "paper", [0, 1], tmp_path)


def test_mean_and_sample_std_over_seeds(rows):
    markdown, payload = aggregate.render(TARGET, "paper", [0, 1], rows, "make demo")
    complete = payload["rows"][0]
    assert complete["val"] == pytest.approx((81.0, statistics.stdev([80.0, 82.0])))
    assert (
        "| Complete | 81.00 ± 1.41 | 80.0 ± 0.1 | +1.00 | 82.50 ± 0.71 | 82.0 ± 0.2 | +0.50 | 200 | 2/2 |"
        in markdown
    )


def test_several_test_sets_are_averaged_over_seeds_then_summarised_over_sets(tmp_path):
    _results(IMAGENET, 0, 0, tmp_path, val=0.7, tests=dict(zip(V2, (0.70, 0.66, 0.74), strict=True)))
    _results(IMAGENET, 0, 1, tmp_path, val=0.7, tests=dict(zip(V2, (0.72, 0.66, 0.76), strict=True)))
    rows = aggregate.collect(IMAGENET, "paper", [0, 1], tmp_path)
    markdown, payload = aggregate.render(IMAGENET, "paper", [0, 1], rows, "make demo")
    assert payload["rows"][0]["test_values"] == pytest.approx([71.0, 66.0, 75.0])
    assert payload["rows"][0]["test"][0] == pytest.approx(70.6667, abs=1e-3)
    assert "\n## Missing or failed runs\n\nnone\n" in markdown


def test_a_missing_test_set_is_reported_not_hidden_in_the_mean(tmp_path):
    _results(IMAGENET, 0, 0, tmp_path, val=0.7, tests=dict(zip(V2[:2], (0.70, 0.66), strict=True)))
    _results(IMAGENET, 0, 1, tmp_path, val=0.7, tests=dict(zip(V2[:1], (0.72,), strict=True)))
    rows = aggregate.collect(IMAGENET, "paper", [0, 1], tmp_path)
    markdown, payload = aggregate.render(IMAGENET, "paper", [0, 1], rows, "make demo")
    assert payload["rows"][0]["test_values"] == pytest.approx([71.0, 66.0])
    assert "| 68.50 ± 3.54 (2 of 3 sets) |" in markdown
    assert "- BatchNorm, seed 0: no result on imagenetv2-top-images (the folder was absent)" in markdown
    assert "- BatchNorm, seed 1: no result on imagenetv2-threshold-0.7, imagenetv2-top-images" in markdown


def test_missing_and_failed_runs_are_listed_not_dropped(rows):
    markdown, payload = aggregate.render(TARGET, "paper", [0, 1], rows, "make demo")
    assert "| One failed | 81.00 (1 of 2 seeds) | 81.0 ± 0.1 | +0.00 | 82.50 (1 of 2 seeds) |" in markdown
    assert "- One failed, seed 1: failed: FloatingPointError('training loss is nan')" in markdown
    assert "- Never ran, seed 0: missing (not run yet)" in markdown
    assert "- Never ran, seed 1: missing (not run yet)" in markdown
    assert payload["rows"][2]["missing_seeds"] == [0, 1]
    assert "smoke run" not in markdown


def test_an_unreadable_results_file_is_listed_as_such_not_as_never_run(tmp_path):
    path = _results(TARGET, 0, 0, tmp_path, val=0.80, tests={"test": 0.82})
    path.write_text(path.read_text()[:40])  # cut short: a full disk, an editor
    rows = aggregate.collect(TARGET, "paper", [0], tmp_path)
    markdown, _ = aggregate.render(TARGET, "paper", [0], rows, "make demo")
    assert "- Complete, seed 0: its results.json is unreadable (cut short or edited)" in markdown


def test_a_run_completed_with_another_config_is_listed_not_averaged_in(rows):
    markdown, payload = aggregate.render(TARGET, "paper", [0, 1], rows, "make demo")
    assert payload["rows"][3]["completed_seeds"] == [] and payload["rows"][3]["val"] == (None, None)
    assert "| Other config | - |" in markdown
    changes = "(optim.lr 0.2 -> 0.4)"
    assert f"- Other config, seed 0: completed with another config {changes}" in markdown


def test_a_run_whose_recorded_settings_match_counts_whatever_hash_it_records(tmp_path):
    """A hash computed another way (an earlier version's) does not hide a run of the same settings."""
    path = _results(TARGET, 0, 0, tmp_path, val=0.80, tests={"test": 0.82})
    path.write_text(json.dumps({**json.loads(path.read_text()), "config_hash": "0123456789abcdef"}))
    assert aggregate.collect(TARGET, "paper", [0], tmp_path)[0].completed.keys() == {0}


def test_a_run_recording_only_another_hash_is_listed_with_both_hashes(tmp_path):
    path = _results(TARGET, 0, 0, tmp_path, val=0.80, tests={"test": 0.82})
    record = json.loads(path.read_text())
    del record["config"]
    path.write_text(json.dumps({**record, "config_hash": "0123456789abcdef"}))
    (row,) = aggregate.collect(TARGET, "paper", [0], tmp_path)[:1]
    assert row.failed[0].startswith(
        "completed with another config (config hash 0123456789abcdef; this config's"
    )


def test_smoke_tables_say_they_are_not_a_reproduction(rows):
    markdown, _ = aggregate.render(TARGET, "smoke", [0, 1], rows, "make demo SCALE=smoke")
    assert "smoke run: not a reproduction" in markdown.splitlines()[2]
    assert "preset with `trainer.epochs=1 " in markdown and "model.depth=10 model.widen_factor=1`" in markdown
