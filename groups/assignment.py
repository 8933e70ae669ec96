"""The group assignment run: ungrouped sequences -> group memberships (SPEC §4.4, §4.5, §5.2, §5.3).

One entry point, :func:`assignment_run`, used by ``manage.py assign_groups``, the API and the
importers. A run

1. takes the single-runner lock: a stale ``running`` row (no heartbeat for
   ``GROUPS_ASSIGN_STALE_AFTER_SECONDS``) is marked ``abandoned``, then the run inserts its own
   ``running`` row, which the partial unique constraint refuses while another run is alive;
2. snapshots the candidates (no group, not excluded) in ``(recorded_at, id)`` order and reads the
   first ``GROUPS_REPRESENTATIVE_DETECTIONS`` detections of all of them in ONE streamed query;
3. walks every (camera, azimuth) bucket in memory (numpy IoUs of the candidates against all of
   the bucket's boxes, in a sequential walk) and writes whole buckets in batches of about
   ``BATCH_MAX_SEQUENCES`` sequences or ``BATCH_MAX_SECONDS``, each batch in its own
   transaction: lock the candidates, bulk-create the groups, one statement for the
   memberships, inheritance set-wise, heartbeat.

The number of queries grows with the number of batches, never with the number of sequences
nor with the number of labeled groups receiving inheritors. :func:`assignment_replay` runs the
same walk over the whole history in memory for ``manage.py group_report``.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, timedelta
from operator import itemgetter
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils import timezone

from groups.models import (
    AssignmentRun,
    GroupOperation,
    OperationKind,
    RunStatus,
    RunTrigger,
    SequenceGroup,
)
from groups.services import group_stamps_write
from sequences.boxes import iou_matrix, representative_box
from sequences.models import (
    LOCKED_STAGES,
    Detection,
    LabelSource,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label
from sequences.services import MachineStamp, annotation_generate, ordered_predictions

logger = logging.getLogger(__name__)

# A batch closes after this many sequences or this much time, whichever comes first; a bucket
# never spans two batches. Short transactions keep human saves in the same groups waiting briefly.
BATCH_MAX_SEQUENCES = 500
BATCH_MAX_SECONDS = 0.2
WAIT_POLL_SECONDS = 1.0
# Inserts of the running row refused although no running row could be found afterwards (the
# holder finished in between) before the error is passed on.
LOCK_ATTEMPTS = 3
# Candidates whose IoUs the walk computes in one matrix (rows x known groups + rows).
WALK_BLOCK = 256
# Groups created by a run after which the groups table's statistics are refreshed (once).
GROUP_STATISTICS_AFTER = 1000
# Rows fetched per round trip by the streamed read of the candidates' detections.
READ_CHUNK_ROWS = 5000

ALREADY_RUNNING = (
    "A group assignment run is already in progress (run {run_id}, started {started_at})."
)
THRESHOLD_OUT_OF_RANGE = "threshold must be a number >= 0 and < 1, not {value!r}"
TRIGGER_INVALID = f"trigger must be one of {', '.join(RunTrigger.values)}, not {{value!r}}"
STALE_RUN_ABANDONED = (
    "No heartbeat for more than {seconds} s: abandoned so that a new run could start."
)
LOCK_LOST = "Run {run_id} lost its lock: another run marked it abandoned."


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
    """The six counters of a run (SPEC §5.2); ``processed`` = new + joined + skipped."""

    processed: int = 0
    new_groups: int = 0
    joined_existing: int = 0
    inherited_annotations: int = 0
    joined_not_inherited: int = 0
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
    skipped_no_bbox: int
    duration_seconds: float

    def as_dict(self) -> dict[str, int | None]:
        """The SPEC §5.2 result: ``run_id`` and the six counters."""
        return {"run_id": self.run_id, **{name: getattr(self, name) for name in COUNTER_NAMES}}


# --- Pure matching (SPEC §4.5) ----------------------------------------------------------------


def bucket_walk(
    group_boxes: Iterable[Iterable[float]],
    candidate_boxes: Iterable[Iterable[float]],
    threshold: float,
) -> list[tuple[int, float | None]]:
    """Match the candidates of one (camera, azimuth) bucket, in order, against its groups.

    ``group_boxes`` are the bucket's existing groups in ascending id order; each candidate is
    matched against them and against the groups founded earlier in this walk (appended in
    creation order, so list order stays id order). The best IoU strictly above ``threshold``
    wins and ``argmax`` keeps the first of equal maxima, i.e. the lowest id. Returns, per
    candidate, ``(index, iou)``: the index of its group in that growing list, and the IoU with
    the group's reference box, or None when the candidate founded the group at ``index``.

    The IoUs come in blocks of WALK_BLOCK candidates: one ``iou_matrix`` of the block against
    every group known when the block starts AND against the block's own candidates, whose
    columns stay masked (-1) until their candidate founds a group. The walk itself stays
    sequential, but each step is one ``argmax`` over a precomputed row instead of a fresh
    numpy IoU whose fixed cost dominated on buckets of tens of groups.
    """
    existing = np.asarray(list(group_boxes), dtype=np.float64).reshape(-1, 4)
    candidates = np.asarray(list(candidate_boxes), dtype=np.float64).reshape(-1, 4)
    references = np.concatenate([existing, np.empty_like(candidates)])
    count = len(existing)
    placements: list[tuple[int, float | None]] = []
    for start in range(0, len(candidates), WALK_BLOCK):
        block = candidates[start : start + WALK_BLOCK]
        known = count
        scores = iou_matrix(block, np.concatenate([references[:known], block]))
        own = scores[:, known:].copy()
        scores[:, known:] = -1.0
        group_of_column = list(range(known)) + [-1] * len(block)
        for position, box in enumerate(block):
            row = scores[position]
            best = int(row.argmax())
            score = float(row[best])
            if score > threshold:
                placements.append((group_of_column[best], score))
                continue
            references[count] = box
            group_of_column[known + position] = count
            scores[:, known + position] = own[:, position]
            placements.append((count, None))
            count += 1
    return placements


# --- Bulk reads -------------------------------------------------------------------------------


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk phase.

    Decoding a million detections allocates millions of small dicts and lists; every so many
    allocations the collector walks all live objects, which cost a third of the time of the
    read (and a fifth of the batches, which walk them again). Reference counting still frees
    everything without cycles at once; the few cycles the ORM leaves wait for the collector to
    resume when the phase ends (a 100,000-sequence run peaks at about 150 MB).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _id_set(ids: list[int]) -> list[int] | RawSQL:
    """The right side of an ``__in`` lookup over a batch of ids.

    On PostgreSQL one array parameter (``IN (SELECT unnest(%s))``) instead of one placeholder
    per id, which the driver would otherwise splice into the statement one by one.
    """
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [_int_array(ids)])
    return ids


def _int_array(values: Iterable[int]) -> str:
    """Integers as one PostgreSQL array literal, for a ``%s::bigint[]`` parameter.

    The driver quotes a Python list element by element in Python (a regex search per value,
    a fifth of a first run's batch time); one plain string costs a ``join``. Integers only, so
    there is nothing to escape.
    """
    return "{" + ",".join(map(str, values)) + "}"


def _first_detections(sequences: QuerySet[Sequence]) -> QuerySet:
    """``(sequence_id, algo_predictions)`` of the first N detections of each sequence.

    N = ``GROUPS_REPRESENTATIVE_DETECTIONS``, by ``(recorded_at, id)``; rows come grouped by
    sequence. One query (a ROW_NUMBER window, on SQLite and PostgreSQL); the sequences are
    selected by a subquery on their predicate, never by a list of ids.
    """
    rank = Window(
        RowNumber(),
        partition_by=[F("sequence_id")],
        order_by=[F("recorded_at").asc(), F("id").asc()],
    )
    return (
        Detection.objects.filter(sequence__in=sequences.values("pk"))
        .annotate(rank=rank)
        .filter(rank__lte=settings.GROUPS_REPRESENTATIVE_DETECTIONS)
        .order_by("sequence_id")
        .values_list("sequence_id", "algo_predictions")
    )


def _decode_all(texts: list[Any]) -> list[Any]:
    """JSON-decode a chunk of stored documents with one ``json.loads`` call.

    One call over ``[doc, doc, ...]`` costs about half of one call per document, and decoding
    is the largest part of reading the detections. A chunk that does not decode as a whole
    (a value the driver already decoded, or a malformed one) is decoded row by row, a
    malformed document counting as no predictions.
    """
    try:
        decoded = json.loads("[" + ",".join(texts) + "]")
    except (TypeError, ValueError):
        decoded = None
    if isinstance(decoded, list) and len(decoded) == len(texts):
        return decoded
    return [_decode_one(text) for text in texts]


def _decode_one(text: Any) -> Any:
    if not isinstance(text, (str, bytes)):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first_detection_rows(sequences: QuerySet[Sequence]) -> Iterator[tuple[int, Any]]:
    """Stream ``(sequence_id, algo_predictions)`` of :func:`_first_detections`.

    The ORM builds the query; a chunked (server-side on PostgreSQL) cursor fetches it, and
    each chunk is decoded at once instead of per row through the field converters.
    """
    sql, params = _first_detections(sequences).query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        for rows in _read_ahead(lambda: cursor.fetchmany(READ_CHUNK_ROWS)):
            decoded = _decode_all([row[1] for row in rows])
            yield from zip(map(itemgetter(0), rows), decoded, strict=True)


def _read_ahead(fetch: Callable[[], list]) -> Iterator[list]:
    """The chunks ``fetch()`` returns until an empty one, each fetched while the last is used.

    A helper thread waits for the database's next chunk while this one decodes the current
    chunk and computes its boxes, so the transfer hides behind the work instead of adding to
    it. Only that thread touches the cursor meanwhile: the consumer runs no query.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assignment-read") as reader:
        chunk = reader.submit(fetch)
        while rows := chunk.result():
            chunk = reader.submit(fetch)
            yield rows


def representative_boxes(sequences: QuerySet[Sequence]) -> dict[int, dict[str, Any]]:
    """``{sequence_id: {"xyxyn": [...], "confidence": c}}`` for every sequence that has one.

    SPEC §4.4 for a whole set at once: one streamed query, rows decoded chunk by chunk so that
    memory holds the results, not the detections. Sequences without a usable box are absent.
    """
    result: dict[int, dict[str, Any]] = {}
    # closing(): should the loop raise, the read-ahead's pending fetch is awaited and the cursor
    # closed right away, before the caller's error handling uses the connection again.
    with _collector_paused(), closing(_first_detection_rows(sequences)) as rows:
        for sequence_id, group in itertools.groupby(rows, key=itemgetter(0)):
            box = representative_box(predictions for _, predictions in group)
            if box is not None:
                result[sequence_id] = box
    return result


def _candidates() -> QuerySet[Sequence]:
    return Sequence.objects.filter(group__isnull=True, is_group_excluded=False)


@dataclass
class _GroupRow:
    """What a run knows of an existing group before its batch locks it."""

    id: int
    box: list[float]
    label: Label | None
    is_unsure: bool


@dataclass
class _Bucket:
    """One (camera, azimuth) bucket: its candidates in walk order and its existing groups."""

    camera_id: int
    azimuth: int
    sequence_ids: list[int] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)
    groups: list[_GroupRow] = field(default_factory=list)


