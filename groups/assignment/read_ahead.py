"""The read-ahead process of a large group assignment run: the next wave read while this one
is written.

A first run over a large history is two halves of about the same size: reading and decoding
the candidates' first detections (Python's work) and writing the memberships (PostgreSQL's).
One after the other they add up; with the read in a second process, on its own connection and
the second CPU, the run takes about as long as the longer half. The plan cuts its buckets into
waves (:mod:`groups.assignment.plan`); :class:`ReadAhead` reads them in order in a forked
process and hands each result over through a pipe, whose writer waits for the reader: the
process is never more than about a wave ahead, and memory holds a wave or two, not the plan.

Only where forking is safe and pays (:func:`read_ahead_possible`): on PostgreSQL outside a
transaction (another connection sees only committed rows, and the candidates must be the run's
own snapshot's), in a process doing nothing else (its main thread, alone: a threaded server
reads in-process), for a backlog of at least READ_AHEAD_MIN_CANDIDATES. The child never uses
the connection it inherits (closing it would end the parent's session): it opens its own,
leaves SIGINT and SIGTERM to their defaults (the run's stop handlers are the parent's), and
exits without the parent's clean-ups.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

# Below this many candidates a run reads in-process: the process's start and the waves' extra
# queries would cost more than the overlap saves.
READ_AHEAD_MIN_CANDIDATES = 50_000

READ_AHEAD_FAILED = "the read-ahead process failed: {error}"
READ_AHEAD_STOPPED = "the read-ahead process stopped unexpectedly (exit code {code})"

Job = TypeVar("Job")
Result = TypeVar("Result")


class ReadAheadFailed(RuntimeError):
    """The read-ahead process raised or died; the run fails with this message."""


@dataclass(frozen=True)
class _Failure:
    summary: str
    details: str


def read_ahead_possible(candidates: int) -> bool:
    """Whether a run over ``candidates`` reads its waves in a forked process."""
    return (
        candidates >= READ_AHEAD_MIN_CANDIDATES
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


class ReadAhead(Generic[Job, Result]):
    """``read(job, connection)`` of each job, in order, computed by a forked process.

    Iterate to receive the results; leave the ``with`` block (or call :meth:`close`) to stop
    the process, finished or not. A failure in the process raises ReadAheadFailed here.
    """

    def __init__(self, jobs: Sequence[Job], read: Callable[[Job, BaseDatabaseWrapper], Result]):
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._pending = len(jobs)
        self._process = context.Process(
            target=_serve, args=(jobs, read, sender), name="assignment-read-ahead", daemon=True
        )
        self._process.start()
        sender.close()  # the child's end: EOF here once the child is gone

    def __iter__(self) -> Iterator[Result]:
        while self._pending:
            self._pending -= 1
            yield self._receive()

    def _receive(self) -> Result:
        try:
            message = self._receiver.recv()
        except EOFError:
            self._process.join()
            raise ReadAheadFailed(READ_AHEAD_STOPPED.format(code=self._process.exitcode)) from None
        if isinstance(message, _Failure):
            logger.error("assignment read-ahead process failed:\n%s", message.details)
            raise ReadAheadFailed(READ_AHEAD_FAILED.format(error=message.summary))
        return message

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receiver.close()

    def __enter__(self) -> ReadAhead[Job, Result]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _serve(jobs: Sequence[Job], read: Callable, sender) -> None:
    """The child: read every job on a connection of its own and send each result."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    own = connection.copy()  # a new connection; the inherited one is the parent's session
    try:
        for job in jobs:
            sender.send(read(job, own))
    except BrokenPipeError:
        pass  # the run stopped listening: it has ended, and so does this process
    except BaseException as exc:  # every failure is reported to the run
        summary = "".join(traceback.format_exception_only(exc)).strip()
        with contextlib.suppress(OSError):
            sender.send(_Failure(summary, traceback.format_exc()))
    finally:
        own.close()
        sender.close()
