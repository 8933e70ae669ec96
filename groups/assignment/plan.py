"""The plan of a group assignment run (SPEC §4.4, §5.2): its candidates, in buckets, in order.

A run snapshots the candidates (no group, not excluded) in ``(recorded_at, id)`` order, reads
their representative boxes (and the motion of those not measured yet) from their first
detections, and puts each candidate with a box and an azimuth into its (camera, azimuth)
bucket, with the bucket's existing groups that one of its candidates could join. The buckets
come in waves: one in-process wave of them all, or, for a large backlog, waves of whole buckets
read ahead by a second process while the run writes the wave before
(:mod:`groups.assignment.read_ahead`).

Memory is bounded by arrays, not by Python objects per sequence: the snapshot is read in
chunks into numpy columns, the boxes go straight from the streamed read into flat arrays, and
a bucket is a slice of row positions into them; a bucket's ids, boxes and motions become
Python objects only while its batch is walked and written (a million candidates hold about
60 MB of arrays instead of gigabytes of tuples and dicts).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection

from groups.assignment.read_ahead import ReadAhead, read_ahead_possible
from groups.assignment.reads import (
    _candidates,
    _collector_paused,
    _first_frames,
    _float_array,
    _id_set,
    _int_array,
    first_frames_of_ids,
)
from groups.models import SequenceGroup
from sequences.payloads import Label

# Rows fetched per round trip by the chunked read of the candidates' snapshot.
SNAPSHOT_CHUNK_ROWS = 20000
# Candidates per wave of a run read ahead (whole buckets): the first wave is read before any
# write, the others while the previous one is written.
WAVE_SEQUENCES = 10000
# Slack around a bucket's candidates when its groups are picked by position: a group outside
# the slack cannot overlap any of them, so no candidate can join it (SPEC §4.5: the IoU must
# exceed a threshold >= 0).
REGION_SLACK = 1e-9


@dataclass
class _GroupRow:
    """What a run knows of an existing group before its batch locks it."""

    id: int
    box: list[float]
    label: Label | None
    is_unsure: bool


class _Columns:
    """The planned candidates (those with a box and an azimuth), as arrays in walk order.

    ``boxes`` (n x 4) and ``confidences`` make each representative box; ``motions`` is NaN
    where the plan measured none (the stored motion was set, or too few framed boxes).
    """

    def __init__(self, ids: np.ndarray, boxes: np.ndarray, confidences, motions):
        self.ids = ids
        self.boxes = boxes
        self.confidences = confidences
        self.motions = motions

    def box(self, row: int) -> dict[str, Any]:
        """The representative box of the candidate at ``row``, as the run stores it."""
        return {"xyxyn": self.boxes[row].tolist(), "confidence": float(self.confidences[row])}


@dataclass(eq=False)
class _Bucket:
    """One (camera, azimuth) bucket: its candidates in walk order and its existing groups.

    ``rows`` are the candidates' positions in the plan's columns; the ids and motions are made
    from them when asked for, one bucket at a time.
    """

    camera_id: int
    azimuth: int
    rows: np.ndarray
    columns: _Columns
    groups: list[_GroupRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def sequence_ids(self) -> list[int]:
        return self.columns.ids[self.rows].tolist()

    @property
    def motions(self) -> dict[int, float]:
        """The motion of the candidates measured by the plan (their stored motion was NULL)."""
        motions = self.columns.motions[self.rows]
        measured = ~np.isnan(motions)
        ids = self.columns.ids[self.rows][measured]
        return dict(zip(ids.tolist(), motions[measured].tolist(), strict=True))


@dataclass
class _Wave:
    """Whole buckets of the plan, ready to walk, and the candidates of the wave skipped for
    want of a representative box (or of an azimuth)."""

    buckets: list[_Bucket]
    skipped_no_bbox: int


@dataclass
class _Plan:
    """The snapshot's size and its waves, read as they are asked for: close ``waves``
    (``contextlib.closing``) where they may be left unfinished."""

    total: int
    waves: Iterator[_Wave]


class _Flags:
    """A set of sequence ids as a bitmap over their range: ``id in flags`` without a Python
    int and set slot per id (a million unmeasured candidates take 1 MB, not 60)."""

    def __init__(self, ids: np.ndarray):
        self.base = int(ids.min()) if len(ids) else 0
        flags = np.zeros(int(ids.max()) - self.base + 1 if len(ids) else 0, dtype=np.bool_)
        flags[ids - self.base] = True
        self.flags = flags.tobytes()

    def __contains__(self, sequence_id: int) -> bool:
        index = sequence_id - self.base
        return 0 <= index < len(self.flags) and self.flags[index] == 1


def _snapshot() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, camera_ids, azimuths, unmeasured)`` of the candidates in ``(recorded_at, id)``
    order, read in chunks; a NULL azimuth reads -1, ``unmeasured`` marks a NULL motion."""
    query = (
        _candidates()
        .order_by("recorded_at", "id")
        .values_list("id", "camera_id", "azimuth", "motion")
    )
    sql, params = query.query.sql_with_params()
    ids, cameras, azimuths, unmeasured = array("q"), array("q"), array("h"), array("b")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(SNAPSHOT_CHUNK_ROWS):
            for sequence_id, camera_id, azimuth, motion in rows:
                ids.append(sequence_id)
                cameras.append(camera_id)
                azimuths.append(-1 if azimuth is None else azimuth)
                unmeasured.append(motion is None)
    return (
        np.frombuffer(ids, dtype=np.int64),
        np.frombuffer(cameras, dtype=np.int64),
        np.frombuffer(azimuths, dtype=np.int16),
        np.frombuffer(unmeasured, dtype=np.int8).astype(bool),
    )