@dataclass
class _Plan:
    total: int
    skipped_no_bbox: int
    buckets: list[_Bucket]


def _plan() -> _Plan:
    """Snapshot the candidates, read their representative boxes and their buckets' groups.

    Three queries whatever the backlog: the ordered candidate ids, the streamed detections,
    and the groups of the cameras and azimuths that hold a candidate. Candidates
    arriving after the snapshot are ignored until the next run.
    """
    snapshot = list(
        _candidates().order_by("recorded_at", "id").values_list("id", "camera_id", "azimuth")
    )
    found = representative_boxes(_candidates().filter(azimuth__isnull=False))
    buckets: dict[tuple[int, int], _Bucket] = {}
    skipped = 0
    for sequence_id, camera_id, azimuth in snapshot:
        box = found.get(sequence_id)
        if azimuth is None or box is None:
            skipped += 1
            continue
        bucket = buckets.get((camera_id, azimuth))
        if bucket is None:
            bucket = buckets[camera_id, azimuth] = _Bucket(camera_id, azimuth)
        bucket.sequence_ids.append(sequence_id)
        bucket.boxes.append(box)
    # The buckets' cameras and azimuths come from the snapshot in memory: an index lookup per
    # camera whatever the planner's statistics say (an EXISTS over the candidates degrades
    # badly right after a big run, before statistics catch up). Other azimuths are dropped below.
    cameras = sorted({camera_id for camera_id, _ in buckets})
    azimuths = sorted({azimuth for _, azimuth in buckets})
    rows = (
        SequenceGroup.objects.filter(camera_id__in=_id_set(cameras), azimuth__in=azimuths)
        .order_by("id")
        .values_list(
            "id",
            "camera_id",
            "azimuth",
            "representative_bbox",
            "smoke_type",
            "false_positive_type",
            "is_unsure",
        )
    )
    for group_id, camera_id, azimuth, bbox, smoke, fp, is_unsure in rows:
        bucket = buckets.get((camera_id, azimuth))
        if bucket is not None:
            label = Label.from_columns(smoke, fp)
            bucket.groups.append(_GroupRow(group_id, bbox["xyxyn"], label, is_unsure))
    return _Plan(len(snapshot), skipped, list(buckets.values()))


