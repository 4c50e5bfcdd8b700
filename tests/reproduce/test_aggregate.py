"""The aggregator's arithmetic and its reporting of missing and failed runs (on hand-written results.json
files: this tests the table code, not any training)."""

import json
import statistics

import pytest

from seqnorm_repro.reproduce import aggregate
from seqnorm_repro.reproduce.sweep import run_dir
from seqnorm_repro.reproduce.targets import Row, Target

TARGET = Target(
    "demo",
    "Demo table",
    (
        Row("Complete", ("norm=batchnorm",), {"val": [80.0, 0.1], "test": [82.0, 0.2]}),
        Row("One failed", ("norm=ghostnorm", "gm=8"), {"val": [81.0, 0.1], "test": None}),
        Row("Never ran", ("norm=seqnorm",), {}),
        Row("Three test sets", ("norm=batchnorm", "gm=2"), {}),
    ),
    "cifar100",
)


def _results(directory, status="completed", val=None, tests=None, error=None):
    directory.mkdir(parents=True)
    record = {"status": status, "final_val_acc": val, "test_acc": tests, "epochs_completed": 200,
              "hardware": "a GPU", "git_commit": "abc123"}  # fmt: skip
    if error:
        record["error"] = error
    (directory / "results.json").write_text(json.dumps(record))


@pytest.fixture
def rows(tmp_path):
    def at(row, seed):
        return run_dir(tmp_path, TARGET, "paper", TARGET.rows[row], seed)

    _results(at(0, 0), val=0.80, tests={"test": 0.82})
    _results(at(0, 1), val=0.82, tests={"test": 0.83})
    _results(at(1, 0), val=0.81, tests={"test": 0.825})
    _results(at(1, 1), status="failed", error="FloatingPointError('training loss is nan')")
    v2 = ("matched-frequency", "threshold-0.7", "top-images")
    _results(at(3, 0), val=0.7, tests={name: acc for name, acc in zip(v2, (0.70, 0.66, 0.74), strict=True)})
    _results(at(3, 1), val=0.7, tests={name: acc for name, acc in zip(v2, (0.72, 0.66, 0.76), strict=True)})
    return aggregate.collect(TARGET, "paper", [0, 1], tmp_path)


def test_mean_and_sample_std_over_seeds(rows):
    markdown, payload = aggregate.render(TARGET, "paper", [0, 1], rows, "make demo")
    complete = payload["rows"][0]
    assert complete["val"] == pytest.approx((81.0, statistics.stdev([80.0, 82.0])))
    assert (
        "| Complete | 81.00 ± 1.41 | 80.0 ± 0.1 | +1.00 | 82.50 ± 0.71 | 82.0 ± 0.2 | +0.50 | 200 | 2/2 |"
        in markdown
    )


def test_several_test_sets_are_averaged_over_seeds_then_summarised_over_sets(rows):
    _, payload = aggregate.render(TARGET, "paper", [0, 1], rows, "make demo")
    assert payload["rows"][3]["test_values"] == pytest.approx([71.0, 66.0, 75.0])
    assert payload["rows"][3]["test"][0] == pytest.approx(70.6667, abs=1e-3)


def test_missing_and_failed_runs_are_listed_not_dropped(rows):
    markdown, payload = aggregate.render(TARGET, "paper", [0, 1], rows, "make demo")
    assert "| One failed | 81.00 (1 of 2) |" in markdown
    assert "- One failed, seed 1: failed: FloatingPointError('training loss is nan')" in markdown
    assert "- Never ran, seed 0: missing (not run yet)" in markdown
    assert "- Never ran, seed 1: missing (not run yet)" in markdown
    assert payload["rows"][2]["missing_seeds"] == [0, 1]
    assert "smoke run" not in markdown


def test_smoke_tables_say_they_are_not_a_reproduction(rows):
    markdown, _ = aggregate.render(TARGET, "smoke", [0, 1], rows, "make demo SCALE=smoke")
    assert "smoke run: not a reproduction" in markdown.splitlines()[2]
