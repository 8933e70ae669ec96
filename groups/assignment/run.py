"""The group assignment run itself (SPEC §5.2): the lock, the batches, the counters.

:func:`assignment_run` takes the single-runner lock (the ``running`` AssignmentRun row, whose
heartbeat every batch refreshes), makes the plan (:mod:`groups.assignment.reads`), walks whole
buckets (:mod:`groups.matching`) and commits them in batches (:mod:`groups.assignment.writes`),
adds up the seven counters and closes the run row; a dry run computes the same counters from
reads only. The errors and result types of a run live here.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from groups.assignment.reads import (
    _Bucket,
    _candidates,
    _collector_paused,
    _GroupRow,
    _id_set,
    _locked_labels,
    _plan,
    _would_stamp,
)
from groups.assignment.writes import (
    _commit_without_waiting_for_disk,
    _group_statistics_refresh,
    _groups_create,
    _inherit,
    _memberships_write,
)
from groups.matching import bucket_walk
from groups.models import AssignmentRun, RunStatus, RunTrigger
from sequences.payloads import Label

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

ALREADY_RUNNING = (
    "A group assignment run is already in progress (run {run_id}, started {started_at})."
)
THRESHOLD_OUT_OF_RANGE = "threshold must be a number >= 0 and < 1, not {value!r}"
TRIGGER_INVALID = f"trigger must be one of {', '.join(RunTrigger.values)}, not {{value!r}}"
STALE_RUN_ABANDONED = (
    "No heartbeat for more than {seconds} s: abandoned so that a new run could start."
)
LOCK_LOST = "Run {run_id} lost its lock: another run marked it abandoned."
# While it plans, a run refreshes its heartbeat at most this often (its batches refresh it too),
# far below the smallest GROUPS_ASSIGN_STALE_AFTER_SECONDS (60).
PLAN_HEARTBEAT_SECONDS = 10.0


def iso_z(moment) -> str:
    """A UTC time as the API writes it, to the second: ``2025-07-01T10:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AssignmentAlreadyRunning(Exception):
    """Another run holds the lock; ``run`` is that live AssignmentRun. Nothing was processed."""

    def __init__(self, run: AssignmentRun):
        self.run = run
        super().__init__(ALREADY_RUNNING.format(run_id=run.pk, started_at=iso_z(run.started_at)))


class AssignmentArgumentInvalid(ValueError):
    """An argument of :func:`assignment_run` is out of range; nothing was done."""


class AssignmentLockLost(Exception):
    """The run's own row was marked abandoned by another run (its batches took too long)."""


# --- Results ----------------------------------------------------------------------------------


@dataclass
class Counters:
    """The seven counters of a run (SPEC §5.2); ``processed`` = new + joined + skipped.

    ``inherited_annotations``, ``joined_not_inherited`` and ``held_back`` count joiners of
    labeled groups (subsets of ``joined_existing``): those that got the group's label, those
    too loose to inherit, and those a safeguard held back from it.
    """

    processed: int = 0
    new_groups: int = 0
    joined_existing: int = 0
    inherited_annotations: int = 0
    joined_not_inherited: int = 0
    held_back: int = 0
    skipped_no_bbox: int = 0

    def add(self, other: Counters) -> None:
        for name in COUNTER_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


COUNTER_NAMES = tuple(f.name for f in fields(Counters))


@dataclass
class RunOutcome:
    """What a run did. ``run_id`` is None for a dry run (which inserts no run row)."""

    run_id: int | None
    processed: int
    new_groups: int
    joined_existing: int
    inherited_annotations: int
    joined_not_inherited: int
    held_back: int
    skipped_no_bbox: int
    duration_seconds: float

    def as_dict(self) -> dict[str, int | None]:
        """The SPEC §5.2 result: ``run_id`` and the seven counters."""
        return {"run_id": self.run_id, **{name: getattr(self, name) for name in COUNTER_NAMES}}


# --- Walking and committing batches -----------------------------------------------------------


@dataclass
class _Join:
    sequence_id: int
    group: _GroupRow
    iou: float


@dataclass
class _BatchResult:
    """The decisions of one batch, before anything is written."""

    counters: Counters = field(default_factory=Counters)
    founders: list[tuple[int, _Bucket, dict[str, Any]]] = field(default_factory=list)
    # (sequence_id, index into founders) of candidates joining a group founded in this batch.
    joined_new: list[tuple[int, int]] = field(default_factory=list)
    joined_existing: list[_Join] = field(default_factory=list)


