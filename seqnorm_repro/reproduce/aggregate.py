"""Read every results.json of a target's runs and write results/<name>.md and .json beside the paper.

Means and standard deviations are over the seeds that completed (sample std, ddof=1; the paper
does not say which it reports); a row with fewer completed seeds than asked says so, and missing
and failed runs are listed, never dropped silently.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqnorm_repro.reproduce.sweep import run_dir
from seqnorm_repro.reproduce.targets import Row, Target
from seqnorm_repro.tracking.provenance import utc_now
from seqnorm_repro.tracking.run_files import read_json

SMOKE_HEADER = "> **smoke run: not a reproduction.** Tiny synthetic data, one training step per run: these\n"
SMOKE_HEADER += (
    "> numbers only prove the sweep-to-table pipeline. `make <target>` (SCALE=paper) reproduces.\n"
)


@dataclass
class RowResult:
    row: Row
    completed: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> results.json
    missing: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # seed -> status and error

    def metric(self, key: str) -> list[float]:
        """The key's value (in %) of every completed seed."""
        return [100 * r[key] for r in self.completed.values() if r.get(key) is not None]

    def test(self) -> list[float]:
        """Test accuracy in %: per seed for one test set; with several (ImageNetV2), each set's mean
        over seeds, so mean and std are over the sets as in the paper's Table 2."""
        per_set: dict[str, list[float]] = {}
        for results in self.completed.values():
            for name, acc in (results.get("test_acc") or {}).items():
                per_set.setdefault(name, []).append(100 * acc)
        if len(per_set) == 1:
            return next(iter(per_set.values()))
        return [statistics.fmean(values) for values in per_set.values()]


def collect(target: Target, scale: str, seeds: list[int], runs_root: Path) -> list[RowResult]:
    rows = []
    for row in target.rows:
        result = RowResult(row)
        for seed in seeds:
            results = read_json(run_dir(runs_root, target, scale, row, seed) / "results.json")
            if results is None:
                result.missing.append(seed)
            elif results.get("status") == "completed":
                result.completed[seed] = results
            else:
                result.failed[seed] = f"{results.get('status')}: {results.get('error', '')}".strip(": ")
        rows.append(result)
    return rows


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _cell(values: list[float], expected: int) -> str:
    mean, std = mean_std(values)
    if mean is None:
        return "-"
    text = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")
    return text if len(values) >= expected else f"{text} ({len(values)} of {expected})"


def _paper(value: list[float | None] | None) -> str:
    """The paper's mean ± std; its ImageNet tuning runs give a mean alone."""
    if value is None:
        return "-"
    return f"{value[0]}" if value[1] is None else f"{value[0]} ± {value[1]}"


def _delta(values: list[float], paper: list[float] | None) -> str:
    mean, _ = mean_std(values)
    return "-" if mean is None or paper is None else f"{mean - paper[0]:+.2f}"


def render(
    target: Target, scale: str, seeds: list[int], rows: list[RowResult], command: str
) -> tuple[str, dict]:
    """The markdown table and its JSON twin."""
    expected = len(seeds)
    lines = [f"# {target.title}", ""]
    if scale == "smoke":
        lines += [SMOKE_HEADER]
    lines += [
        f"Ours: mean ± std over seeds {seeds} (accuracy %, validation = final epoch);",
        "paper: its reported numbers.",
        "",
        "| row | val (ours) | val (paper) | Δ | test (ours) | test (paper) | Δ | epochs | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    data_rows, hardware, commits, problems = [], set(), set(), []
    for result in rows:
        val, test = result.metric(target.val_key), result.test()
        paper_val, paper_test = result.row.paper.get("val"), result.row.paper.get("test")
        epochs = sorted({r["epochs_completed"] for r in result.completed.values()})
        lines.append(
            f"| {result.row.label} | {_cell(val, expected)} | {_paper(paper_val)} | {_delta(val, paper_val)} "
            f"| {_cell(test, 1)} | {_paper(paper_test)} | {_delta(test, paper_test)} "
            f"| {','.join(map(str, epochs)) or '-'} | {len(result.completed)}/{expected} |"
        )
        hardware |= {r["hardware"] for r in result.completed.values()}
        commits |= {r["git_commit"] for r in result.completed.values()}
        problems += [f"- {result.row.label}, seed {seed}: missing (not run yet)" for seed in result.missing]
        problems += [f"- {result.row.label}, seed {seed}: {why}" for seed, why in result.failed.items()]
        data_rows.append(
            {
                "label": result.row.label,
                "overrides": list(result.row.overrides),
                "paper": result.row.paper,
                "val": mean_std(val),
                "val_runs": val,
                "test": mean_std(test),
                "test_values": test,
                "epochs": epochs,
                "completed_seeds": sorted(result.completed),
                "missing_seeds": result.missing,
                "failed": result.failed,
            }
        )
    lines += ["", "## Missing or failed runs", ""] + (problems or ["none"])
    lines += [
        "",
        "## Provenance",
        "",
        f"- command: `{command}`",
        f"- scale: {scale}; aggregated {utc_now()}",
        f"- hardware: {'; '.join(sorted(hardware)) or '-'}",
        f"- commits of the runs: {', '.join(sorted(commits)) or '-'}",
        "- std: sample standard deviation over seeds (ddof=1); with several test sets (ImageNetV2) the test",
        "  column is the mean ± std over the sets of each set's mean over seeds, as the paper's Table 2.",
    ]
    payload = {
        "target": target.name,
        "title": target.title,
        "scale": scale,
        "seeds": seeds,
        "rows": data_rows,
        "hardware": sorted(hardware),
        "commits": sorted(commits),
        "command": command,
    }
    return "\n".join(lines) + "\n", payload