Frames = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _frame_arrays(frames: Iterator[tuple[int, dict[str, Any] | None, float | None]]) -> Frames:
    """``(ids, boxes, confidences, motions)`` of the sequences that have a representative box,
    in the order of ``frames``, straight from the streamed read into flat arrays."""
    ids, coordinates, confidences, motions = array("q"), array("d"), array("d"), array("d")
    nan = float("nan")
    with _collector_paused(), closing(frames):
        for sequence_id, box, motion in frames:
            if box is None:
                continue
            ids.append(sequence_id)
            coordinates.extend(box["xyxyn"])
            confidences.append(box["confidence"])
            motions.append(nan if motion is None else motion)
    return (
        np.frombuffer(ids, dtype=np.int64),
        np.frombuffer(coordinates, dtype=np.float64).reshape(-1, 4),
        np.frombuffer(confidences, dtype=np.float64),
        np.frombuffer(motions, dtype=np.float64),
    )


def _plan(beat: Callable[[], None] | None = None) -> _Plan:
    """Snapshot the candidates; their waves read their representative boxes and groups.

    ``beat`` (the run's heartbeat) is called between the steps and between the chunks of the
    detections' read, so a long plan keeps its lock alive.

    In-process, one wave and three queries whatever the backlog: the ordered candidates (read
    in chunks), the streamed detections (which also give the motion of the candidates not
    measured yet, stored with their membership), and the groups of the buckets that one of
    their candidates could join. A large backlog is read ahead instead (see
    :mod:`groups.assignment.read_ahead`): waves of about WAVE_SEQUENCES candidates, each read
    by id while the previous one is written, and a groups query per wave. Candidates arriving
    after the snapshot are ignored until the next run.
    """
    ids, cameras, azimuths, unmeasured = _snapshot()
    if beat is not None:
        beat()
    measure_motion = _Flags(ids[unmeasured & (azimuths >= 0)])
    if read_ahead_possible(len(ids)):
        return _Plan(len(ids), _waves_read_ahead(ids, cameras, azimuths, measure_motion))
    frames = _frame_arrays(
        _first_frames(
            _candidates().filter(azimuth__isnull=False),
            measure_motion=measure_motion,
            between_chunks=beat,
        )
    )
    if beat is not None:
        beat()
    return _Plan(len(ids), _waves_of(_wave(ids, cameras, azimuths, frames)))