# --- Walking and writing batches --------------------------------------------------------------


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


def _groups_create(
    *, run: AssignmentRun, founders: list[tuple[int, _Bucket, dict[str, Any]]]
) -> list[int]:
    """Create one unlabeled, unvalidated group per founder; return their ids in order.

    SQLite: ``bulk_create``. PostgreSQL: one ``INSERT ... SELECT FROM unnest(...)`` of the
    three columns that vary, whose parameters are three arrays: Django's own bulk insert
    passes all fourteen columns as arrays that the driver escapes value by value, which cost
    more than the rest of a first run's batches together. Ids come from the table's sequence
    in insertion order, which follows ``position``; sorting them restores the founders' order.
    """
    if not founders:
        return []
    if connection.vendor != "postgresql":
        groups = SequenceGroup.objects.bulk_create(
            SequenceGroup(
                camera_id=bucket.camera_id,
                azimuth=bucket.azimuth,
                representative_bbox=box,
                created_by_run=run,
            )
            for _, bucket, box in founders
        )
        return [group.pk for group in groups]
    quote = connection.ops.quote_name
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(SequenceGroup._meta.db_table)} (camera_id, azimuth, "
            "representative_bbox, is_unsure, is_validated, created_by_run_id, created_at, "
            "updated_at) SELECT camera_id, azimuth, box, false, false, %s, %s, %s "
            "FROM ROWS FROM (unnest(%s::bigint[]), unnest(%s::smallint[]), "
            "jsonb_array_elements(%s::jsonb)) "
            "WITH ORDINALITY AS founder(camera_id, azimuth, box, position) "
            "ORDER BY position RETURNING id",
            [
                run.pk,
                now,
                now,
                _int_array(bucket.camera_id for _, bucket, _ in founders),
                _int_array(bucket.azimuth for _, bucket, _ in founders),
                json.dumps([box for _, _, box in founders]),
            ],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _memberships_write(pairs: list[tuple[int, int]]) -> None:
    """Set ``group_id`` of many sequences ``(sequence_id, group_id)`` in one statement.

    PostgreSQL: ``UPDATE ... FROM unnest(ids, group_ids)``, two array parameters whatever the
    number of rows. SQLite: ``UPDATE ... FROM (VALUES ...)`` (SQLite >= 3.33), split where the
    backend caps the number of parameters.
    """
    if not pairs:
        return
    quote = connection.ops.quote_name
    table, group_id, id_ = quote(Sequence._meta.db_table), quote("group_id"), quote("id")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sequence_ids, group_ids = zip(*pairs, strict=True)
            cursor.execute(
                f"UPDATE {table} SET {group_id} = v.group_id "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, group_id) "
                f"WHERE {table}.{id_} = v.id",
                [_int_array(sequence_ids), _int_array(group_ids)],
            )
            return
        size = (connection.features.max_query_params or 2 * len(pairs)) // 2
        for start in range(0, len(pairs), size):
            chunk = pairs[start : start + size]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {group_id} = v.column2 "
                f"FROM (VALUES {values}) AS v WHERE {table}.{id_} = v.column1",
                [value for pair in chunk for value in pair],
            )


