"""Commit, hardware and date: written beside every number this project reports."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import torch

from seqnorm_repro import REPO_ROOT


def git_commit() -> str:
    """The checked-out commit, with '+dirty' when tracked files differ from it (results/ aside: the reports
    a run writes there change nothing it runs); 'unknown' outside git.
    `SEQNORM_COMMIT`, where set, names the commit instead, with what this copy's git reads beside it when
    the two differ: for a copy of the working tree whose git metadata is not its own (a GPU machine that
    is sent the tree), set to what the sender's `git rev-parse` read."""
    read = _read_git_commit()
    given = os.environ.get("SEQNORM_COMMIT")
    if not given or given == read:
        return read
    return f"{given} (SEQNORM_COMMIT; this copy's git metadata reads {read})"


def _read_git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | str | None = None) -> str:
    """One line naming the device that ran the numbers, and the software under it."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        chip = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        chip = f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    return f"{chip}; torch {torch.__version__}; Python {platform.python_version()}"


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def provenance_lines(device: torch.device | str | None = None) -> list[str]:
    """A report's hardware, commit and date lines; a report rewritten as its run goes reads them once, so
    that every version names the run's start."""
    return [f"- hardware: {hardware(device)}", f"- commit: {git_commit()}, date: {utc_now()}"]