def _wave(ids: np.ndarray, cameras: np.ndarray, azimuths: np.ndarray, frames: Frames) -> _Wave:
    """The buckets of the snapshot rows ``ids`` (with their cameras and azimuths) whose
    representative box is in ``frames``, with their groups; the others count as skipped."""
    frame_ids, boxes, confidences, motions = frames
    # Each row's place in the frames (by ascending id); kept if it has a box there.
    by_id = np.argsort(frame_ids, kind="stable")
    sorted_ids = frame_ids[by_id]
    found = np.minimum(np.searchsorted(sorted_ids, ids), max(len(frame_ids) - 1, 0))
    kept = (azimuths >= 0) & (sorted_ids[found] == ids if len(frame_ids) else False)
    found = by_id[found[kept]]
    columns = _Columns(ids[kept], boxes[found], confidences[found], motions[found])
    buckets = _buckets(columns, cameras[kept], azimuths[kept])
    _groups_attach(buckets)
    return _Wave(buckets, int(len(ids) - kept.sum()))


def _waves_of(*waves: _Wave) -> Iterator[_Wave]:
    """Waves already read, as the closeable iterator a plan holds."""
    yield from waves


def _waves_read_ahead(
    ids: np.ndarray, cameras: np.ndarray, azimuths: np.ndarray, measure_motion: _Flags
) -> Iterator[_Wave]:
    """The plan's waves, each one's frames read by the read-ahead process (by id, on its own
    connection) while the run writes the wave before."""
    waves = _wave_rows(cameras, azimuths)

    def read(rows: np.ndarray, using) -> Frames:
        wanted = np.sort(ids[rows][azimuths[rows] >= 0])
        return _frame_arrays(
            first_frames_of_ids(wanted.tolist(), measure_motion=measure_motion, using=using)
        )

    with ReadAhead(waves, read) as reader:
        for rows, frames in zip(waves, reader, strict=True):
            yield _wave(ids[rows], cameras[rows], azimuths[rows], frames)


def _wave_rows(cameras: np.ndarray, azimuths: np.ndarray) -> list[np.ndarray]:
    """The snapshot rows of each wave, ascending: whole buckets, in the walk's order of
    buckets, cut where the candidates walked so far pass a multiple of WAVE_SEQUENCES. The
    candidates without an azimuth go with the first wave, which counts them as skipped."""
    placed = np.flatnonzero(azimuths >= 0)
    wave_of_row = np.zeros(len(azimuths), dtype=np.int64)
    if len(placed):
        keys = cameras[placed] * 360 + azimuths[placed]
        _, first, bucket_of, sizes = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        walk = np.argsort(first)  # buckets in the order of their first candidate
        starts = np.cumsum(sizes[walk]) - sizes[walk]
        wave_of_bucket = np.empty(len(walk), dtype=np.int64)
        wave_of_bucket[walk] = starts // WAVE_SEQUENCES
        wave_of_row[placed] = wave_of_bucket[bucket_of.reshape(-1)]
    order = np.argsort(wave_of_row, kind="stable")
    cuts = np.flatnonzero(np.diff(wave_of_row[order])) + 1
    return np.split(order, cuts)


