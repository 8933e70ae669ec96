"""Records through the pipeline with the next one fetched while the current one is written.

A pull or a clone spends each sequence's time in two halves: the network (its detections
listed, its images downloaded and checked: `record_prepare`, no database) and the database (the
transaction of `record_import`, the files stored). `records_process` overlaps them: while record
k is written by this thread, record k+1 is built and its images loaded by one background
thread. Only those two records' images are ever held, each record still lands whole or not at
all, and the database is only touched by the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sequences.importing.pipeline import (
    Prepared,
    RecordError,
    SequenceRecord,
    StoredHook,
    record_exists,
    record_import,
    record_prepare,
)
from sequences.importing.report import ImportReport
from sequences.services import AutogenParams


@dataclass
class PipelineItem:
    """One record of a source: as `record_process` takes it."""

    ref: str
    key: tuple[str, int] | None
    build: Callable[[], SequenceRecord]
    on_stored: StoredHook | None = None


def _prepare(item: PipelineItem) -> tuple[SequenceRecord, Prepared | None]:
    record = item.build()
    return record, record_prepare(record)


def records_process(
    report: ImportReport,
    items: Iterable[PipelineItem],
    *,
    autogen: AutogenParams,
    after: Callable[[PipelineItem], None] | None = None,
) -> None:
    """`record_process` for each item, in order, the next one prepared in the background.

    A present key is counted `already_present` without being built. `after(item)` runs in
    this thread once an item is counted (a progress tick, a mark on the remote). An exception
    other than RecordError (a refused login) stops the walk, as with `record_process`.
    """
    todo = []
    for item in items:
        if item.key is not None and record_exists(*item.key):
            report.already_present += 1
            if after is not None:
                after(item)
        else:
            todo.append(item)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-ahead") as ahead:
        upcoming: Future | None = ahead.submit(_prepare, todo[0]) if todo else None
        for index, item in enumerate(todo):
            current = upcoming
            upcoming = ahead.submit(_prepare, todo[index + 1]) if index + 1 < len(todo) else None
            try:
                record, prepared = current.result()
                counts = record_import(
                    record, autogen=autogen, on_stored=item.on_stored, prepared=prepared
                )
            except RecordError as exc:
                report.record_failed(item.ref, exc.errors)
            except BaseException:
                if upcoming is not None:
                    upcoming.cancel()
                raise
            else:
                report.record_counted(counts)
            if after is not None:
                after(item)
