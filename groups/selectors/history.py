"""Reads of the audit log of a group (SPEC §5.8): its newest operations for the group page's
history panel, read newest first up to a limit, and the whole log as a QuerySet paged in the
database (the API).
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import (
    Case,
    Count,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.db.models.functions import Coalesce

from groups.models import GroupOperation, GroupOperationMember, GroupWriter, OperationKind

# How many operations the history panel of a group page shows, newest first.
HISTORY_LIMIT = 25


def operation_member_count() -> Coalesce:
    """The member rows of the outer operation, counted per operation shown (an index range of
    the unique (operation, sequence) index each), not by grouping the whole log."""
    rows = (
        GroupOperationMember.objects.filter(operation=OuterRef("pk"))
        .order_by()
        .values("operation")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(rows), 0)


def rejected_before() -> Case:
    """For a reject ("Not this") among the outer operations, the annotation it took off its
    sequence (its one member row's `before`, over the unique (operation, sequence) index): what
    the history line and the list of rejected labels name; NULL for the other kinds."""
    before = GroupOperationMember.objects.filter(operation=OuterRef("pk")).order_by()
    return Case(
        When(kind=OperationKind.REJECT, then=Subquery(before.values("before")[:1])),
        default=None,
        output_field=JSONField(),
    )


def _writing_members(group_id: int) -> QuerySet:
    """The operations that wrote one of the group's current members, as a subquery: the
    writers the database keeps per group (`GroupWriter`), a few rows whatever its size."""
    return GroupWriter.objects.filter(group_id=group_id, members__gt=0).values("operation_id")


def _concerning(group_id: int, touching) -> list[Q]:
    """The four kinds of operations a group's history lists: naming the group, writing one of
    its members (`touching`: ids or a subquery), and the undos of either."""
    # `undo_of__isnull=False` is implied, but said, it lets PostgreSQL start from the few undos
    # (the undo_of index) instead of walking the whole log newest first.
    undos = Q(undo_of__isnull=False)
    return [
        Q(group_id=group_id),
        Q(pk__in=touching),
        undos & Q(undo_of__group_id=group_id),
        undos & Q(undo_of__in=touching),
    ]


def _operations_writing_members(group_id: int) -> list[int]:
    """Ids of the operations that wrote one of the group's current members."""
    return list(_writing_members(group_id).values_list("operation_id", flat=True))


def group_history(*, group_id: int, limit: int | None = HISTORY_LIMIT) -> list[GroupOperation]:
    """The audit log of a group, newest first: operations naming the group, operations that
    wrote one of its current members (e.g. a check spanning several groups), and undos of
    either. Each carries `member_count` (member rows) and `undone_by` (or None), and the columns
    a history line reads (`_HISTORY_COLUMNS`). `limit=None` returns all of them.

    With a limit, on PostgreSQL, each of the four kinds is read newest first up to the limit,
    in one query, then the newest of them in a second one: a group with years of history
    reads about four times the limit, not its whole log. The operations that wrote its members
    are read first from the writers the database keeps, in a query of their own (as a
    subquery, the planner may probe the whole log newest first for them).
    """
    if limit is None:
        touching = _writing_members(group_id)
    else:
        touching = _operations_writing_members(group_id)
    kinds = _concerning(group_id, touching)
    order = ("-created_at", "-id")
    operations = GroupOperation.objects.all()
    if limit is not None and connection.features.supports_slicing_ordering_in_compound:
        newest = [
            GroupOperation.objects.filter(kind)
            .order_by(*order)
            .values_list("id", flat=True)[:limit]
            for kind in kinds
        ]
        ids = set(newest[0].union(*newest[1:], all=True))
        operations = operations.filter(pk__in=ids)
    else:
        operations = operations.filter(reduce(or_, kinds))
    return list(
        operations.select_related("actor", "undo_of", "undone_by")
        .only(*_HISTORY_COLUMNS)
        .annotate(member_count=operation_member_count(), rejected_before=rejected_before())
        .order_by(*order)[:limit]
    )


# What a history line reads of an operation and of the rows joined to it: the snapshot before
# and the details of the undone and undoing operations (a merge's lists every member it moved)
# would be decoded for nothing.
_HISTORY_COLUMNS = (
    "kind",
    "group_id",
    "sequence_id",
    "run_id",
    "created_at",
    "group_after",
    "details",
    "actor__username",
    "undo_of__kind",
    "undone_by__undo_of_id",
)


def group_operations(*, group_id: int) -> QuerySet[GroupOperation]:
    """The whole audit log of a group as a QuerySet, newest first, for paging in the database
    (the API): operations naming the group, operations that wrote one of its current members,
    and undos of either, each with `member_count` and `undone_by` (or None)."""
    concerned = reduce(or_, _concerning(group_id, _writing_members(group_id)))
    return (
        GroupOperation.objects.filter(concerned)
        .select_related("actor", "sequence", "undo_of", "undone_by")
        .annotate(member_count=operation_member_count())
        .order_by("-created_at", "-id")
    )
