"""The writes of the group assignment run (SPEC §5.2, §5.3): set-wise SQL inside a batch.

- the founders' groups, created in one statement;
- the memberships, set in one statement;
- the inheritance: one ``inherit`` operation per (run, group), the inheritors seed-and-stamped
  through :func:`groups.services.group_stamps_write`;
- what a long run asks of PostgreSQL: batches committed without waiting for the disk, and one
  refresh of the groups table's statistics once the run has grown it.

On PostgreSQL the number of statements does not grow with the number of rows.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.utils import timezone

from groups.assignment.reads import _Bucket, _int_array
from groups.models import AssignmentRun, GroupOperation, OperationKind, SequenceGroup
from groups.services import group_stamps_write
from sequences.models import LabelSource, Sequence
from sequences.services import MachineStamp


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
