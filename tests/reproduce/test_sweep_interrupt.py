"""Ctrl-C in a terminal reaches the sweep and the runs it started: the sweep waits while each run marks
itself interrupted instead of killing it a quarter of a second later (what subprocess.run does). A SIGTERM
sent to the sweep alone reaches its runs too, rather than leaving them training on their own; both for
one run at a time on the terminal and for runs side by side on their GPUs (`--gpus`)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# A "run" that takes a second to close on SIGTERM and argv[2] seconds on Ctrl-C, started by the sweep's
# own runner.
RUN = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    def close(signum, frame):
        time.sleep(float(sys.argv[2]) if signum == signal.SIGINT else 1)
        Path(sys.argv[1]).write_text(f"closed on {signal.Signals(signum).name}")
        sys.exit(128 + signum)
    signal.signal(signal.SIGINT, close)
    signal.signal(signal.SIGTERM, close)
    Path(sys.argv[1] + ".started").touch()
    time.sleep(60)
    """
)
SWEEP = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from seqnorm_repro.job_pool import Job, run_jobs
    from seqnorm_repro.train.interrupt import exit_code, sigterm_raises
    markers, devices, close_s = sys.argv[2].split(","), json.loads(sys.argv[3]), sys.argv[4]
    jobs = [Job(m, [sys.executable, "-c", sys.argv[1], m, close_s], Path(m + ".log")) for m in markers]
    try:
        with sigterm_raises():  # as reproduce/cli.py runs it
            run_jobs(jobs, devices)
    except KeyboardInterrupt as err:
        sys.exit(exit_code(err))
    """
)


def _start_sweep(markers, devices, close_s=1.0):
    """The sweep, in a process group of its own (a terminal's foreground job), once its runs have started."""
    sweep = subprocess.Popen(
        [sys.executable, "-c", SWEEP, RUN, ",".join(map(str, markers)), json.dumps(devices), str(close_s)],
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    started = [m.with_name(m.name + ".started") for m in markers]
    for _ in range(600):
        if all(s.exists() for s in started) or sweep.poll() is not None:
            break
        time.sleep(0.1)
    assert all(s.exists() for s in started)
    return sweep


@pytest.mark.parametrize("devices", [[None], ["0", "1"]], ids=["terminal", "side-by-side"])
@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],  # Ctrl-C in a terminal; kill <pid> of the sweep
)
def test_the_running_jobs_close_their_runs(signum, to_group, devices, tmp_path):
    markers = [tmp_path / f"run{i}" for i in range(len(devices))]
    sweep = _start_sweep(markers, devices)
    try:
        (os.killpg if to_group else os.kill)(sweep.pid, signum)
        assert sweep.wait(timeout=30) == 128 + signum
    finally:
        with contextlib.suppress(ProcessLookupError):  # the sweep, and any run it left going
            os.killpg(sweep.pid, signal.SIGKILL)
    for marker in markers:
        assert marker.read_text() == f"closed on {signal.Signals(signum).name}"


def test_a_second_ctrl_c_stops_a_job_that_is_slow_to_close_at_once(tmp_path):
    """Side-by-side jobs have process groups of their own, so a terminal could not reach one left behind."""
    marker = tmp_path / "run0"
    sweep = _start_sweep([marker], ["0"], close_s=60)
    try:
        os.killpg(sweep.pid, signal.SIGINT)
        time.sleep(1)
        os.killpg(sweep.pid, signal.SIGINT)
        assert sweep.wait(timeout=20) == 128 + signal.SIGINT  # not INTERRUPT_GRACE_S (30 s) later
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)
    assert marker.read_text() == "closed on SIGTERM"
