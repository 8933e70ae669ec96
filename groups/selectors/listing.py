"""Reads of the group list (SPEC §6.2, §7.2): its sort keys and tabs, a page of groups with
their previews and held-back counts, the counts of its tabs and badge, and a group's neighbours
in the list's order.

The list is an index range with a LIMIT whatever the number of groups; its counts come from the
tallies the database keeps (`groups.counters`).
"""

from __future__ import annotations

from collections.abc import Sequence as Rows
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    F,
    Q,
    QuerySet,
    Value,
    Window,
)
from django.db.models.fields.tuple_lookups import TupleGreaterThan, TupleLessThan
from django.db.models.functions import RowNumber

from groups import counters
from groups.models import SequenceGroup
from groups.selectors.members import first_detection_id
from sequences.models import Detection, Sequence
from sequences.selectors import held_back_q


@dataclass(frozen=True)
class SortKey:
    """A column the group list sorts by (SPEC §6.2, §7.4): its header, the direction of a
    first click on it, and what the database sorts on."""

    label: str
    first_direction: str
    expression: Any


# The one list of sort keys: the page's columns, its form, the API filter and the selectors
# derive from it. A first click sorts biggest and newest first, names and angles in reading
# order. Camera names sort lower-cased (SPEC §7.4), through the group's stored copy
# (`camera_sort_name`), so that every key is a column of the group list's indexes; collations
# may differ, the id tie-break keeps paging stable.
SORT_KEYS = {
    "member_count": SortKey("Members", "desc", F("member_count")),
    "created_at": SortKey("Created", "desc", F("created_at")),
    "camera": SortKey("Camera", "asc", F("camera_sort_name")),
    "azimuth": SortKey("Azimuth", "asc", F("azimuth")),
}
ORDER_KEYS = tuple(SORT_KEYS)
DEFAULT_ORDER = "member_count"
TABS = ("unlabeled", "unsure", "labeled", "all")
# Each tab's label state for the tallies: (labeled, unsure); None counts both.
TAB_STATES = {
    "unlabeled": (False, False),
    "unsure": (False, True),
    "labeled": (True, None),
    "all": (None, None),
}
DIRECTIONS = ("asc", "desc")

UNKNOWN_TAB = f"tab must be one of {', '.join(TABS)}"
UNKNOWN_ORDER = f"order_by must be one of {', '.join(ORDER_KEYS)}"
UNKNOWN_DIRECTION = f"direction must be one of {', '.join(DIRECTIONS)}"
# A group is labeled exactly when `labeled_at` is set (CHECK labeled_at_consistency): the form
# the group list's partial indexes are declared with.
_LABELED = Q(labeled_at__isnull=False)
# The tabs that are a label state, as filters: the label wins over unsure (an unsure group with
# a label is labeled). The admin's label-state filter uses them too.
LABEL_STATES = {
    "unlabeled": Q(labeled_at__isnull=True, is_unsure=False),
    "unsure": Q(labeled_at__isnull=True, is_unsure=True),
    "labeled": _LABELED,
}


class CountedRows(Rows):
    """The rows of a list for django's Paginator: the count known beforehand (from the
    counters the database keeps) and each page read in two steps, the ids of the page from the
    list's index (deep pages skip index entries, not joined rows), then those rows joined.

    `queryset` must be totally ordered (it ends with the id).
    """

    def __init__(self, queryset: QuerySet, count: int):
        self.queryset = queryset
        self._count = count
        self.ordered = True

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        ids = list(self.queryset.values_list("pk", flat=True)[index])
        if not ids:
            return []
        by_id = {row.pk: row for row in self.queryset.order_by().filter(pk__in=ids)}
        return [by_id[pk] for pk in ids if pk in by_id]


def _listed_groups(
    *, camera_id: int | None = None, organization_id: int | None = None
) -> QuerySet[SequenceGroup]:
    """Groups with at least GROUPS_MIN_LISTED_MEMBERS members (the stored `member_count`)."""
    queryset = SequenceGroup.objects.filter(member_count__gte=settings.GROUPS_MIN_LISTED_MEMBERS)
    if camera_id is not None:
        queryset = queryset.filter(camera_id=camera_id)
    if organization_id is not None:
        queryset = queryset.filter(camera__organization_id=organization_id)
    return queryset