def _walk(bucket: _Bucket, live: set[int] | None, threshold: float, result: _BatchResult) -> None:
    """Walk one bucket (SPEC §4.5) and record its decisions in ``result``.

    ``live`` holds the candidates still ungrouped and not excluded under the batch's lock
    (None in a dry run); the others are dropped, uncounted.
    """
    kept = [
        (sequence_id, box)
        for sequence_id, box in zip(bucket.sequence_ids, bucket.boxes, strict=True)
        if live is None or sequence_id in live
    ]
    placements = bucket_walk(
        (group.box for group in bucket.groups), (box["xyxyn"] for _, box in kept), threshold
    )
    existing = len(bucket.groups)
    founded_here: list[int] = []  # walk index -> index into result.founders
    for (sequence_id, box), (index, iou) in zip(kept, placements, strict=True):
        if iou is None:
            founded_here.append(len(result.founders))
            result.founders.append((sequence_id, bucket, box))
            result.counters.new_groups += 1
        elif index < existing:
            result.joined_existing.append(_Join(sequence_id, bucket.groups[index], iou))
            result.counters.joined_existing += 1
        else:
            result.joined_new.append((sequence_id, founded_here[index - existing]))
            result.counters.joined_existing += 1
    result.counters.processed += len(kept)


def _inheritors(
    joins: list[_Join], labels: dict[int, tuple[Label | None, bool]], counters: Counters
) -> dict[int, list[int]]:
    """``{group_id: [sequence_id, ...]}`` of the joiners that pass the §5.3 gate.

    Only when ``GROUPS_INHERITANCE_ENABLED``: a joiner of a labeled group (validated or not)
    inherits when its IoU with the group's reference exceeds ``GROUPS_INHERITANCE_MIN_IOU``;
    a looser joiner of a labeled group counts as ``joined_not_inherited``.
    """
    if not settings.GROUPS_INHERITANCE_ENABLED:
        return {}
    gate = settings.GROUPS_INHERITANCE_MIN_IOU
    inheritors: dict[int, list[int]] = {}
    for join in joins:
        label, _ = labels.get(join.group.id, (None, False))
        if label is None:
            continue
        if join.iou > gate:
            inheritors.setdefault(join.group.id, []).append(join.sequence_id)
        else:
            counters.joined_not_inherited += 1
    return inheritors


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
            size += len(bucket.sequence_ids)
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
        totals.processed = totals.skipped_no_bbox = plan.skipped_no_bbox
        with _collector_paused():
            for batch, pending in _batches(plan.buckets):
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


def match_threshold(value: float | None) -> float:
    """The IoU a sequence must strictly exceed to join a group, for a run or a replay.

    ``GROUPS_MATCH_IOU_THRESHOLD`` when ``value`` is None; otherwise ``value``, which must be a
    number with 0 <= x < 1 (else AssignmentArgumentInvalid).
    """
    if value is None:
        return settings.GROUPS_MATCH_IOU_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise AssignmentArgumentInvalid(THRESHOLD_OUT_OF_RANGE.format(value=value))
    return float(value)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _outcome(run_id: int | None, counters: Counters, started: float) -> RunOutcome:
    return RunOutcome(
        run_id=run_id, **asdict(counters), duration_seconds=round(time.monotonic() - started, 3)
    )


def _dry_run(threshold: float) -> Counters:
    """The counters a run would report now, from reads only (no lock, nothing written)."""
    plan = _plan()
    totals = Counters(processed=plan.skipped_no_bbox, skipped_no_bbox=plan.skipped_no_bbox)
    result = _BatchResult()
    for bucket in plan.buckets:
        _walk(bucket, None, threshold, result)
    labels = {
        join.group.id: (join.group.label, join.group.is_unsure) for join in result.joined_existing
    }
    inheritors = _inheritors(result.joined_existing, labels, result.counters)
    stamps = {sid: labels[gid][0] for gid, ids in inheritors.items() for sid in ids}
    result.counters.inherited_annotations, result.counters.held_back = _would_stamp(stamps)
    totals.add(result.counters)
    return totals
