"""Section 3.2's sequential tuning of SeqNorm against the full grid, from the tuning runs' results.

Sequential: tune GM with GhostNorm, keep the largest GM that performs well with the lowest variance
(within `tolerance` points of the best mean, lowest std, then the largest GM), then tune GC with
that GM: |GM grid| + |GC grid| configurations. Full grid: every (GC, GM) of SeqNorm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import attrgetter

from seqnorm_repro.reproduce.aggregate import VAL_KEY, RowResult, mean_std, run_provenance, smoke_header
from seqnorm_repro.reproduce.paper import reported
from seqnorm_repro.tracking.provenance import utc_now


class NoChoice(RuntimeError):
    """Too few completed runs to apply a strategy."""


@dataclass(frozen=True)
class Scored:
    gc: int | None
    gm: int
    mean: float
    std: float | None


def _hyper(result: RowResult, key: str) -> int | None:
    for override in result.row.overrides:
        if match := re.fullmatch(rf"{key}=(\d+)", override):
            return int(match.group(1))
    return None


def score(rows: list[RowResult], seed_count: int) -> tuple[list[Scored], list[Scored], list[str]]:
    """(GhostNorm runs by GM, SeqNorm runs by (GC, GM)) with mean and std of validation accuracy, over the
    rows whose `seed_count` runs all completed (a variance needs them all), and the other rows' labels."""
    ghost, seq, incomplete = [], [], []
    for result in rows:
        values = result.metric(VAL_KEY)
        if len(values) < seed_count:
            incomplete.append(f"{result.row.label} ({len(values)} of {seed_count} seeds)")
            continue
        scored = Scored(_hyper(result, "gc"), _hyper(result, "gm"), *mean_std(values))
        (seq if scored.gc is not None else ghost).append(scored)
    return ghost, seq, incomplete


def sequential_gm(ghost: list[Scored], tolerance: float) -> Scored:
    best = max(s.mean for s in ghost)
    similar = [s for s in ghost if s.mean >= best - tolerance]
    return min(similar, key=lambda s: (s.std if s.std is not None else float("inf"), -s.gm))


@dataclass(frozen=True)
class Choices:
    """What each strategy picks from the scored runs, and what it costs in training runs."""

    gm: Scored  # GhostNorm's pick, the GM that SeqNorm's GC is then tuned at
    sequential: Scored
    grid: Scored
    costs: dict[str, int]
    ghost: list[Scored]
    seq: list[Scored]
    incomplete: list[str]


def choose(rows: list[RowResult], seed_count: int, tolerance: float) -> Choices:
    """Both strategies' picks among the configurations whose seeds all completed."""
    ghost, seq, incomplete = score(rows, seed_count)
    if not ghost or not seq:
        raise NoChoice(
            "no GhostNorm or no SeqNorm configuration completed all its seeds: run `make tune-seqnorm` first"
        )
    gm = sequential_gm(ghost, tolerance)
    at_gm = [s for s in seq if s.gm == gm.gm]
    if not at_gm:
        raise NoChoice(f"no SeqNorm configuration at GM = {gm.gm} completed all its seeds: rerun the target")
    gm_grid, gc_grid = {s.gm for s in seq}, {s.gc for s in seq}
    costs = {
        "sequential": (len(gm_grid) + len(gc_grid)) * seed_count,
        "grid": len(gm_grid) * len(gc_grid) * seed_count,
    }
    by_mean = attrgetter("mean")
    return Choices(gm, max(at_gm, key=by_mean), max(seq, key=by_mean), costs, ghost, seq, incomplete)


def _show(s: Scored) -> str:
    return f"{s.mean:.2f}" + (f" ± {s.std:.2f}" if s.std is not None else "")


def render(
    rows: list[RowResult], seeds: list[int], scale: str, tolerance: float, command: str
) -> tuple[str, dict]:
    """tune_seqnorm_choice.md beside the paper's Section 3.2 choice, and its JSON twin."""
    chosen = choose(rows, len(seeds), tolerance)
    gm, sequential, grid, costs = chosen.gm, chosen.sequential, chosen.grid, chosen.costs
    paper = reported()["cifar10_tuning"]
    hardware, commits = run_provenance(rows)
    aggregated = utc_now()
    lines = ["# Tuning SeqNorm on CIFAR-10: sequential (GM, then GC) vs the full GC x GM grid", ""]
    if scale == "smoke":
        lines.append(smoke_header("cifar10"))  # tuning_grid's dataset
    lines += [
        f"Validation accuracy (%), mean ± std over seeds {seeds}; 'performs well' = within {tolerance}",
        "points of the best GhostNorm mean.",
        "",
        "| strategy | picks | val | training runs (configurations x seeds) |",
        "|---|---|---|---|",
        f"| sequential: GhostNorm GM, then GC | GM = {gm.gm}, GC = {sequential.gc} | {_show(sequential)} "
        f"| {costs['sequential']} |",
        f"| full grid | GM = {grid.gm}, GC = {grid.gc} | {_show(grid)} | {costs['grid']} |",
        f"| the paper (Section 3.2) | GM = {paper['seqnorm_gm']}, GC = {paper['seqnorm_choice']} | - | "
        f"{len(paper['ghostnorm_gm_grid']) + len(paper['seqnorm_gc_grid'])} configurations |",
        "",
        "GhostNorm by GM: "
        + ", ".join(f"GM {s.gm}: {_show(s)}" for s in sorted(chosen.ghost, key=lambda s: s.gm)),
        f"(the paper kept GM = {paper['ghostnorm_choice']} for GhostNorm itself, and GM = "
        f"{paper['seqnorm_gm']}, the lowest variance, for SeqNorm).",
        "",
        "SeqNorm grid: "
        + ", ".join(
            f"(GC {s.gc}, GM {s.gm}): {_show(s)}" for s in sorted(chosen.seq, key=lambda s: (s.gm, s.gc))
        ),
        "",
        "Not considered, as not every seed completed (see tune_seqnorm.md): "
        + (", ".join(chosen.incomplete) or "none"),
        "",
        f"- command: `{command}`; aggregated {aggregated}",
        f"- hardware: {'; '.join(hardware) or '-'}; commits of the runs: {', '.join(commits) or '-'}",
    ]
    payload = {
        "scale": scale,
        "seeds": seeds,
        "tolerance": tolerance,
        "costs": costs,
        "sequential": {"gm": gm.gm, "gc": sequential.gc, "val": [sequential.mean, sequential.std]},
        "grid": {"gm": grid.gm, "gc": grid.gc, "val": [grid.mean, grid.std]},
        "ghostnorm": [vars(s) for s in chosen.ghost],
        "seqnorm": [vars(s) for s in chosen.seq],
        "incomplete": chosen.incomplete,
        "paper": paper,
        "command": command,
        "aggregated": aggregated,
        "hardware": hardware,
        "commits": commits,
    }
    return "\n".join(lines) + "\n", payload