def group_list(
    *,
    tab: str = "unlabeled",
    camera_id: int | None = None,
    organization_id: int | None = None,
    is_validated: bool | None = None,
    order_by: str = DEFAULT_ORDER,
    direction: str = "desc",
) -> QuerySet[SequenceGroup]:
    """The listed groups of one tab, filtered and sorted (SPEC §6.2, §7.4).

    Only groups with at least GROUPS_MIN_LISTED_MEMBERS members; each row carries
    `member_count`, its camera and the camera's organisation. The order ends with `id` in the
    same direction, so it is total and offset paging never repeats or skips a group; each tab
    and sort key is one of the group list's partial indexes, read backwards or forwards.
    Raises ValueError (naming the argument) for an unknown tab, order key or direction.
    """
    if tab not in TABS:
        raise ValueError(UNKNOWN_TAB)
    if direction not in DIRECTIONS:
        raise ValueError(UNKNOWN_DIRECTION)
    if order_by not in SORT_KEYS:
        raise ValueError(UNKNOWN_ORDER)
    queryset = _listed_groups(camera_id=camera_id, organization_id=organization_id)
    if tab in LABEL_STATES:
        queryset = queryset.filter(LABEL_STATES[tab])
    if is_validated is not None:
        queryset = queryset.filter(is_validated=is_validated)
    queryset = queryset.alias(sort_key=SORT_KEYS[order_by].expression)
    descending = direction == "desc"
    ordering = [F("sort_key").desc() if descending else F("sort_key").asc()]
    ordering.append(F("id").desc() if descending else F("id").asc())
    return queryset.select_related("camera", "camera__organization", "validated_by").order_by(
        *ordering
    )


def group_list_rows(*, counts: counters.GroupCounts | None = None, **arguments) -> CountedRows:
    """`group_list(**arguments)` for a Paginator: its count from the tallies (`counts`, when
    the caller has read them for the same camera or organisation already), its pages two index
    reads."""
    rows = group_list(**arguments)
    labeled, unsure = TAB_STATES[arguments.get("tab", "unlabeled")]
    if counts is None:
        counts = counters.group_counts(
            camera_id=arguments.get("camera_id"),
            organization_id=arguments.get("organization_id"),
        )
    validated = arguments.get("is_validated")
    return CountedRows(rows, counts.count(labeled=labeled, unsure=unsure, validated=validated))


def group_stats(*, camera_id: int | None = None, organization_id: int | None = None) -> dict:
    """Counts over the listed population, in one query over the tallies whatever the number of
    groups (SPEC §7.2 `/sequence_groups/stats`).

    Returns {"total", "labeled", "unsure", "unlabeled", "validated", "unvalidated"}: `unsure`
    counts the unsure groups without a label (a label wins over unsure), `unlabeled` the others
    without one. Unfiltered, `unlabeled` is the navigation badge and the To-label tab count
    (SPEC §9.4 #15).
    """
    return stats_of(counters.group_counts(camera_id=camera_id, organization_id=organization_id))


def stats_of(counts: counters.GroupCounts) -> dict:
    """`group_stats`' figures from tallies already read."""
    total = counts.count()
    labeled = counts.count(labeled=True)
    unsure = counts.count(labeled=False, unsure=True)
    validated = counts.count(validated=True)
    return {
        "total": total,
        "labeled": labeled,
        "unsure": unsure,
        "unlabeled": total - labeled - unsure,
        "validated": validated,
        "unvalidated": total - validated,
    }


def group_neighbors(
    *,
    group: SequenceGroup,
    member_count: int | None = None,
    tab: str = "unlabeled",
    camera_id: int | None = None,
    organization_id: int | None = None,
    order_by: str = DEFAULT_ORDER,
    direction: str = "desc",
) -> tuple[int | None, int | None]:
    """Ids of the groups just before and just after `group` in a list's order (two queries).

    Keyset comparisons on (sort key, id), so the answer is right even when `group` itself has
    left the list (e.g. it was just labeled and the list is the To-label tab); each is one step
    along the list's index. `member_count` defaults to the group's stored count.
    """
    listed = group_list(
        tab=tab,
        camera_id=camera_id,
        organization_id=organization_id,
        order_by=order_by,
        direction=direction,
    )
    if order_by == "member_count":
        key = Value(group.member_count if member_count is None else member_count)
    elif order_by == "camera":
        key = Value(group.camera_sort_name)
    else:
        key = Value(getattr(group, order_by))
    listed = listed.exclude(pk=group.pk)
    # Row comparisons, (sort key, id) > (value, id): PostgreSQL starts the index scan there,
    # where the equivalent OR of two comparisons filtered every row before it (40 ms at a
    # million sequences); SQLite gets the OR.
    position = (F("sort_key"), F("id"))
    greater = TupleGreaterThan(position, (key, Value(group.pk)))
    smaller = TupleLessThan(position, (key, Value(group.pk)))
    after, before = (smaller, greater) if direction == "desc" else (greater, smaller)
    next_id = listed.filter(after).values_list("id", flat=True).first()
    previous_id = listed.filter(before).reverse().values_list("id", flat=True).first()
    return previous_id, next_id


