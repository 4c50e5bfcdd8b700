"""Run files are written whole, readable as a plain open() would leave them, and read back defensively;
the config hash tells runs that compute different things apart."""

import os
import stat

import pytest
import torch
from omegaconf import OmegaConf

from seqnorm_repro.config import compose_config
from seqnorm_repro.tracking.run_files import config_changes, config_hash, read_json, write_json
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


def test_a_setting_added_to_the_schema_unset_leaves_the_hash_of_earlier_runs():
    config = OmegaConf.to_container(compose_config(["paths.output_dir=/run"]), resolve=True)
    extended = {**config, "norm": {**config["norm"], "shrink": None}}
    assert config_hash(extended) == config_hash(config) and config_changes(config, extended) == ""
    set_later = {**config, "norm": {**config["norm"], "shrink": 0.5}}
    assert config_changes(config, set_later) == "norm.shrink unset -> 0.5"
    assert config_hash(set_later) != config_hash(config)
