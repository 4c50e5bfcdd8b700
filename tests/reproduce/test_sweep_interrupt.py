"""Ctrl-C in a terminal reaches the sweep and the run it started: the sweep waits while the run marks
itself interrupted instead of killing it a quarter of a second later (what subprocess.run does). A SIGTERM
sent to the sweep alone reaches the run too, rather than leaving it training on its own."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# A "run" that takes a second to close on Ctrl-C, started by the sweep's own runner.
RUN = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    def close(signum, frame):
        time.sleep(1)
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
    import sys
    from seqnorm_repro.reproduce.sweep import run_row_command
    from seqnorm_repro.train.interrupt import exit_code, sigterm_raises
    try:
        with sigterm_raises():  # as reproduce/cli.py runs it
            run_row_command([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    except KeyboardInterrupt as err:
        sys.exit(exit_code(err))
    """
)


def _start_sweep(marker):
    """The sweep, in a process group of its own (a terminal's foreground job), once its run has started."""
    sweep = subprocess.Popen(
        [sys.executable, "-c", SWEEP, RUN, str(marker)],
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    started = marker.with_name(marker.name + ".started")
    for _ in range(600):
        if started.exists() or sweep.poll() is not None:
            break
        time.sleep(0.1)
    assert started.exists()
    return sweep


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],  # Ctrl-C in a terminal; kill <pid> of the sweep
)
def test_the_running_job_closes_its_run(signum, to_group, tmp_path):
    marker = tmp_path / "run"
    sweep = _start_sweep(marker)
    try:
        (os.killpg if to_group else os.kill)(sweep.pid, signum)
        assert sweep.wait(timeout=30) == 128 + signum
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert marker.read_text() == f"closed on {signal.Signals(signum).name}"