def _inherit(*, run: AssignmentRun, actor, inheritors: dict[int, list[int]], labels: dict) -> int:
    """Seed-and-stamp the inheritors, one ``inherit`` operation per (run, group) (SPEC §5.3).

    Returns the number of annotations written. An operation that wrote nothing (every
    inheritor locked or without predictions) is deleted again: empty operations are not kept.
    """
    if not inheritors:
        return 0
    operations = GroupOperation.objects.bulk_create(
        GroupOperation(
            kind=OperationKind.INHERIT,
            group_id=group_id,
            actor=actor,
            run=run,
            details={"label": str(labels[group_id][0])},
        )
        for group_id in inheritors
    )
    stamps = {}
    for operation in operations:
        label, is_unsure = labels[operation.group_id]
        stamp = MachineStamp(label, is_unsure, operation.group_id, operation.pk)
        stamps.update(dict.fromkeys(inheritors[operation.group_id], stamp))
    outcomes = group_stamps_write(stamps=stamps, source=LabelSource.INHERITED, actor=actor)
    written = {stamps[outcome.sequence_id].operation_id for outcome in outcomes if outcome.applied}
    empty = [operation.pk for operation in operations if operation.pk not in written]
    if empty:
        GroupOperation.objects.filter(pk__in=empty).delete()
    return sum(outcome.applied for outcome in outcomes)


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
        _memberships_write(sorted(pairs))

        counters = result.counters
        dropped = len(result.joined_existing) - len(joins)  # their group was deleted meanwhile
        counters.joined_existing -= dropped
        counters.processed -= dropped
        inheritors = _inheritors(joins, labels, counters)
        counters.inherited_annotations = _inherit(
            run=run, actor=actor, inheritors=inheritors, labels=labels
        )
        _heartbeat(run, totals, counters)
    return counters


