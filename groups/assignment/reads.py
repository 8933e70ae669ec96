"""The reads of the group assignment run (SPEC §4.4, §5.2): candidates, detections, batches.

- the candidates (no group, not excluded);
- the first ``GROUPS_REPRESENTATIVE_DETECTIONS`` detections of a whole set of sequences in ONE
  streamed query, each chunk fetched by a read-ahead thread while the last one is decoded, with
  the cyclic garbage collector paused, and what they give: representative boxes and motions
  (:func:`first_frames_read`, and the stream the plan of :mod:`groups.assignment.plan` reads);
  the same for a set of ids on a given connection (:func:`first_frames_of_ids`, what the
  run's read-ahead process reads);
- the reads of a batch under its lock (the joined groups' labels) and of a dry run (which
  inheritors a seed-and-stamp would write, and which the safeguards would hold back);
- the array parameters that the plan and the writes share.

Nothing here writes.
"""

from __future__ import annotations

import gc
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from groups.models import SequenceGroup
from sequences.boxes import box_and_motion
from sequences.models import LOCKED_STAGES, Detection, Sequence, SequenceAnnotation
from sequences.payloads import Label
from sequences.safeguards import Thresholds, hold_back
from sequences.services import (
    annotation_generate,
    ordered_predictions,
    sequence_signals,
)

if TYPE_CHECKING:
    from groups.assignment.decisions import _BatchResult

# Rows fetched per round trip by the streamed read of the candidates' detections.
READ_CHUNK_ROWS = 5000


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


def _float_array(values: Iterable[float | None]) -> str:
    """Floats or None as one PostgreSQL array literal, for a ``%s::float8[]`` parameter."""
    return "{" + ",".join("NULL" if value is None else repr(float(value)) for value in values) + "}"


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


def _first_detection_rows(
    sequences: QuerySet[Sequence], *, between: Callable[[], None] | None = None
) -> Iterator[tuple[int, Any]]:
    """Stream ``(sequence_id, algo_predictions)`` of :func:`_first_detections`.

    The ORM builds the query; a chunked (server-side on PostgreSQL) cursor fetches it, and
    each chunk is decoded at once instead of per row through the field converters.
    ``between`` runs between two chunks, while no fetch is in flight (see :func:`_read_ahead`).
    """
    sql, params = _first_detections(sequences).query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        for rows in _read_ahead(lambda: cursor.fetchmany(READ_CHUNK_ROWS), between=between):
            decoded = _decode_all([row[1] for row in rows])
            yield from zip(map(itemgetter(0), rows), decoded, strict=True)


