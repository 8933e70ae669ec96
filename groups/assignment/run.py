"""The group assignment run itself (SPEC §5.2): the lock, the batches, the run row.

:func:`assignment_run` takes the single-runner lock (the ``running`` AssignmentRun row, whose
heartbeat the plan and every batch refresh), makes the plan (:mod:`groups.assignment.plan`),
has each batch of whole buckets of each of the plan's waves decided
(:mod:`groups.assignment.decisions`) and written (:mod:`groups.assignment.writes`) in one
transaction, adds up the counters and closes the run row. The counters, the result and the
errors are :mod:`groups.assignment.results` (imported here too, where callers have always
found them); a dry run is :func:`groups.assignment.decisions._dry_run`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from groups.assignment.decisions import _BatchResult, _dry_run, _inheritors, _walk
from groups.assignment.plan import _Bucket, _plan
from groups.assignment.reads import _candidates, _collector_paused, _id_set, _locked_labels
from groups.assignment.results import (
    COUNTER_NAMES,
    LOCK_LOST,
    TRIGGER_INVALID,
    AssignmentAlreadyRunning,
    AssignmentArgumentInvalid,
    AssignmentLockLost,
    Counters,
    RunOutcome,
    _error_text,
    _outcome,
    iso_z,
    match_threshold,
)
from groups.assignment.writes import (
    _commit_without_waiting_for_disk,
    _group_statistics_refresh,
    _groups_create,
    _inherit,
    _memberships_write,
)
from groups.models import AssignmentRun, RunStatus, RunTrigger

__all__ = [
    "COUNTER_NAMES",
    "AssignmentAlreadyRunning",
    "AssignmentArgumentInvalid",
    "AssignmentLockLost",
    "Counters",
    "RunOutcome",
    "assignment_run",
    "iso_z",
    "match_threshold",
]

logger = logging.getLogger(__name__)

# A batch closes after this many sequences or this much time, whichever comes first; a bucket
# never spans two batches. Short transactions keep human saves in the same groups waiting briefly.
BATCH_MAX_SEQUENCES = 500
BATCH_MAX_SECONDS = 0.2
WAIT_POLL_SECONDS = 1.0
# Inserts of the running row refused although no running row could be found afterwards (the
# holder finished in between) before the error is passed on.
LOCK_ATTEMPTS = 3
# Groups created by a run after which the groups table's statistics are refreshed (once).
GROUP_STATISTICS_AFTER = 1000

STALE_RUN_ABANDONED = (
    "No heartbeat for more than {seconds} s: abandoned so that a new run could start."
)
# While it plans, a run refreshes its heartbeat at most this often (its batches refresh it too),
# far below the smallest GROUPS_ASSIGN_STALE_AFTER_SECONDS (60).
PLAN_HEARTBEAT_SECONDS = 10.0


# --- Committing batches ----------------------------------------------------------------------


def _batch_commit(
    *,
    run: AssignmentRun,
    actor,
    buckets: list[_Bucket],
    pending: deque[_Bucket],
    threshold: float,
    totals: Counters,
) -> Counters:
    """Walk and write one batch of whole buckets in one transaction; return its counters.

    Lock order as everywhere (SPEC §5.1): candidate sequences (ascending id), then the joined
    groups, then annotations (inside the stamping). Buckets left over when the batch runs out
    of time go back to the front of ``pending``.
    """
    started = time.monotonic()
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        ids = [sequence_id for bucket in buckets for sequence_id in bucket.sequence_ids]
        live = set(
            _candidates()
            .select_for_update()
            .filter(pk__in=_id_set(ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        result = _BatchResult()
        for position, bucket in enumerate(buckets):
            _walk(bucket, live, threshold, result)
            if time.monotonic() - started > BATCH_MAX_SECONDS:
                pending.extendleft(reversed(buckets[position + 1 :]))
                break

        labels = _locked_labels(result)
        joins = [join for join in result.joined_existing if join.group.id in labels]
        created = _groups_create(run=run, founders=result.founders)
        pairs = [
            (sequence_id, group_id)
            for (sequence_id, _, _), group_id in zip(result.founders, created, strict=True)
        ]
        pairs += [(sequence_id, created[index]) for sequence_id, index in result.joined_new]
        pairs += [(join.sequence_id, join.group.id) for join in joins]
        measured = {key: value for bucket in buckets for key, value in bucket.motions.items()}
        _memberships_write(sorted((sid, gid, measured.get(sid)) for sid, gid in pairs))

        counters = result.counters
        dropped = len(result.joined_existing) - len(joins)  # their group was deleted meanwhile
        counters.joined_existing -= dropped
        counters.processed -= dropped
        inheritors = _inheritors(joins, labels, counters)
        regions = {join.group.id: join.group.box for join in joins}
        counters.inherited_annotations, counters.held_back = _inherit(
            run=run, actor=actor, inheritors=inheritors, labels=labels, regions=regions
        )
        _heartbeat(run, totals, counters)
    return counters


def _heartbeat(run: AssignmentRun, totals: Counters, batch: Counters) -> None:
    """Refresh the heartbeat and store the counters, in the batch's transaction.

    Fails (rolling the batch back) when another run has marked this one abandoned meanwhile.
    """
    counters = Counters(**asdict(totals))
    counters.add(batch)
    updated = AssignmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now(), **asdict(counters)
    )
    if not updated:
        raise AssignmentLockLost(LOCK_LOST.format(run_id=run.pk))


class _PlanHeartbeat:
    """The heartbeat of a run while it plans: called between the plan's steps and chunks, it
    refreshes ``heartbeat_at`` at most every PLAN_HEARTBEAT_SECONDS, so a long plan is never
    taken for a crashed run; it raises AssignmentLockLost if another run took the lock."""

    def __init__(self, run: AssignmentRun):
        self.run = run
        self.last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last < PLAN_HEARTBEAT_SECONDS:
            return
        self.last = time.monotonic()
        updated = AssignmentRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )
        if not updated:
            raise AssignmentLockLost(LOCK_LOST.format(run_id=self.run.pk))


def _batches(buckets: Iterable[_Bucket]) -> Iterator[tuple[list[_Bucket], deque[_Bucket]]]:
    """Yield ``(batch, pending)``: whole buckets up to about BATCH_MAX_SEQUENCES sequences.

    The consumer may push buckets back onto the front of ``pending`` (a batch out of time).
    """
    pending = deque(buckets)
    while pending:
        batch, size = [], 0
        while pending and (not batch or size < BATCH_MAX_SEQUENCES):
            bucket = pending.popleft()
            batch.append(bucket)
            size += len(bucket)
        yield batch, pending


# --- The lock ---------------------------------------------------------------------------------


def _run_start(*, trigger: str, actor) -> AssignmentRun:
    """Take the lock: abandon a stale run, then insert this run's ``running`` row."""
    stale_after = settings.GROUPS_ASSIGN_STALE_AFTER_SECONDS
    for attempt in itertools.count(1):
        now = timezone.now()
        AssignmentRun.objects.filter(
            status=RunStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=stale_after)
        ).update(
            status=RunStatus.ABANDONED,
            finished_at=now,
            error=STALE_RUN_ABANDONED.format(seconds=stale_after),
        )
        try:
            with transaction.atomic():
                return AssignmentRun.objects.create(
                    status=RunStatus.RUNNING,
                    trigger=trigger,
                    triggered_by=actor,
                    started_at=now,
                    heartbeat_at=now,
                )
        except IntegrityError:
            holder = AssignmentRun.objects.filter(status=RunStatus.RUNNING).first()
            if holder is not None:
                raise AssignmentAlreadyRunning(holder) from None
            if attempt == LOCK_ATTEMPTS:
                raise
            # The holder finished between our insert and our look-up: try again.


