"""A table of any runs (your own -m sweep, several sweeps, single runs): runs whose configs differ only
in the seed are one row, mean ± std over their seeds, as in results/'s tables of the paper's targets.

Rows are told apart by the experiment's name, the settings that change what a run computes (the config
hash's) less those a run cannot read (a BatchNorm run's gm), and the process count and samples per
normalisation group; so a grid over norm x gm x gc gives one BatchNorm row however many copies of it the
grid trained. A second run of the same config and seed, an unfinished run and a run with no recorded
config are listed under the table, never averaged in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqnorm_repro.config import settings_the_run_reads
from seqnorm_repro.reproduce.aggregate import VAL_KEY, mean_std_cell, results_provenance
from seqnorm_repro.tracking.provenance import utc_now
from seqnorm_repro.tracking.run_files import computed_settings, read_json

PER_LAUNCH = ["processes", "samples per group"]  # from results.json's norm_groups: last of the columns


@dataclass
class SettingRuns:
    """The completed runs of one config, by seed."""

    settings: dict[str, str]
    by_seed: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Collected:
    rows: list[SettingRuns]
    not_counted: list[str]  # one line per run left out, with why


def collect_runs(roots: list[Path]) -> Collected:
    """Every results.json under `roots`, grouped by config less the seed."""
    rows: dict[str, SettingRuns] = {}
    not_counted: list[str] = []
    seen: dict[tuple[str, int], Path] = {}
    for path in sorted({p.resolve() for root in roots for p in root.rglob("results.json")}):
        results = read_json(path)
        run_dir = path.parent
        if results is None:
            not_counted.append(f"- {run_dir}: results.json is unreadable (cut short or edited)")
            continue
        if results.get("status") != "completed":
            epochs = results.get("epochs_completed")
            not_counted.append(f"- {run_dir}: {results.get('status')} (epochs completed: {epochs})")
            continue
        if not isinstance(results.get("config"), dict):
            not_counted.append(f"- {run_dir}: records no config (trained before commit f7b12c6)")
            continue
        settings = _run_settings(results)
        seed = int(json.loads(settings.pop("seed", "0")))
        key = json.dumps(settings, sort_keys=True)
        if (key, seed) in seen:
            not_counted.append(f"- {run_dir}: the same config and seed as {seen[key, seed]}")
            continue
        seen[key, seed] = run_dir
        rows.setdefault(key, SettingRuns(settings)).by_seed[seed] = results
    return Collected(list(rows.values()), not_counted)


def _run_settings(results: dict[str, Any]) -> dict[str, str]:
    """What tells a run's config apart: the experiment's name, the hashed settings the run reads, and the
    process count and samples per normalisation group, which the hash leaves out (without
    paper_device_batch, gm counts groups per device)."""
    groups = results.get("norm_groups") or {}
    return {
        "name": json.dumps(results["config"].get("name")),
        **computed_settings(settings_the_run_reads(results["config"])),
        PER_LAUNCH[0]: json.dumps(groups.get("world_size")),
        PER_LAUNCH[1]: json.dumps(groups.get("samples_per_group"), sort_keys=True),
    }


def varying_settings(rows: list[SettingRuns]) -> list[str]:
    """The settings whose values differ between rows, in the config's order: the table's label columns.
    norm.impl, which picks how the same maths runs, is left out where it has one value in the rows that
    read it (`auto` beside BatchNorm's unread one) and the other columns still tell every row apart."""
    keys = list(dict.fromkeys(key for row in rows for key in row.settings if key not in PER_LAUNCH))
    keys += PER_LAUNCH
    labels = [key for key in keys if len({row.settings.get(key) for row in rows}) > 1]
    if "norm.impl" in labels:
        fewer = [label for label in labels if label != "norm.impl"]
        read_once = len({row.settings["norm.impl"] for row in rows if "norm.impl" in row.settings}) == 1
        if read_once and len({tuple(row.settings.get(k) for k in fewer) for row in rows}) == len(rows):
            labels = fewer
    return labels


def render_summary(collected: Collected, command: str) -> str:
    """The markdown table, the runs left out and where the numbers come from."""
    rows, labels = collected.rows, varying_settings(collected.rows)
    test_sets = sorted(
        {name for row in rows for r in row.by_seed.values() for name in r.get("test_acc") or {}}
    )
    rows = sorted(rows, key=lambda row: [_order(row.settings.get(key)) for key in labels])
    header = [*(labels or ["runs"]), "seeds", "val (final)", *(f"test: {name}" for name in test_sets)]
    lines = [
        "# Summary of runs",
        "",
        "Accuracy %, mean ± std over seeds (sample std); rows differ in the settings named in the header.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        runs = list(row.by_seed.values())
        cells = [_display(row.settings.get(key)) for key in labels] or ["all"]
        cells.append(",".join(map(str, sorted(row.by_seed))))
        cells.append(mean_std_cell([100 * r[VAL_KEY] for r in runs if r.get(VAL_KEY) is not None]))
        for name in test_sets:
            cells.append(
                mean_std_cell([100 * r["test_acc"][name] for r in runs if name in (r.get("test_acc") or {})])
            )
        lines.append("| " + " | ".join(cells) + " |")
    hardware, commits = results_provenance([r for row in rows for r in row.by_seed.values()])
    lines += ["", "## Not counted", "", *(collected.not_counted or ["none"])]
    lines += [
        "",
        "## Provenance",
        "",
        f"- command: `{command}`; summarised {utc_now()}",
        f"- hardware: {'; '.join(hardware) or '-'}",
        f"- commits of the runs: {', '.join(commits) or '-'}",
    ]
    return "\n".join(lines) + "\n"


def _display(value: str | None) -> str:
    """A setting's JSON value as a cell: unquoted strings, '-' where a row's runs do not read it."""
    if value is None:
        return "-"
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else json.dumps(decoded)


def _order(value: str | None) -> tuple:
    """Numbers by value (gm 4 before 16), then strings, then unread settings."""
    if value is None:
        return (2, "")
    decoded = json.loads(value)
    return (0, decoded, "") if isinstance(decoded, int | float) else (1, 0, json.dumps(decoded))
