"""Weights & Biases logging, offline unless logger.mode=online, so nothing needs an account.

One W&B run per training run (its id is kept in the run dir, so a resumed run, or one restarted before its
first epoch ended, continues the same W&B run; offline, its newest folder holds the whole run), grouped by
`logger.group` (under -m, train/runner.py makes it the sweep directory when unset); `finish()` always runs.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

from seqnorm_repro.config import ConfigError, LoggerConfig
from seqnorm_repro.errors import one_line
from seqnorm_repro.tracking.run_files import atomic_write_text

log = logging.getLogger(__name__)


class MetricsLogger:
    """What the trainer calls; the no-op base is `logger=none`."""

    def log(self, metrics: dict[str, float], step: int) -> None:
        pass

    def replay(self, history: list[dict[str, Any]]) -> None:
        """A resumed run's earlier epochs (metrics.jsonl's rows), for a logger that does not hold them."""

    def summarise(self, results: dict[str, Any]) -> None:
        pass

    def finish(self, failed: bool = False) -> None:
        pass


class WandbLogger(MetricsLogger):
    def __init__(
        self, cfg: LoggerConfig, run_dir: Path, name: str, config: dict, tags: list[str], same_run: bool
    ) -> None:
        """`same_run`: go on in the W&B run of wandb_id.txt (the run goes on from last.pt, or that W&B run
        logged no epoch); else start a new one, as W&B drops steps logged again at lower numbers."""
        import wandb  # imported here: `logger=none` runs never pay for it

        os.environ.setdefault("WANDB_SILENT", "true")
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if same_run and id_file.exists() else ""
        if not run_id:
            run_id = uuid.uuid4().hex[:12]
            atomic_write_text(id_file, run_id + "\n")
        try:
            self.run = wandb.init(
                project=cfg.project or None,  # an empty WANDB_PROJECT or WANDB_ENTITY: W&B's default
                entity=cfg.entity or None,
                group=cfg.group,
                name=name,
                tags=tags,
                config=config,
                dir=str(run_dir),
                mode=cfg.mode,
                id=run_id,
                resume="allow",
                reinit="create_new",
            )
        except wandb.errors.Error as err:  # online without an API key, W&B unreachable, a project refused
            raise ConfigError(
                f"logger.mode={cfg.mode}: W&B did not start ({one_line(err)}); check `wandb login` (or "
                "WANDB_API_KEY), logger.project and logger.entity, or log offline (logger.mode=offline)"
            ) from None
        if self.run.offline:  # run.dir is the run's files/ folder; wandb sync takes the one above
            log.info("W&B run %s offline; to upload it: wandb sync %s", run_id, Path(self.run.dir).parent)
        else:
            log.info("W&B run %s: %s", run_id, self.run.url)

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def replay(self, history: list[dict[str, Any]]) -> None:
        """Offline, each launch writes a folder of its own, and `wandb sync` does not join a resumed run's
        folders (wandb/wandb#3841): the newest one gets the earlier epochs too, so that it holds the whole
        run. Online, the server's run already has them."""
        if self.run.offline:
            for row in history:
                self.run.log(row, step=row["step"])

    def summarise(self, results: dict[str, Any]) -> None:
        self.run.summary.update(summary_values(results))

    def finish(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


def summary_values(results: dict[str, Any]) -> dict[str, Any]:
    """results.json's numbers and strings for the run's summary, nested ones as `key/inner` (the test sets'
    `test_acc/<set>`, as logged); not its config, which is the run's W&B config already."""
    flat: dict[str, Any] = {}
    for key, value in results.items():
        if isinstance(value, dict) and key != "config":
            flat.update({f"{key}/{k}": v for k, v in summary_values(value).items()})
        elif isinstance(value, int | float | str):
            flat[key] = value
    return flat


def make_logger(
    cfg: LoggerConfig, run_dir: Path, name: str, config: dict, tags: list[str], same_run: bool
) -> MetricsLogger:
    if cfg.name == "wandb" and cfg.mode != "disabled":
        return WandbLogger(cfg, run_dir, name, config, tags, same_run)
    return MetricsLogger()
