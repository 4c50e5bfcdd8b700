"""Run files are written whole, readable as a plain open() would leave them, and read back defensively;
the config hash tells runs that compute different things apart."""

import os
import stat

import pytest
import torch
from omegaconf import OmegaConf

from seqnorm_repro.config import compose_config
from seqnorm_repro.tracking.run_files import config_hash, read_json, record_mismatch, write_json
from seqnorm_repro.train.checkpoint import save_checkpoint


def test_run_files_get_the_mode_open_would_give_not_mkstemps_0600(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_json(tmp_path / "results.json", {"status": "completed"})
    save_checkpoint(tmp_path / "checkpoints" / "last.pt", {"model": {"w": torch.ones(1)}})
    for path in (tmp_path / "results.json", tmp_path / "checkpoints" / "last.pt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["checkpoints", "last.pt", "results.json"]


def test_read_json_takes_only_an_object(tmp_path):
    path = tmp_path / "results.json"
    assert read_json(path) is None
    for text in ("[]", "null", '{"status": "comp'):
        path.write_text(text)
        assert read_json(path) is None
    write_json(path, {"status": "completed"})
    assert read_json(path) == {"status": "completed"}


@pytest.mark.parametrize(
    ("overrides", "same"),
    [
        (["trainer.epochs=7"], False), (["seed=1"], False), (["dataset.split_seed=5"], False),
        (["optim.lr=0.3"], False), (["norm=ghostnorm"], False), (["norm.eps=1e-3"], False),
        (["trainer.progress=false"], True), (["logger=none"], True), (["trainer.resume=never"], True),
        (["dataset.num_workers=3"], True), (["paths.output_dir=/elsewhere"], True), (["tags=[a]"], True),
    ],
)  # fmt: skip
def test_the_config_hash_changes_with_what_a_run_computes_only(overrides, same):
    """A completed run is skipped when its hash matches: a shorter or other run must never match."""

    def digest(extra):
        cfg = compose_config(["paths.output_dir=/run", *extra])
        return config_hash(OmegaConf.to_container(cfg, resolve=True))

    assert (digest(overrides) == digest([])) is same


def _config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_config(["paths.output_dir=/run", *overrides]), resolve=True)


def test_a_setting_added_to_the_schema_unset_leaves_the_hash_of_earlier_runs():
    config = _config()
    record = {"config_hash": config_hash(config), "config": config}
    extended = {**config, "norm": {**config["norm"], "shrink": None}}
    assert config_hash(extended) == config_hash(config) and record_mismatch(record, extended) == ""
    set_later = {**config, "norm": {**config["norm"], "shrink": 0.5}}
    assert config_hash(set_later) != config_hash(config)
    assert record_mismatch(record, set_later) == "norm.shrink unset -> 0.5"


def test_a_record_matches_by_its_recorded_settings_compared_as_the_hash_sees_them():
    config = _config("trainer.epochs=3")
    assert record_mismatch({"config_hash": "an earlier hash", "config": config}, config) == ""
    as_float = {**config, "trainer": {**config["trainer"], "epochs": 3.0}}
    assert record_mismatch({"config": as_float}, config) == "trainer.epochs 3.0 -> 3"
    assert (
        record_mismatch({"config": _config("optim.lr=0.2", "seed=3")}, _config())
        == "optim.lr 0.2 -> 0.4, seed 3 -> 0"
    )
    many = record_mismatch({"config": _config("norm=ghostnorm", "gm=4", "optim.lr=0.2")}, config)
    assert many.startswith('gm 4 -> 8, norm.gm 4 -> unset, norm.impl "auto" -> unset,') and many.endswith(
        " and 2 more"
    )
    assert (
        record_mismatch({"config_hash": "0123"}, config)
        == f"config hash 0123; this config's is {config_hash(config)}"
    )


@pytest.mark.parametrize(
    ("overrides", "recorded"),
    [
        ([], "0ec0d2e1037d0fdc"),
        (["experiment=cifar100_wrn28_10", "norm=seqnorm", "gc=4"], "dfb1567fc959155f"),
    ],
)
def test_a_run_recorded_before_unset_settings_were_left_out_still_matches(overrides, recorded):
    """The hashes 51bdd92 (before f7b12c6) recorded for these configs, in results.json files without a
    config: such runs still count. A schema field added since, unset by default, makes this fail until
    it is listed in run_files._ADDED_SINCE_THE_EARLIER_HASH."""
    assert record_mismatch({"config_hash": recorded}, _config(*overrides)) == ""
    assert record_mismatch({"config_hash": recorded}, _config(*overrides, "seed=1")) != ""
