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

from seqnorm_repro.reproduce.scales import smoke_changes
from seqnorm_repro.reproduce.sweep import expected_config, row_overrides, run_dir
from seqnorm_repro.reproduce.targets import Row, Target
from seqnorm_repro.tracking.provenance import utc_now
from seqnorm_repro.tracking.run_files import read_json, record_mismatch

VAL_KEY = "final_val_acc"  # the tables' validation column: the final epoch's (the paper does not say)


def smoke_header(dataset: str) -> str:
    """The banner of a smoke table, with what its runs changed in the preset its title names."""
    return (
        "> **smoke run: not a reproduction.** Tiny synthetic data, one training step per run: these\n"
        "> numbers only prove the sweep-to-table pipeline. `make <target>` (SCALE=paper) reproduces.\n"
        f"> Each run is the paper's preset with `{' '.join(smoke_changes(dataset))}`.\n"
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

    def test(self, sets: tuple[str, ...]) -> list[float]:
        """Test accuracy in %: per seed for one test set; with several (ImageNetV2), each set's mean over
        the seeds that have it, so mean and std are over the sets as in the paper's Table 2."""
        per_set = {name: [100 * r["test_acc"][name] for r in self._with_test(name)] for name in sets}
        if len(sets) == 1:
            return per_set[sets[0]]
        return [statistics.fmean(values) for values in per_set.values() if values]

    def missing_tests(self, sets: tuple[str, ...]) -> dict[int, list[str]]:
        """seed -> the test sets its completed run has no accuracy for (a test folder that was absent)."""
        missing = {
            seed: [n for n in sets if n not in (r.get("test_acc") or {})]
            for seed, r in self.completed.items()
        }
        return {seed: names for seed, names in missing.items() if names}

    def _with_test(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.completed.values() if name in (r.get("test_acc") or {})]


def collect(
    target: Target, scale: str, seeds: list[int], runs_root: Path, extra: tuple[str, ...] = ()
) -> list[RowResult]:
    """Each row's runs, as trained with the row's overrides plus `extra` (the command's own overrides and
    the scale's): a run completed with another config is listed as such, never averaged in."""
    rows = []
    for row in target.rows:
        result, overrides = RowResult(row), row_overrides(target, scale, row, extra)
        for seed in seeds:
            directory = run_dir(runs_root, target, scale, row, seed)
            results = read_json(directory / "results.json")
            if results is None and (directory / "results.json").exists():
                result.failed[seed] = (
                    "its results.json is unreadable (cut short or edited): the next run of this command "
                    "trains it again (from its last.pt, if it has one)"
                )
            elif results is None:
                result.missing.append(seed)
            elif results.get("status") != "completed":
                result.failed[seed] = f"{results.get('status')}: {results.get('error', '')}".strip(": ")
            elif other := _other_config(results, [*overrides, f"seed={seed}"], directory):
                result.failed[seed] = other
            else:
                result.completed[seed] = results
        rows.append(result)
    return rows


def _other_config(results: dict[str, Any], overrides: list[str], directory: Path) -> str | None:
    """Why a completed run does not count, if it trained another config than `overrides` give."""
    mismatch = record_mismatch(results, expected_config(overrides, directory))
    if not mismatch:
        return None
    return (
        f"completed with another config ({mismatch}): aggregate with the overrides it ran with, or train "
        "this one in another --runs"
    )


def run_provenance(rows: list[RowResult]) -> tuple[list[str], list[str]]:
    """The hardware and the commits of every completed run, sorted, for a table's provenance."""
    return results_provenance([r for result in rows for r in result.completed.values()])


def results_provenance(runs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The hardware and the commits that these results.json record, sorted."""
    hardware = sorted({r["hardware"] for r in runs if r.get("hardware")})
    return hardware, sorted({r["git_commit"] for r in runs if r.get("git_commit")})


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def mean_std_cell(values: list[float], expected: int = 0, unit: str = "seeds") -> str:
    """mean ± std, saying how many of the `expected` seeds or sets it is over when some are missing."""
    mean, std = mean_std(values)
    if mean is None:
        return "-"
    text = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")
    return text if len(values) >= expected else f"{text} ({len(values)} of {expected} {unit})"


def _paper(value: list[float | None] | None) -> str:
    """The paper's mean ± std; its ImageNet tuning runs give a mean alone."""
    if value is None:
        return "-"
    return f"{value[0]}" if value[1] is None else f"{value[0]} ± {value[1]}"


def _delta(values: list[float], paper: list[float] | None) -> str:
    mean, _ = mean_std(values)
    return "-" if mean is None or paper is None else f"{mean - paper[0]:+.2f}"


def render(
    target: Target, scale: str, seeds: list[int], rows: list[RowResult], command: str, ran: bool = False
) -> tuple[str, dict]:
    """The markdown table and its JSON twin; `ran`: this command trained the runs, so a missing one failed
    before it wrote anything (a config or data error), rather than not being run yet."""
    missing = "stopped before training (its error is in the log)" if ran else "missing (not run yet)"
    sets, hardware, commits, aggregated = target.test_sets, *run_provenance(rows), utc_now()
    lines = [f"# {target.title}", ""]
    if scale == "smoke":
        lines += [smoke_header(target.dataset)]
    lines += [
        f"Ours: mean ± std over seeds {seeds} (accuracy %, validation = final epoch);",
        "paper: its reported numbers.",
        "",
        "| row | val (ours) | val (paper) | Δ | test (ours) | test (paper) | Δ | epochs | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_table_row(result, len(seeds), sets) for result in rows]
    problems = [line for result in rows for line in _problems(result, missing, sets)]
    lines += ["", "## Missing or failed runs", ""] + (problems or ["none"])
    lines += [
        "",
        "## Provenance",
        "",
        f"- command: `{command}`",
        f"- scale: {scale}; aggregated {aggregated}",
        f"- hardware: {'; '.join(hardware) or '-'}",
        f"- commits of the runs: {', '.join(commits) or '-'}",
        "- std: sample standard deviation over seeds (ddof=1); with several test sets (ImageNetV2) the test",
        "  column is the mean ± std over the sets of each set's mean over seeds, as the paper's Table 2.",
    ]
    payload = {
        "target": target.name,
        "title": target.title,
        "scale": scale,
        "seeds": seeds,
        "rows": [_row_json(result, sets) for result in rows],
        "hardware": hardware,
        "commits": commits,
        "command": command,
        "aggregated": aggregated,
    }
    return "\n".join(lines) + "\n", payload


def _epochs(result: RowResult) -> list[int]:
    return sorted({r["epochs_completed"] for r in result.completed.values()})


def _table_row(result: RowResult, expected: int, sets: tuple[str, ...]) -> str:
    """One markdown row: ours and the paper's validation and test accuracy, the epochs and the run count;
    with several test sets, the test cell counts sets rather than seeds."""
    val, test = result.metric(VAL_KEY), result.test(sets)
    paper_val, paper_test = result.row.paper.get("val"), result.row.paper.get("test")
    test_cell = (
        mean_std_cell(test, expected, "seeds") if len(sets) == 1 else mean_std_cell(test, len(sets), "sets")
    )
    return (
        f"| {result.row.label} | {mean_std_cell(val, expected, 'seeds')} | {_paper(paper_val)} "
        f"| {_delta(val, paper_val)} | {test_cell} | {_paper(paper_test)} | {_delta(test, paper_test)} "
        f"| {','.join(map(str, _epochs(result))) or '-'} | {len(result.completed)}/{expected} |"
    )


def _problems(result: RowResult, missing: str, sets: tuple[str, ...]) -> list[str]:
    """The row's missing and failed runs and its completed runs' absent test sets, a line each."""
    label = result.row.label
    return [
        *(f"- {label}, seed {seed}: {missing}" for seed in result.missing),
        *(f"- {label}, seed {seed}: {why}" for seed, why in result.failed.items()),
        *(
            f"- {label}, seed {seed}: no result on {', '.join(names)} (the folder was absent); "
            "the test column averages each set over the seeds that have it"
            for seed, names in result.missing_tests(sets).items()
        ),
    ]


def _row_json(result: RowResult, sets: tuple[str, ...]) -> dict[str, Any]:
    val, test = result.metric(VAL_KEY), result.test(sets)
    return {
        "label": result.row.label,
        "overrides": list(result.row.overrides),
        "paper": result.row.paper,
        "val": mean_std(val),
        "val_runs": val,
        "test": mean_std(test),
        "test_values": test,
        "epochs": _epochs(result),
        "completed_seeds": sorted(result.completed),
        "missing_seeds": result.missing,
        "failed": result.failed,
    }
