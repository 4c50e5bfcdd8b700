"""Training commands run side by side on one machine, each seeing only its own GPUs
(CUDA_VISIBLE_DEVICES): `make reproduce-* GPUS=all` and `python train.py -m hydra/launcher=gpus` both
run their jobs here. Hydra's basic launcher runs one job at a time, and `submitit_local` starts every
job at once on the same GPUs.

Free of torch until 'all' GPUs are asked for, so that Hydra's launcher can import it cheaply.
"""

from __future__ import annotations

import logging
import os
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


def visible_gpus() -> list[str]:
    """Every GPU this process may use, as CUDA_VISIBLE_DEVICES names them (ids as nvidia-smi numbers
    them, or UUIDs); a ValueError, worded for the command line, when there is none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [i for i in visible.split(",") if i]
    else:
        import torch  # its seconds of imports only here

        ids = [str(i) for i in range(torch.cuda.device_count())]
    if not ids:
        raise ValueError("no CUDA device is visible here; name GPU ids, or run one job at a time")
    return ids


def gpu_groups_of(gpus: Sequence[str], per_job: int) -> list[str]:
    """The CUDA_VISIBLE_DEVICES of each job at a time: `per_job` of `gpus` each; a ValueError, worded for
    the command line, when they are not distinct or do not split evenly."""
    gpus = [str(g) for g in gpus]
    if len(set(gpus)) != len(gpus) or not all(gpus):
        raise ValueError("give distinct GPU ids such as 0,1,2,3, or 'all'")
    if not gpus or len(gpus) % per_job:
        raise ValueError(
            f"{len(gpus)} GPUs do not split into jobs of {per_job}; give a multiple of {per_job}"
        )
    return [",".join(gpus[i : i + per_job]) for i in range(0, len(gpus), per_job)]


def run_jobs(jobs: Sequence[Job], devices: Sequence[str | None]) -> list[int]:
    """Run `jobs` in order, as many at once as there are `devices`: CUDA_VISIBLE_DEVICES values, the
    job's output going to its log; None keeps this process's GPUs and terminal. Returns the exit codes in
    the jobs' order. A failed job is logged and the others still run.

    On Ctrl-C, which a terminal sends to the running jobs as well, they are given time to mark their runs
    interrupted (subprocess.run would kill them after a quarter of a second), then stopped with SIGTERM.
    A SIGTERM sent to this process alone (`kill`, a job's time limit; under `sigterm_raises`) is passed
    on at once, so that no run goes on training without it."""
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
        _stop(list(running), at_once=isinstance(err, Terminated))
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
        return subprocess.Popen(job.command, cwd=job.cwd, env=env, stdout=output, stderr=subprocess.STDOUT)


def _stop(children: list[subprocess.Popen], at_once: bool) -> None:
    """Wait up to INTERRUPT_GRACE_S in all for the jobs to close their runs, then SIGTERM the rest."""
    if at_once:
        for child in children:
            child.terminate()
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            child.terminate()  # the trainer takes SIGTERM as it takes Ctrl-C
            child.wait()