def _run_finish(run: AssignmentRun, *, status: str, counters: Counters, error: str = "") -> None:
    """Close the run row (only while it is still ours: an abandoned row stays abandoned)."""
    AssignmentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), error=error, **asdict(counters)
    )


def _run_fail(run: AssignmentRun, *, counters: Counters, exc: BaseException) -> None:
    """Mark the run failed after an error, on a fresh connection if the error (a signal in the
    middle of a query) left this one unusable."""
    for attempt in range(2):
        try:
            _run_finish(run, status=RunStatus.FAILED, counters=counters, error=_error_text(exc))
            return
        except Exception:
            if attempt or connection.in_atomic_block:
                logger.exception("could not mark assignment run %s failed", run.pk)
                return
            connection.close()


# --- Entry points -----------------------------------------------------------------------------

Progress = Callable[[int, int], None]


def assignment_run(
    *,
    trigger: str = RunTrigger.COMMAND,
    actor=None,
    dry_run: bool = False,
    threshold: float | None = None,
    wait: bool = False,
    progress: Progress | None = None,
) -> RunOutcome:
    """Assign every candidate sequence to a group (SPEC §5.2); return the counters.

    - ``threshold`` overrides ``GROUPS_MATCH_IOU_THRESHOLD`` (0 <= x < 1, else
      AssignmentArgumentInvalid, as for an unknown ``trigger``).
    - Raises AssignmentAlreadyRunning when another live run holds the lock, unless ``wait``,
      which polls every second until the lock frees and then runs.
    - ``dry_run`` computes the same counters without writing anything and without the lock
      (no run row; ``run_id`` is None).
    - ``progress(done, total)`` is called after each committed batch.
    - The plan refreshes the heartbeat as it goes (``_PlanHeartbeat``), each batch after it
      commits.
    - On an unexpected error, or an interruption (``AssignmentInterrupted``), the run
      is marked ``failed`` with the error text and the error is re-raised; committed batches
      stay, and the next run continues with the rest at once.
    """
    started = time.monotonic()
    threshold = match_threshold(threshold)
    if trigger not in RunTrigger.values:
        raise AssignmentArgumentInvalid(TRIGGER_INVALID.format(value=trigger))
    if dry_run:
        counters = _dry_run(threshold)
        return _outcome(None, counters, started)
    while True:
        try:
            run = _run_start(trigger=trigger, actor=actor)
            break
        except AssignmentAlreadyRunning:
            if not wait:
                raise
            time.sleep(WAIT_POLL_SECONDS)
    totals = Counters()
    try:
        plan = _plan(beat=_PlanHeartbeat(run))
        with closing(plan.waves), _collector_paused():
            for wave in plan.waves:
                totals.add_skipped(wave.skipped_no_bbox)
                for batch, pending in _batches(wave.buckets):
                    batch_counters = _batch_commit(
                        run=run,
                        actor=actor,
                        buckets=batch,
                        pending=pending,
                        threshold=threshold,
                        totals=totals,
                    )
                    new_before = totals.new_groups
                    totals.add(batch_counters)
                    if new_before < GROUP_STATISTICS_AFTER <= totals.new_groups:
                        _group_statistics_refresh()
                    if progress is not None:
                        progress(totals.processed, plan.total)
    except BaseException as exc:
        _run_fail(run, counters=totals, exc=exc)
        raise
    _run_finish(run, status=RunStatus.SUCCEEDED, counters=totals)
    return _outcome(run.pk, totals, started)
