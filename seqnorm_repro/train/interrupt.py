"""Ctrl-C and SIGTERM end a run the same way: the trainer marks results.json "interrupted" and says how to
resume, the W&B run is finished, and checkpoints/last.pt keeps the last whole epoch.

SIGTERM is what `kill`, SLURM's scancel and time limit, and torchrun stopping its workers send; Python's
default for it is to die on the spot, leaving results.json at "running" and the W&B run open.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside, SIGTERM raises Terminated. A handler someone else installed (submitit's, which requeues
    SLURM jobs on its own signal) is left in place, and so is everything outside the main thread."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise Terminated(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def exit_code(err: KeyboardInterrupt) -> int:
    """128 + the signal's number, the status a shell shows for a process the signal killed."""
    return 128 + (signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)