# PostgreSQL: each group's first and last member along the members index (group, recorded_at,
# id), and its middle one: the first member recorded at or after the midpoint of the two (the
# middle member when they come evenly), each one index step, whatever the group's size.
_PREVIEWS_SQL = """
SELECT g.id, p.position, (
    SELECT d.id FROM {detection} AS d WHERE d.sequence_id = p.member_id
    ORDER BY d.recorded_at, d.id LIMIT 1
)
FROM {group} AS g
CROSS JOIN LATERAL (
    SELECT s.id, s.recorded_at FROM {sequence} AS s WHERE s.group_id = g.id
    ORDER BY s.recorded_at, s.id LIMIT 1
) AS first
CROSS JOIN LATERAL (
    SELECT s.id, s.recorded_at FROM {sequence} AS s WHERE s.group_id = g.id
    ORDER BY s.recorded_at DESC, s.id DESC LIMIT 1
) AS last
CROSS JOIN LATERAL (
    SELECT s.id FROM {sequence} AS s
    WHERE s.group_id = g.id
      AND s.recorded_at >= first.recorded_at + (last.recorded_at - first.recorded_at) / 2
    ORDER BY s.recorded_at, s.id LIMIT 1
) AS middle
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (member_id) position, member_id
    FROM (VALUES (1, first.id), (2, middle.id), (3, last.id)) AS v(position, member_id)
    ORDER BY member_id, position
) AS p
WHERE g.id = ANY(%s)
"""


def group_previews(*, group_ids: list[int]) -> dict[int, list[int]]:
    """`{group_id: [detection ids]}`: the first detection of each group's first, middle and last
    member by (recorded_at, id), in that order (duplicates dropped), in one query.

    Members without detections are skipped. A group with thousands of members costs no more
    than one with three: on PostgreSQL the middle member is the first recorded at or after the
    midpoint of the first and last members' times (the middle one when members come evenly),
    each found by one step along the members index; elsewhere (small sites) window functions
    number the members and take the middle one by position.
    """
    if not group_ids:
        return {}
    if connection.vendor == "postgresql":
        sql = _PREVIEWS_SQL.format(
            detection=Detection._meta.db_table,
            group=SequenceGroup._meta.db_table,
            sequence=Sequence._meta.db_table,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(group_ids)])
            return _previews_by_group(group_ids, cursor.fetchall())
    window = {"partition_by": [F("group_id")], "order_by": [F("recorded_at"), F("id")]}
    rows = (
        Sequence.objects.filter(group_id__in=group_ids)
        .annotate(
            position=Window(RowNumber(), **window),
            size=Window(Count("id"), partition_by=[F("group_id")]),
        )
        .annotate(middle=(F("size") + 1) / 2)
        .filter(Q(position=1) | Q(position=F("size")) | Q(position=F("middle")))
        .annotate(first_detection_id=first_detection_id())
        .values_list("group_id", "position", "first_detection_id")
    )
    return _previews_by_group(group_ids, rows)


def _previews_by_group(group_ids: list[int], rows) -> dict[int, list[int]]:
    previews: dict[int, list[tuple[int, int]]] = {group_id: [] for group_id in group_ids}
    for group_id, position, detection_id in rows:
        if detection_id is not None:
            previews[group_id].append((position, detection_id))
    return {
        group_id: list(dict.fromkeys(detection for _, detection in sorted(items)))
        for group_id, items in previews.items()
    }


def held_back_counts(groups: list[SequenceGroup]) -> dict[int, int]:
    """How many members a safeguard keeps from each group's label
    (`sequences.selectors.held_back_q`), by group id (absent: none), in one query for the
    whole page; only members of labeled groups are read (an unlabeled group holds nobody
    back)."""
    labeled = [group.pk for group in groups if group.labeled_at is not None]
    if not labeled:
        return {}
    return dict(
        Sequence.objects.filter(held_back_q(), group_id__in=labeled)
        .order_by()
        .values("group_id")
        .annotate(count=Count("id"))
        .values_list("group_id", "count")
    )