def _commit_without_waiting_for_disk() -> None:
    """On PostgreSQL, let this batch's commit return before its WAL reaches the disk.

    A crash can then lose the last few committed batches, never part of one, and the database
    stays consistent: exactly as if the run had stopped before them, so the next run redoes
    them. Any later synchronous commit (the run's final status, a human save) flushes them
    first. Waiting for the disk once per batch would otherwise dominate a long run.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _group_statistics_refresh() -> None:
    """Refresh PostgreSQL's statistics of the groups table once a run has grown it a lot.

    Every membership written triggers a foreign-key check against the groups table at commit,
    and the connection plans that check once and keeps the plan. A first run on a new site
    plans it while the table is nearly empty, so the kept plan scans the whole table, and the
    run slows down quadratically as the table grows (autovacuum's ANALYZE, when it is on,
    comes minutes later). ANALYZE invalidates the kept plan; with real statistics it is
    re-planned as an index lookup.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(SequenceGroup._meta.db_table)}")


def _locked_labels(result: _BatchResult) -> dict[int, tuple[Label | None, bool]]:
    """Lock the groups this batch joins and read their current label (one query).

    The lock keeps a concurrent label change or deletion out until the batch commits; a group
    deleted since the plan is absent, and its joiners wait for the next run.
    """
    group_ids = sorted({join.group.id for join in result.joined_existing})
    if not group_ids:
        return {}
    rows = (
        SequenceGroup.objects.select_for_update()
        .filter(pk__in=_id_set(group_ids))
        .order_by("pk")
        .values_list("pk", "smoke_type", "false_positive_type", "is_unsure")
    )
    return {pk: (Label.from_columns(smoke, fp), is_unsure) for pk, smoke, fp, is_unsure in rows}


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
    - On an unexpected error the run is marked ``failed`` with the error text and the error is
      re-raised; committed batches stay, and the next run continues with the rest.
    """
    started = time.monotonic()
    threshold = _threshold(threshold)
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
        plan = _plan()
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
        try:
            _run_finish(run, status=RunStatus.FAILED, counters=totals, error=_error_text(exc))
        except Exception:
            logger.exception("could not mark assignment run %s failed", run.pk)
        raise
    _run_finish(run, status=RunStatus.SUCCEEDED, counters=totals)
    return _outcome(run.pk, totals, started)


def _threshold(value: float | None) -> float:
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
    result.counters.inherited_annotations = len(
        _would_seed([sid for ids in inheritors.values() for sid in ids])
    )
    totals.add(result.counters)
    return totals


def _would_seed(sequence_ids: list[int]) -> set[int]:
    """The sequences a seed-and-stamp would write (SPEC §4.8): writable, and clusters to seed."""
    if not sequence_ids:
        return set()
    locked = set(
        SequenceAnnotation.objects.filter(
            sequence_id__in=_id_set(sequence_ids), processing_stage__in=LOCKED_STAGES
        ).values_list("sequence_id", flat=True)
    )
    writable = [sequence_id for sequence_id in sequence_ids if sequence_id not in locked]
    return {
        sequence_id
        for sequence_id, detections in ordered_predictions(_id_set(writable)).items()
        if annotation_generate(detections=detections)["sequences_bbox"]
    }


# --- Replay over the whole history (manage.py group_report) -----------------------------------


@dataclass(frozen=True)
class ReplaySequence:
    id: int
    bucket: tuple[int, int]
    box: list[float]


@dataclass
class ReplayHistory:
    """Every sequence with an azimuth and a box, in ``(recorded_at, id)`` order."""

    sequences: list[ReplaySequence]
    skipped_no_bbox: int


@dataclass(frozen=True)
class Placement:
    """Where a replayed sequence landed: a replay-local group number and its IoU with it.

    ``iou`` is None for the sequence that founded the group (a new group, SPEC §5.2).
    """

    sequence_id: int
    group: int
    iou: float | None


def replay_history_read() -> ReplayHistory:
    """Read the whole history once for replays: all sequences with an azimuth, grouped or not.

    Two queries (ids, then the streamed first detections); nothing is written.
    """
    with_azimuth = Sequence.objects.filter(azimuth__isnull=False)
    found = representative_boxes(with_azimuth)
    rows = with_azimuth.order_by("recorded_at", "id").values_list("id", "camera_id", "azimuth")
    sequences, skipped = [], 0
    for sequence_id, camera_id, azimuth in rows:
        box = found.get(sequence_id)
        if box is None:
            skipped += 1
        else:
            sequences.append(ReplaySequence(sequence_id, (camera_id, azimuth), box["xyxyn"]))
    return ReplayHistory(sequences, skipped)


def assignment_replay(*, history: ReplayHistory, threshold: float) -> list[Placement]:
    """Replay the assignment over ``history`` from scratch (no groups), purely in memory.

    The same walk as a run (:func:`bucket_walk`), as if every sequence arrived in
    ``(recorded_at, id)`` order into an empty database. Returns one Placement per sequence,
    in history order.
    """
    threshold = _threshold(threshold)
    by_bucket: dict[tuple[int, int], list[ReplaySequence]] = {}
    for sequence in history.sequences:
        by_bucket.setdefault(sequence.bucket, []).append(sequence)
    placed: dict[int, Placement] = {}
    next_group = 0
    for members in by_bucket.values():
        walk = bucket_walk((), (member.box for member in members), threshold)
        for member, (index, iou) in zip(members, walk, strict=True):
            placed[member.id] = Placement(member.id, next_group + index, iou)
        next_group += sum(1 for _, iou in walk if iou is None)
    return [placed[sequence.id] for sequence in history.sequences]
