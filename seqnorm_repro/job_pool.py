"""Training commands run side by side on one machine, each seeing only its own GPUs
(CUDA_VISIBLE_DEVICES): `make reproduce-* GPUS=all` and `python train.py -m hydra/launcher=gpus` both
run their jobs here. Hydra's basic launcher runs one job at a time, and `submitit_local` starts every
job at once on the same GPUs.

Free of torch until GPUs are counted (when CUDA_VISIBLE_DEVICES does not list them), so that Hydra's
launcher can import it cheaply.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqnorm_repro.train.interrupt import Terminated

log = logging.getLogger(__name__)
INTERRUPT_GRACE_S = 30
POLL_S = 0.2  # how often running jobs are checked for an exit


@dataclass(frozen=True)
class Job:
    """One command; `log` takes its output when jobs run side by side."""

    label: str
    command: list[str]
    log: Path | None = None
    cwd: Path | None = None  # None: this process's


def gpu_groups(requested: str | Sequence[object], per_job: int) -> list[str]:
    """The CUDA_VISIBLE_DEVICES of each job at a time, `per_job` GPUs each, from 'all' or ids as this
    process numbers its GPUs (cuda:0, cuda:1, ...: within CUDA_VISIBLE_DEVICES when that is set, as in a
    SLURM allocation); a ValueError, worded for the command line, for GPUs that cannot be used so."""
    names = _gpu_names(requested)
    if len(names) % per_job:
        raise ValueError(
            f"{len(names)} GPUs do not split into jobs of {per_job}; give a multiple of {per_job}"
        )
    return [",".join(names[i : i + per_job]) for i in range(0, len(names), per_job)]


def _gpu_names(requested: str | Sequence[object]) -> list[str]:
    visible = _visible_names()
    if requested == "all":
        if visible is None:
            visible = [str(i) for i in range(_device_count())]
        if not visible:
            raise ValueError("no CUDA device is visible here; name GPU ids, or run one job at a time")
        return visible
    ids = [str(i).strip() for i in requested]
    if not ids or len(set(ids)) != len(ids) or not all(i.isdigit() for i in ids):
        raise ValueError("give 'all' or distinct GPU ids such as 0,1,2,3")
    if visible is None:
        count = _device_count()  # 0 on a machine without GPUs, where the jobs run on the CPU
        if count and (missing := [i for i in ids if int(i) >= count]):
            raise ValueError(f"GPU {missing[0]} is not among the {count} GPUs here (ids count from 0)")
        return ids
    if missing := [i for i in ids if int(i) >= len(visible)]:
        raise ValueError(
            f"GPU {missing[0]} is not among the {len(visible)} that CUDA_VISIBLE_DEVICES="
            f"{os.environ['CUDA_VISIBLE_DEVICES']} leaves (ids count from 0 within it)"
        )
    return [visible[int(i)] for i in ids]


def _device_count() -> int:
    import torch  # its seconds of imports only here

    return torch.cuda.device_count()


def _visible_names() -> list[str] | None:
    """The GPUs CUDA_VISIBLE_DEVICES names, read as CUDA reads it: up to the first invalid entry (so -1
    hides every GPU); None when it is not set."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    names = []
    for name in (n.strip() for n in value.split(",")):
        if not name or name.startswith("-"):
            break
        names.append(name)
    return names


def run_jobs(jobs: Sequence[Job], devices: Sequence[str | None]) -> list[int]:
    """Run `jobs` in order, as many at once as there are `devices`: CUDA_VISIBLE_DEVICES values, the
    job's output going to its log; None keeps this process's GPUs and terminal. Returns the exit codes in
    the jobs' order. A failed job is logged and the others still run.

    Ctrl-C and SIGTERM reach the running jobs once, then they are given time to mark their runs
    interrupted (subprocess.run would kill them after a quarter of a second) before SIGTERM stops them.
    A terminal's Ctrl-C reaches jobs on it itself; jobs side by side run in process groups of their own
    and get this process's SIGINT (a terminal's, or a `kill -INT` of this process alone). A SIGTERM
    (`kill`, a job's time limit; under `sigterm_raises`) is passed on, so that no run trains on
    without this process."""
    waiting, free, running = list(enumerate(jobs)), list(devices), {}
    codes: list[int] = [0] * len(jobs)
    try:
        while waiting or running:
            while waiting and free:
                (index, job), device = waiting.pop(0), free.pop(0)
                running[_start(job, device)] = (index, device)
            for child, (index, device) in list(running.items()):
                if (code := child.poll()) is None:
                    continue
                del running[child]
                free.append(device)
                codes[index] = code
                if code:
                    output = f"; its output is in {jobs[index].log}" if device is not None else ""
                    log.error("%s exited with %d%s", jobs[index].label, code, output)
            time.sleep(POLL_S if running else 0)
    except KeyboardInterrupt as err:
        side_by_side = any(device is not None for device in devices)
        signum = signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT if side_by_side else None
        _stop(list(running), signum)
        raise
    return codes


def _start(job: Job, device: str | None) -> subprocess.Popen:
    if device is None:
        return subprocess.Popen(job.command, cwd=job.cwd)
    if job.log is None:
        raise ValueError(f"{job.label}: a job run side by side needs a log for its output")
    job.log.parent.mkdir(parents=True, exist_ok=True)
    log.info("%s: on GPU %s, output in %s", job.label, device, job.log)
    with job.log.open("a") as output:  # appended: a resumed run keeps its earlier output
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
        return subprocess.Popen(
            job.command, cwd=job.cwd, env=env, stdout=output, stderr=subprocess.STDOUT, process_group=0
        )


def _stop(children: list[subprocess.Popen], signum: int | None) -> None:
    """Send `signum` (None: they have had the terminal's), wait up to INTERRUPT_GRACE_S in all for the
    jobs to close their runs, then SIGTERM the rest (at once on a second Ctrl-C)."""
    if signum is not None:
        for child in children:
            child.send_signal(signum)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    try:
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                child.terminate()  # the trainer takes SIGTERM as it takes Ctrl-C
                child.wait()
    except KeyboardInterrupt:  # a second Ctrl-C: no more grace, but no job left running either
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait()
        raise
