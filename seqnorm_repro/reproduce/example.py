"""The paper's Section 2.2 example: BatchNorm keeps the ranking of a batch, GhostNorm (GM = 2) does not."""

from __future__ import annotations

import torch

from seqnorm_repro.norms import BatchNorm, GhostNorm
from seqnorm_repro.reproduce.paper import reported
from seqnorm_repro.tracking.provenance import git_commit, hardware, utc_now


def render(command: str) -> tuple[str, dict]:
    """The markdown table and its JSON twin, each with the command, commit, hardware and date."""
    example = reported()["section_2_2_example"]
    x = torch.tensor(example["input"], dtype=torch.float64).view(-1, 1, 1)
    ours = {
        "batchnorm": BatchNorm(1).double()(x).flatten().tolist(),
        "ghostnorm_gm2": GhostNorm(1, gm=2).double()(x).flatten().tolist(),
    }
    commit, device, date = git_commit(), hardware("cpu"), utc_now()
    lines = [
        "# Section 2.2: GhostNorm changes the ranking of a batch, BatchNorm does not",
        "",
        f"Input, shape (8, 1, 1): {example['input']}",
        "",
        "| layer | ours | the paper | ranking kept |",
        "|---|---|---|---|",
    ]
    order = sorted(range(len(x)), key=lambda i: example["input"][i])
    kept = {}
    for key, label in (("batchnorm", "BatchNorm"), ("ghostnorm_gm2", "GhostNorm (GM = 2)")):
        kept[key] = sorted(range(len(x)), key=lambda i: ours[key][i]) == order
        values = ", ".join(f"{v:.2f}" for v in ours[key])
        lines.append(
            f"| {label} | {values} | {', '.join(map(str, example[key]))} | {'yes' if kept[key] else 'no'} |"
        )
    lines += [
        "",
        f"39 > 38 in the input (2nd and 5th values); after BatchNorm {ours['batchnorm'][1]:.2f} > "
        f"{ours['batchnorm'][4]:.2f}, after GhostNorm {ours['ghostnorm_gm2'][1]:.2f} < "
        f"{ours['ghostnorm_gm2'][4]:.2f}.",
        "Made by `make reproduce-example` (float64 arithmetic, no training).",
        "",
        f"- command: `{command}`; commit {commit}; {device}; {date}",
    ]
    return "\n".join(lines) + "\n", {
        "input": example["input"],
        "ours": ours,
        "paper": example,
        "ranking_kept": kept,
        "command": command,
        "git_commit": commit,
        "hardware": device,
        "date": date,
    }