def _buckets(columns: _Columns, cameras: np.ndarray, azimuths: np.ndarray) -> list[_Bucket]:
    """The buckets in the order of their first candidate, each with its candidates in walk
    order (a stable sort by bucket keeps the snapshot's order inside each)."""
    if not len(cameras):
        return []
    keys = cameras * 360 + azimuths
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(keys[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    buckets = [
        _Bucket(int(cameras[order[start]]), int(azimuths[order[start]]), order[start:end], columns)
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
    buckets.sort(key=lambda bucket: int(bucket.rows[0]))
    return buckets


def _groups_attach(buckets: list[_Bucket]) -> None:
    """Give each bucket, in ascending id order, its existing groups (never one merged into
    another) that overlap the region its candidates cover: one query.

    A group outside that region overlaps none of them, so none can join it and leaving it
    out changes no placement (the walk compares each candidate with the groups it overlaps,
    in id order). After a first run, a bucket holds hundreds of groups and a small run a few
    candidates: the groups read follow the candidates, not the history. PostgreSQL picks them
    with the regions as array parameters; SQLite reads the buckets' groups (the regions as
    one ``OR`` per bucket would outgrow its statement limits) and picks them here.
    """
    if not buckets:
        return
    by_key = {(bucket.camera_id, bucket.azimuth): bucket for bucket in buckets}
    regions = {key: _region(bucket) for key, bucket in by_key.items()}
    if connection.vendor == "postgresql":
        rows = _overlapping_groups(regions)
    else:
        rows = (
            SequenceGroup.objects.filter(
                camera_id__in=_id_set(sorted({c for c, _ in by_key})),
                azimuth__in=sorted({a for _, a in by_key}),
                merged_into__isnull=True,
            )
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
        region = regions.get((camera_id, azimuth))
        if region is None or not _overlaps(bbox["xyxyn"], region):
            continue
        label = Label.from_columns(smoke, fp)
        by_key[camera_id, azimuth].groups.append(
            _GroupRow(group_id, bbox["xyxyn"], label, is_unsure)
        )


def _region(bucket: _Bucket) -> tuple[float, float, float, float]:
    """The smallest box holding all of a bucket's candidates, widened by REGION_SLACK."""
    boxes = bucket.columns.boxes[bucket.rows]
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = boxes[:, 2].max(), boxes[:, 3].max()
    slack = REGION_SLACK
    return float(x1) - slack, float(y1) - slack, float(x2) + slack, float(y2) + slack


def _overlaps(box: list[float], region: tuple[float, float, float, float]) -> bool:
    x1, y1, x2, y2 = box
    left, top, right, bottom = region
    return x1 <= right and left <= x2 and y1 <= bottom and top <= y2


def _overlapping_groups(regions: dict[tuple[int, int], tuple[float, ...]]) -> Iterator[tuple]:
    """The groups of the regions' buckets whose box meets their region, by id (PostgreSQL).

    One statement: the regions travel as six arrays; each bucket's groups come from the
    ``(camera_id, azimuth, id)`` index, and their boxes are compared in the database, so a
    group nobody can join is neither sent nor decoded; the others' boxes come as four floats.
    """
    quote = connection.ops.quote_name
    keys = list(regions)
    columns = list(zip(*regions.values(), strict=True))
    coordinate = "(g.representative_bbox -> 'xyxyn' ->> {}) :: float8"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.id, g.camera_id, g.azimuth, g.smoke_type, g.false_positive_type, "
            f"g.is_unsure, {', '.join(coordinate.format(index) for index in range(4))} "
            f"FROM {quote(SequenceGroup._meta.db_table)} g "
            "JOIN unnest(%s::bigint[], %s::smallint[], %s::float8[], %s::float8[], "
            "%s::float8[], %s::float8[]) AS r(camera_id, azimuth, x1, y1, x2, y2) "
            "ON g.camera_id = r.camera_id AND g.azimuth = r.azimuth "
            "AND g.merged_into_id IS NULL "
            f"WHERE {coordinate.format(0)} <= r.x2 AND r.x1 <= {coordinate.format(2)} "
            f"AND {coordinate.format(1)} <= r.y2 AND r.y1 <= {coordinate.format(3)} "
            "ORDER BY g.id",
            [
                _int_array(camera for camera, _ in keys),
                _int_array(azimuth for _, azimuth in keys),
                *(_float_array(values) for values in columns),
            ],
        )
        rows = cursor.fetchall()
    for group_id, camera_id, azimuth, smoke, fp, is_unsure, *box in rows:
        yield group_id, camera_id, azimuth, {"xyxyn": box}, smoke, fp, is_unsure
