"""Stopping a run cleanly: SIGTERM (systemd, a container stop, a cron timeout) and SIGINT
(Ctrl-C) become an exception in the run, which then marks its row failed and lets the process
exit at once, instead of dying with its lock held until the stale time passes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOPPED_BY_SIGNAL = "stopped by {signal}"


class AssignmentInterrupted(BaseException):
    """SIGTERM or SIGINT arrived while `interruptible()` was in force.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way
    swallows it: the run marks itself failed and the process exits.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(STOPPED_BY_SIGNAL.format(signal=signal.Signals(signum).name))


INTERRUPTING_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into AssignmentInterrupted for the block (main thread only).

    What systemd, a container stop or a cron timeout sends, and Ctrl-C: the run in progress
    rolls back its open batch, marks its row failed (so the next run starts at once instead
    of waiting for the stale time) and the command exits non-zero. Elsewhere than in the main
    thread (a request served by a threaded server) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise AssignmentInterrupted(signum)

    previous = {signum: signal.signal(signum, stop) for signum in INTERRUPTING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
