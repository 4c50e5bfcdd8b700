"""SIGTERM raises like Ctrl-C only where nobody else handles it (submitit requeues SLURM jobs on signals)."""

import os
import signal
import time

import pytest

from seqnorm_repro.train.interrupt import Terminated, exit_code, sigterm_raises


def test_sigterm_raises_inside_and_is_default_again_after():
    with pytest.raises(Terminated), sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here at the latest
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert exit_code(Terminated()) == 143 and exit_code(KeyboardInterrupt()) == 130


def test_a_handler_someone_else_installed_is_kept():
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with sigterm_raises():
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            os.kill(os.getpid(), signal.SIGTERM)
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
