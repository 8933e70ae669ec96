"""The writes of the group assignment run (SPEC §5.2, §5.3): set-wise SQL inside a batch.

- the founders' groups, created in one statement;
- the memberships, set in one statement, with the motion the plan measured;
- the inheritance: one ``inherit`` operation per (run, group), the inheritors seed-and-stamped
  through :func:`groups.services.group_stamps_write`, the members a safeguard held back listed
  in their operation's details;
- what a long run asks of PostgreSQL: batches committed without waiting for the disk, and one
  refresh of the groups table's statistics once the run has grown it.

On PostgreSQL the number of statements does not grow with the number of rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.db import connection
from django.utils import timezone

from groups.assignment.plan import _Bucket
from groups.assignment.reads import _float_array, _int_array
from groups.models import AssignmentRun, GroupOperation, OperationKind, SequenceGroup
from groups.services import group_stamps_write
from groups.services.audit import held_back_items
from sequences.models import LabelSource, Sequence
from sequences.services import MachineStamp, StampOutcome


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


def _memberships_write(rows: list[tuple[int, int, float | None]]) -> None:
    """Set ``group_id`` of many sequences ``(sequence_id, group_id, motion)`` in one statement.

    ``motion`` is the one the plan measured, or None: it fills a NULL ``motion`` column and never
    replaces a stored one. PostgreSQL: ``UPDATE ... FROM unnest(ids, group_ids, motions)``,
    three array parameters whatever the number of rows. SQLite: ``UPDATE ... FROM
    (VALUES ...)`` (SQLite >= 3.33), split where the backend caps the number of parameters.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table, id_ = quote(Sequence._meta.db_table), quote("id")
    group_id, motion = quote("group_id"), quote("motion")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sequence_ids, group_ids, motions = zip(*rows, strict=True)
            cursor.execute(
                f"UPDATE {table} SET {group_id} = v.group_id, "
                f"{motion} = COALESCE({table}.{motion}, v.motion) "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS v(id, group_id, motion) "
                f"WHERE {table}.{id_} = v.id",
                [_int_array(sequence_ids), _int_array(group_ids), _float_array(motions)],
            )
            return
        size = (connection.features.max_query_params or 3 * len(rows)) // 3
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {group_id} = v.column2, "
                f"{motion} = COALESCE({table}.{motion}, v.column3) "
                f"FROM (VALUES {values}) AS v WHERE {table}.{id_} = v.column1",
                [value for row in chunk for value in row],
            )


def _inherit(
    *,
    run: AssignmentRun,
    actor,
    inheritors: dict[int, list[int]],
    labels: dict,
    regions: dict[int, list[float]],
) -> tuple[int, int]:
    """Seed-and-stamp the inheritors, one ``inherit`` operation per (run, group) (SPEC §5.3).

    Each label's risk weighs the inheritor's overlap with its group's region (``regions``).
    Returns ``(annotations written, inheritors held back)``: a safeguard holds back an inheritor
    its label must not reach; it keeps its membership and stays writable for a person, and its
    operation's details list it (``held_back``, one update for the batch). An operation that
    wrote nothing (every inheritor locked, without predictions or held back) is deleted again:
    empty operations are not kept.
    """
    if not inheritors:
        return 0, 0
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
        region = regions[operation.group_id]
        stamp = MachineStamp(label, is_unsure, operation.group_id, operation.pk, region)
        stamps.update(dict.fromkeys(inheritors[operation.group_id], stamp))
    outcomes = group_stamps_write(stamps=stamps, source=LabelSource.INHERITED, actor=actor)
    by_operation: dict[int, list[StampOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_operation[stamps[outcome.sequence_id].operation_id].append(outcome)
    empty, holding = [], []
    for operation in operations:
        own = by_operation[operation.pk]
        if not any(outcome.applied for outcome in own):
            empty.append(operation.pk)
        elif held := held_back_items(own):
            operation.details = {**operation.details, "held_back": held}
            holding.append(operation)
    if empty:
        GroupOperation.objects.filter(pk__in=empty).delete()
    if holding:
        GroupOperation.objects.bulk_update(holding, ["details"])
    written = sum(outcome.applied for outcome in outcomes)
    return written, sum(outcome.held_back for outcome in outcomes)


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