def _read_ahead(
    fetch: Callable[[], list], *, between: Callable[[], None] | None = None
) -> Iterator[list]:
    """The chunks ``fetch()`` returns until an empty one, each fetched while the last is used.

    A helper thread waits for the database's next chunk while this one decodes the current
    chunk and computes its boxes, so the transfer hides behind the work instead of adding to
    it. Only that thread touches the cursor meanwhile: the consumer runs no query. ``between``
    (the run's heartbeat, which writes) runs when a chunk has arrived and before the next fetch
    is asked for, the one moment the connection is idle.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assignment-read") as reader:
        chunk = reader.submit(fetch)
        while rows := chunk.result():
            if between is not None:
                between()
            chunk = reader.submit(fetch)
            yield rows


@dataclass
class FirstFrames:
    """What the first detections of a set of sequences give.

    ``boxes``: ``{sequence_id: {"xyxyn": [...], "confidence": c}}`` for every sequence that has
    a representative box; ``motions``: ``{sequence_id: motion}`` for the sequences whose motion
    was asked for and could be measured (``sequences.services.motion_of``: enough framed boxes).
    """

    boxes: dict[int, dict[str, Any]] = field(default_factory=dict)
    motions: dict[int, float] = field(default_factory=dict)


def first_frames_read(
    sequences: QuerySet[Sequence],
    *,
    measure_motion: Collection[int] = frozenset(),
    between_chunks: Callable[[], None] | None = None,
) -> FirstFrames:
    """The representative boxes of ``sequences`` and the motion of those in ``measure_motion``.

    SPEC §4.4 for a whole set at once: one streamed query, rows decoded chunk by chunk so that
    memory holds the results, not the detections; the motion is measured from the same frames
    as the box. Sequences without a usable box are absent from ``boxes``.
    ``between_chunks`` runs between two chunks of the read (a run's heartbeat).
    """
    result = FirstFrames()
    frames = _first_frames(sequences, measure_motion=measure_motion, between_chunks=between_chunks)
    with _collector_paused(), closing(frames):
        for sequence_id, box, motion in frames:
            if motion is not None:
                result.motions[sequence_id] = motion
            if box is not None:
                result.boxes[sequence_id] = box
    return result


def _first_frames(
    sequences: QuerySet[Sequence],
    *,
    measure_motion: Collection[int],
    between_chunks: Callable[[], None] | None,
) -> Iterator[tuple[int, dict[str, Any] | None, float | None]]:
    """``(sequence_id, representative box or None, motion or None)`` of each sequence that has
    detections, by ascending id, as the streamed read goes; the motion only for the sequences
    in ``measure_motion``. Close it (``contextlib.closing``) where it may be left unfinished."""
    # closing(): should the consumer raise, the read-ahead's pending fetch is awaited and the
    # cursor closed right away, before the caller's error handling uses the connection again.
    rows = _first_detection_rows(sequences, between=between_chunks)
    with closing(rows):
        # One pass over each sequence's frames gives both (the query keeps the first
        # GROUPS_REPRESENTATIVE_DETECTIONS frames, those motion_of measures).
        frames_of = itemgetter(1)
        for sequence_id, group in itertools.groupby(rows, key=itemgetter(0)):
            box, motion = box_and_motion(
                map(frames_of, group), motion=sequence_id in measure_motion
            )
            yield sequence_id, box, motion


def first_frames_of_ids(
    ids: list[int], *, measure_motion: Collection[int], using: BaseDatabaseWrapper
) -> Iterator[tuple[int, dict[str, Any] | None, float | None]]:
    """What :func:`_first_frames` gives, for the sequences ``ids`` picked by id (PostgreSQL).

    The read of the run's read-ahead process (:mod:`groups.assignment.read_ahead`), on its
    own connection ``using``: a wave of whole buckets is a set of ids scattered over the
    history, so each sequence's first frames come from the ``det_sequence_order_idx`` range
    of its id, aggregated into one row per sequence (no order between rows to rely on). The
    ids go in slices of READ_CHUNK_ROWS // 10 sequences, each fetched while the last is
    decoded. Sequences without detections are absent.
    """
    quote = using.ops.quote_name
    slice_size = max(READ_CHUNK_ROWS // 10, 1)
    sql = (
        "SELECT s.id, (SELECT string_agg(d.predictions, ',' ORDER BY d.recorded_at, d.id) "
        f"FROM (SELECT algo_predictions::text AS predictions, recorded_at, id "
        f"FROM {quote(Detection._meta.db_table)} WHERE sequence_id = s.id "
        "ORDER BY recorded_at, id LIMIT %s) d) FROM unnest(%s::bigint[]) AS s(id)"
    )
    limit = settings.GROUPS_REPRESENTATIVE_DETECTIONS
    slices = iter(range(0, len(ids), slice_size))

    def fetch() -> list[tuple[int, str | None]]:
        start = next(slices, None)
        if start is None:
            return []
        with using.cursor() as cursor:
            cursor.execute(sql, [limit, _int_array(ids[start : start + slice_size])])
            return [row for row in cursor.fetchall() if row[1] is not None]

    # The fetches run on the read-ahead thread, one at a time, while this thread decodes.
    using.inc_thread_sharing()
    try:
        for rows in _read_ahead(fetch):
            decoded = _decode_all(["[" + frames + "]" for _, frames in rows])
            for (sequence_id, _), frames in zip(rows, decoded, strict=True):
                box, motion = box_and_motion(frames or (), motion=sequence_id in measure_motion)
                yield sequence_id, box, motion
    finally:
        using.dec_thread_sharing()


def representative_boxes(sequences: QuerySet[Sequence]) -> dict[int, dict[str, Any]]:
    """``{sequence_id: {"xyxyn": [...], "confidence": c}}`` for every sequence that has one."""
    return first_frames_read(sequences).boxes


def _candidates() -> QuerySet[Sequence]:
    return Sequence.objects.filter(group__isnull=True, is_group_excluded=False)


def _locked_labels(result: _BatchResult) -> dict[int, tuple[Label | None, bool]]:
    """Lock the groups this batch joins and read their current label (one query).

    The lock keeps a concurrent label change, merge or deletion out until the batch commits; a
    group deleted or merged into another since the plan is absent, and its joiners wait for
    the next run (which sees the merged group's members in the target).
    """
    group_ids = sorted({join.group.id for join in result.joined_existing})
    if not group_ids:
        return {}
    rows = (
        SequenceGroup.objects.select_for_update()
        .filter(pk__in=_id_set(group_ids), merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", "smoke_type", "false_positive_type", "is_unsure")
    )
    return {pk: (Label.from_columns(smoke, fp), is_unsure) for pk, smoke, fp, is_unsure in rows}


def _would_stamp(stamps: dict[int, Label]) -> tuple[int, int]:
    """``(written, held back)``: what a seed-and-stamp of ``stamps`` (``{sequence_id: label}``)
    would do, decided as the write decides (SPEC §4.8 and the machine-label safeguards).

    A sequence is written when it is writable, has clusters to seed and no safeguard holds it
    back from its label. Reads only: the motion a write would measure is measured, not stored.
    """
    if not stamps:
        return 0, 0
    locked = set(
        SequenceAnnotation.objects.filter(
            sequence_id__in=_id_set(list(stamps)), processing_stage__in=LOCKED_STAGES
        ).values_list("sequence_id", flat=True)
    )
    writable = [sequence_id for sequence_id in stamps if sequence_id not in locked]
    detections = ordered_predictions(_id_set(writable))
    seeded = [
        sequence_id
        for sequence_id, own in detections.items()
        if annotation_generate(detections=own)["sequences_bbox"]
    ]
    signals = sequence_signals(_id_set(seeded), detections)
    thresholds = Thresholds.from_settings(settings)
    held = sum(
        1
        for sequence_id in seeded
        if hold_back(
            smoke=stamps[sequence_id].kind == "smoke",
            signals=signals[sequence_id],
            thresholds=thresholds,
        )
        is not None
    )
    return len(seeded) - held, held
