"""Run files are written whole, readable as a plain open() would leave them, and read back defensively."""

import os
import stat

import torch

from seqnorm_repro.tracking.run_files import read_json, write_json
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
