"""The sweep trains each run once, in the directory the table reads, and retrains a run of another config."""

import json

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seqnorm_repro.reproduce.sweep import _row_jobs, expected_config, is_done, row_overrides, run_dir
from seqnorm_repro.reproduce.targets import table1
from seqnorm_repro.tracking.provenance import REPO_ROOT
from seqnorm_repro.tracking.run_files import config_hash

TARGET = table1()
ROW = TARGET.rows[0]


def test_a_run_is_done_only_when_completed_with_this_config(tmp_path):
    overrides = [*row_overrides(TARGET, "paper", ROW, ()), "seed=0"]
    results = tmp_path / "results.json"
    assert not is_done(overrides, tmp_path)  # nothing there
    config = expected_config(overrides, tmp_path)
    other = expected_config([*overrides, "optim.lr=0.2"], tmp_path)
    for status, record, done in [
        ("completed", {"config_hash": config_hash(config)}, True),
        ("running", {"config_hash": config_hash(config)}, False),
        ("completed", {"config_hash": config_hash(other)}, False),  # other overrides: trained again
        ("completed", {"config_hash": config_hash(other), "config": other}, False),
        ("completed", {"config_hash": "0123456789abcdef", "config": config}, True),  # an earlier hash
    ]:
        results.write_text(json.dumps({"status": status, **record}))
        assert is_done(overrides, tmp_path) is done


def test_a_multirun_puts_each_seed_in_the_directory_the_table_reads(tmp_path):
    """Hydra resolves the row command's sweep dir and subdir per job: seed 5 must land in seed5/."""
    overrides = row_overrides(TARGET, "paper", ROW, ())
    (job,) = _row_jobs(TARGET, "paper", ROW, [2, 5], tmp_path, overrides, None, 1, one_per_seed=False)
    command = job.command
    job = [arg for arg in command[command.index("-m") + 1 :] if not arg.startswith("seed=")]
    assert "seed=2,5" in command
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*job, "seed=5"], return_hydra_config=True)
    sweep = OmegaConf.to_container(cfg.hydra.sweep, resolve=True)
    assert (sweep["dir"], sweep["subdir"]) == (
        str(run_dir(tmp_path, TARGET, "paper", ROW, 5).parent),
        "seed5",
    )
