"""Ctrl-C in a terminal reaches the sweep and the run it started: the sweep waits while the run marks
itself interrupted instead of killing it a quarter of a second later (what subprocess.run does)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

# A "run" that takes a second to close on Ctrl-C, started by the sweep's own runner.
RUN = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    def close(*_):
        time.sleep(1)
        Path(sys.argv[1]).write_text("closed")
        sys.exit(130)
    signal.signal(signal.SIGINT, close)
    Path(sys.argv[1] + ".started").touch()
    time.sleep(60)
    """
)
SWEEP = textwrap.dedent(
    """
    import sys
    from seqnorm_repro.reproduce.sweep import run_row_command
    try:
        run_row_command([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def test_ctrl_c_lets_the_running_job_close_its_run(tmp_path):
    marker = tmp_path / "run"
    sweep = subprocess.Popen(
        [sys.executable, "-c", SWEEP, RUN, str(marker)],
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        started = tmp_path / "run.started"
        for _ in range(600):
            if started.exists() or sweep.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists()
        os.killpg(sweep.pid, signal.SIGINT)  # the terminal's Ctrl-C: every process of the group
        assert sweep.wait(timeout=30) == 130
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert marker.read_text() == "closed"
