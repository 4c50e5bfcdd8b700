"""The probe's records: landscape.npz and the summary in results.json, across an interrupted run."""

import json

import numpy as np
import torch

from seqnorm_repro.landscape import LandscapeRecords, load_records
from seqnorm_repro.train import run


def test_records_survive_interrupt_and_resume(tmp_path, probe_config):
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    overrides = ["norm=ghostnorm"]
    run(probe_config(whole, overrides))
    run(probe_config(pieces, overrides), max_epochs=1)  # "interrupted" after epoch 1
    saved = torch.load(pieces / "checkpoints" / "last.pt", weights_only=True)["callbacks"][0]
    assert saved["steps"] == [0, 1, 2] and len(saved["losses"]) == 3
    assert not (pieces / "landscape.npz").exists()
    run(probe_config(pieces, overrides))
    expected, resumed = load_records(whole / "landscape.npz"), load_records(pieces / "landscape.npz")
    assert expected["step"].tolist() == list(range(6))
    assert expected["test_epoch"].tolist() == [1, 2]
    for key, value in expected.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_results_json_has_the_smoothness_summary(tmp_path, probe_config):
    run(probe_config(tmp_path, ["norm=batchnorm", "landscape.every=2"]))
    results = json.loads((tmp_path / "results.json").read_text())
    records = load_records(tmp_path / "landscape.npz")
    assert records["step"].tolist() == [0, 2, 4]  # every 2nd of 6 updates
    assert records["loss"].shape == records["eta"].shape == (3, 8)
    gap = records["max"] - records["min"]
    assert results["landscape_probes"] == 3 and results["landscape_nonfinite"] == 0
    assert results["landscape_gap_last25"] == gap[-1:].mean()  # the last 25% of 3 probes: the last one
    assert results["landscape_gap_mean"] == gap.mean() > 0
    final_error = 1 - results["test_acc"]["test"]
    assert records["test_error"][-1] == final_error


def test_a_diverged_probe_tops_the_band_and_is_counted():
    records = LandscapeRecords()
    for step, losses in enumerate([[1.0, 0.5, 2.0], [0.75, float("inf"), 0.25], [0.5, 0.125, float("nan")]]):
        records.add(step, 0.1, [0.1, 0.2, 0.3], torch.tensor(losses))
    data = records.arrays()
    np.testing.assert_array_equal(data["min"], [0.5, 0.25, 0.125])
    np.testing.assert_array_equal(data["max"], [2.0, np.inf, np.inf])
    summary = records.summary()
    assert summary["landscape_nonfinite"] == 2 and summary["landscape_gap_mean"] == 1.5


def test_each_epochs_test_error_is_of_the_weights_and_statistics_it_ended_with(tmp_path, probe_config):
    """Not measured at the next epoch's first update, whose forward pass has moved BatchNorm's statistics."""
    one_epoch = tmp_path / "one"
    run(probe_config(one_epoch, ["norm=batchnorm", "trainer.epochs=1"]))  # the same first epoch, then tested
    run(probe_config(tmp_path / "two", ["norm=batchnorm"]))
    error_after_one = 1 - json.loads((one_epoch / "results.json").read_text())["test_acc"]["test"]
    assert load_records(tmp_path / "two" / "landscape.npz")["test_error"][0] == error_after_one
